"""A run folder's guard rails: which files a run writes, reading its checkpoint safely, and
refusing to overwrite a previous run.

Lecture: none (training machinery for tinygrad_med/train.py).

A checkpoint is only ever read here (tm.load opens it read-only), so a corrupt file or one
written for another model is reported and left exactly as it was.
"""

import os

from .errors import CheckpointError, fmt
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
    saved = checkpoint["config"]
    if (model is not None and saved["model"] != model) or (data is not None and saved["data"] != data):
        wanted = f"a {model or saved['model']!r} model" + (f" on {data!r}" if data is not None else "")
        problem = f"{path} holds a {saved['model']!r} model trained on {saved['data']!r}, not {wanted}"
        hint = "the file was left as it is; pass the matching model and --data, or another --out"
        raise CheckpointError(fmt("tgm", problem, hint=hint))
    return checkpoint


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
