"""Exercises a student can start and have checked: ``tgm exercise list | start NAME | check NAME``.

``start`` writes NAME.py into a workspace folder (default ./tgm-exercises/): the package's reference
forward and backward of one op with their bodies removed, their signatures and docstrings (formulas,
shapes) kept; it is generated from the package's source (exercises/source.py), so it cannot drift.
``check`` runs the student's file through the public op against the package's code on random shapes
(three seeds, float64) and through a gradient check, and says what is wrong (exercises/check.py).

Lecture: every exercise names its slide (catalog.py); the list is ``tgm exercise list``.
"""

from pathlib import Path

from .catalog import EXERCISES, get
from .check import check_file
from .source import render

__all__ = ["EXERCISES", "get", "names", "start", "check", "render", "DEFAULT_DIR"]

DEFAULT_DIR = "tgm-exercises"


def names():
    """The exercises' names, in the course's order."""
    return [exercise.name for exercise in EXERCISES]


def start(name, directory=DEFAULT_DIR, force=False):
    """Write the starter file of exercise ``name`` into ``directory``; returns its path.

    Raises:
        ValueError for an unknown name; FileExistsError when the file exists and ``force`` is False
        (a student's work is never overwritten without asking).
    """
    exercise = get(name)
    path = Path(directory) / f"{name}.py"
    if path.exists() and not force:
        raise FileExistsError(
            f"tgm exercise start: {path} exists (your work?); check it with `tgm exercise check {name}`, "
            "or pass --force to overwrite it with a fresh start"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(exercise))
    return path


def check(name, directory=DEFAULT_DIR):
    """Problems (one line each; empty when it passes) of the file ``directory/name.py``.

    Raises:
        ValueError for an unknown name; FileNotFoundError when the file is missing.
    """
    exercise = get(name)
    path = Path(directory) / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"tgm exercise check: no file {path}; write it first with `tgm exercise start {name}`"
            + (f" --dir {directory}" if str(directory) != DEFAULT_DIR else "")
        )
    return check_file(exercise, path)
