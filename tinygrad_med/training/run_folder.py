"""A run folder's guard rails: which files a run writes, reading its checkpoint safely,
refusing to overwrite a previous run, one run at a time, and recovery after a killed run.

Lecture: none (training machinery for tinygrad_med/training/loop.py).

A checkpoint is only ever read here (tm.load opens it read-only), so a corrupt file or one
written for another model is reported and left exactly as it was.

Nothing is lost when a run dies at any point (Ctrl-C, SIGKILL, a full disk):
- ``claim(out)`` locks the folder (``.lock``: an fcntl lock on a file naming the holder's pid and
  host), so a second ``tgm train`` into the same folder is refused; the kernel drops the lock of a
  dead process, and the next run takes it over with a note.
- ``set_aside(out)`` moves a run that ``--overwrite`` replaces into ``.replaced-run/``; it is
  deleted once the new run's first checkpoint has landed, and put back if the new run ends (or
  died) without one (``settle``).
- Temporary files of a save that was killed midway (``.checkpoint.npz.*.tmp.npz``) are removed.
- The checkpoint is the truth: log.jsonl is rewritten from the checkpoint's history when the two
  disagree (``repair_log``), e.g. after a crash between the checkpoint save and the log append.
"""

import contextlib
import json
import os
import shutil
import socket

from ..atomic_file import is_temporary_of, write_text
from ..errors import CheckpointError, fmt
from ..random import parse_rng_state
from ..serialization import load

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked there
    fcntl = None

__all__ = ["RUN_FILES", "CHECKPOINT_FORMAT", "load_checkpoint", "prepare_out", "claim", "set_aside", "repair_log"]

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
    from .run_config import value_problems  # the check make_config runs, on the stored config

    problems = [f"its 'config' holds an {problem}" if problem.startswith("unknown") else f"in its 'config', {problem}"
                for problem in value_problems(checkpoint["config"])]  # fmt: skip
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

    Nothing is deleted here: ``set_aside`` moves the previous run out of the way once the new run
    has been built (its data, model and device checked).

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
    os.makedirs(out, exist_ok=True)


LOCK_FILE, ASIDE_FOLDER = ".lock", ".replaced-run"


@contextlib.contextmanager
def claim(out):
    """Create ``out`` if needed and hold its lock while the block runs; clean up after a killed run first.

    Yields:
        a list of notes (str) on what was recovered: a stale lock taken over, temporary files
        removed, a run set aside by an interrupted --overwrite deleted or put back.
    Raises:
        FileExistsError naming the pid and host of a live run that holds the folder; OSError if the
        folder cannot be created (it lies under a file, or on a read-only disk).
    """
    created = not os.path.isdir(out)
    try:
        os.makedirs(out, exist_ok=True)
        handle, notes = _lock(out)
    except FileExistsError as error:
        if os.path.isdir(out):
            raise  # busy: another run holds the lock
        raise FileExistsError(error.errno, fmt("tgm train", f"--out {out} is a file, not a folder")) from error
    except OSError as error:  # under a file, read-only, no space
        raise OSError(error.errno, fmt("tgm train", f"cannot use {out} as the run folder: {error.strerror}")) from error
    try:
        notes += _remove_temporary_files(out)
        notes += settle(out)
        yield notes
    finally:
        with contextlib.suppress(FileNotFoundError):  # the folder may have been deleted under the run
            os.remove(os.path.join(out, LOCK_FILE))  # before the unlock, so that the next run makes a fresh file
            if created and not os.listdir(out):
                os.rmdir(out)  # a run refused before writing anything leaves no empty folder behind
        handle.close()


def _lock(out):
    """Take the lock on ``out/.lock`` (without waiting) and write this process's pid and host into it."""
    path = os.path.join(out, LOCK_FILE)
    if fcntl is None:  # Windows: the file only names the run
        handle, previous = open(path, "a+", encoding="utf-8"), ""
    else:
        handle = _flock(out, path)
        previous = _holder(handle)  # what a run that was killed holding the lock wrote
    notes = [f"took over the lock of {previous}, which is no longer running"] if previous else []
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    handle.flush()
    return handle, notes


def _flock(out, path):
    """The open lock file, exclusively fcntl-locked by this process; FileExistsError if a live run holds it."""
    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle) or "another process"
            handle.close()
            problem = f"{out} is in use by {holder} (another tgm train writes into it)"
            raise FileExistsError(fmt("tgm train", problem, hint="wait for it to end, or pass another --out")) from None
        if os.path.exists(path) and os.path.samestat(os.stat(path), os.fstat(handle.fileno())):
            return handle
        handle.close()  # the holder ended and removed this file between our open and our lock: try again


def _holder(handle):
    """'pid 123 on host h' from a lock file's contents ('' when empty or unreadable)."""
    handle.seek(0)
    try:
        holder = json.loads(handle.read())
        return f"pid {holder['pid']} on host {holder['host']}"
    except (ValueError, KeyError, TypeError):
        return ""


def _remove_temporary_files(out):
    """Delete the temporary files of saves that were killed before their rename (``.NAME.*.tmp.npz``)."""
    notes = []
    for name in sorted(os.listdir(out)):
        if any(is_temporary_of(name, run) for run in RUN_FILES):
            os.remove(os.path.join(out, name))
            notes.append(f"removed {name}, left by a save that was interrupted")
    return notes


def set_aside(out):
    """Move the previous run's files into ``out/.replaced-run/`` (``settle`` deletes or restores them)."""
    aside = os.path.join(out, ASIDE_FOLDER)
    os.makedirs(aside, exist_ok=True)
    for name in RUN_FILES:
        if os.path.exists(os.path.join(out, name)):
            os.replace(os.path.join(out, name), os.path.join(aside, name))


def settle(out):
    """Finish an --overwrite: delete the set-aside run if a new checkpoint has landed, else put it back.

    Returns:
        a list with one note when a set-aside run was put back, else an empty list.
    """
    aside = os.path.join(out, ASIDE_FOLDER)
    if not os.path.isdir(aside):
        return []
    if os.path.exists(os.path.join(out, "checkpoint.npz")):
        shutil.rmtree(aside)
        return []
    for name in os.listdir(aside):
        os.replace(os.path.join(aside, name), os.path.join(out, name))
    os.rmdir(aside)
    return [f"the previous run in {out} was kept (the run that was to replace it wrote no checkpoint)"]


def repair_log(out, history):
    """Rewrite ``out/log.jsonl`` from a checkpoint's history if the two disagree; returns a note or None.

    The log is appended after the checkpoint is saved, so a crash in between leaves the log one
    epoch short, and a log from before this rule may hold an epoch the checkpoint does not.
    """
    path = os.path.join(out, "log.jsonl")
    lines = [json.dumps(entry) for entry in history]  # as end_epoch writes them (a NaN metric compares equal here)
    try:
        with open(path, encoding="utf-8") as handle:
            logged = handle.read().splitlines()
    except FileNotFoundError:
        logged = []
    if logged == lines:
        return None
    write_text(path, "".join(line + "\n" for line in lines))
    epochs = [_epoch_of(line) for line in logged]
    return f"log.jsonl rewritten from the checkpoint (it held epochs {epochs}, the checkpoint {len(history)})"


def _epoch_of(line):
    """The epoch number of a log line, or '?' for a line cut short."""
    try:
        return json.loads(line)["epoch"]
    except (ValueError, KeyError, TypeError):
        return "?"
