"""A run folder's guard rails: which files a run writes, reading its checkpoint safely, and
refusing to overwrite a previous run.

Lecture: none (training machinery for tinygrad_med/train.py).

A checkpoint is only ever read here (tm.load opens it read-only), so a corrupt file or one
written for another model is reported and left exactly as it was.
"""

import os

from .errors import CheckpointError, fmt
from .random import parse_rng_state
from .serialization import load

__all__ = ["RUN_FILES", "CHECKPOINT_FORMAT", "load_checkpoint", "prepare_out"]

RUN_FILES = (
    "checkpoint.npz",
    "log.jsonl",
    "summary.json",
    "curves.png",
    "predictions.png",
    "samples.png",
    "interpolation.png",
)
CHECKPOINT_FORMAT = "tgm-train-1"


def load_checkpoint(path, model=None, data=None):
    """Read a ``tgm train`` checkpoint, checking that it is one and (optionally) its model and dataset.

    Raises:
        CheckpointError naming the file for a missing, corrupt or foreign checkpoint, or one written
        for another model or dataset; the file is only read, never changed.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(fmt("tgm", f"no checkpoint at {path}"))
    try:
        checkpoint = load(path)
    except (CheckpointError, OSError, ValueError) as error:
        raise CheckpointError(
            fmt("tgm", f"{path} is not a readable checkpoint: {error}", hint="the file was left as it is")
        ) from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            fmt(
                "tgm",
                f"{path} was not written by tgm train (no '{CHECKPOINT_FORMAT}' format key)",
                hint="the file was left as it is",
            )
        )
    check_checkpoint_keys(checkpoint, path)
    saved = checkpoint["config"]
    if (model is not None and saved["model"] != model) or (data is not None and saved["data"] != data):
        wanted = f"a {model or saved['model']!r} model" + (f" on {data!r}" if data is not None else "")
        problem = f"{path} holds a {saved['model']!r} model trained on {saved['data']!r}, not {wanted}"
        hint = "the file was left as it is; pass the matching model and --data, or another --out"
        raise CheckpointError(fmt("tgm", problem, hint=hint))
    return checkpoint


# key -> the types its value may have in a checkpoint ``Trainer.state`` wrote
CHECKPOINT_KEYS = {"config": dict, "model": dict, "optimizer": dict, "scheduler": dict, "epoch": int,
                   "step": int, "partial": dict, "rng": object, "history": list}  # fmt: skip
HISTORY_KEYS = ("epoch", "train_loss", "seconds", "data_wait_share")
PARTIAL_KEYS = ("loss_sum", "count", "seconds", "wait")  # and every other running sum: numbers
CONFIG_KEYS = {"model": str, "data": str, "optimizer": str, "seed": int, "epochs": int, "batch_size": int,
               "lr": (int, float)}  # fmt: skip


def check_checkpoint_keys(checkpoint, path):
    """Check that a ``tgm train`` checkpoint has every entry the loop reads, with the right types.

    Raises:
        CheckpointError naming the file and each missing or mistyped entry (config, epoch, rng, ...).
    """
    problems = _key_problems(checkpoint, CHECKPOINT_KEYS, "")
    if not problems:
        problems = _key_problems(checkpoint["config"], CONFIG_KEYS, "config.")
    if not problems:
        problems = _value_problems(checkpoint)
    if not problems:
        try:
            parse_rng_state(checkpoint["rng"])
        except ValueError as error:
            problems.append(f"its 'rng' entry is damaged ({error})")
    if problems:
        raise CheckpointError(fmt("tgm", f"{path} is not a complete tgm train checkpoint: " + "; ".join(problems),
                                  hint="the file was left as it is"))  # fmt: skip


def _key_problems(entries, wanted, prefix):
    problems = []
    for key, kind in wanted.items():
        if key not in entries:
            problems.append(f"no {prefix + key!r} entry")
        elif isinstance(entries[key], bool) or not isinstance(entries[key], kind):
            problems.append(f"{prefix + key!r} is a {type(entries[key]).__name__}")
    return problems


def _value_problems(checkpoint):
    """What the loop would trip over later (mid-run): an unknown optimizer, counts below 1, and running
    sums or history rows without the numbers it reads."""
    from .run_config import OPTIMIZERS

    config, problems = checkpoint["config"], []
    if config["optimizer"] not in OPTIMIZERS:
        problems.append(f"'config.optimizer' is {config['optimizer']!r}, not one of {', '.join(OPTIMIZERS)}")
    if config["epochs"] < 1 or config["batch_size"] < 1 or not config["lr"] > 0:
        problems.append("'config' has epochs or batch_size below 1 or lr not above 0")
    if checkpoint["epoch"] < 0 or checkpoint["step"] < 0:
        problems.append("'epoch' or 'step' is negative")
    rows = [("partial", checkpoint["partial"], PARTIAL_KEYS)]
    rows += [(f"history[{i}]", row, HISTORY_KEYS) for i, row in enumerate(checkpoint["history"])]
    for name, row, needed in rows:
        every = needed + (tuple(row) if name == "partial" and isinstance(row, dict) else ())
        if not isinstance(row, dict) or not all(k in row and _is_number(row[k]) for k in every):
            problems.append(f"{name!r} is not a dict of numbers with {', '.join(needed)}")
            break
    return problems


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def prepare_out(out, resume=False, overwrite=False):
    """Make sure --out may be used: refuse to overwrite a previous run without --resume or --overwrite.

    Raises:
        FileExistsError naming the folder and the files of the previous run.
    """
    found = [name for name in RUN_FILES if os.path.exists(os.path.join(out, name))]
    if resume:
        if "checkpoint.npz" not in found:
            raise CheckpointError(fmt("tgm train", f"--resume: no checkpoint.npz in {out}"))
        return
    if found and not overwrite:
        raise FileExistsError(
            fmt(
                "tgm train",
                f"{out} holds a previous run ({', '.join(found)})",
                hint="pass --resume to continue it, --overwrite to replace it, or another --out",
            )
        )
    for name in found:
        os.remove(os.path.join(out, name))
    os.makedirs(out, exist_ok=True)
