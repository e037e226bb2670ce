"""The lecture notebooks (docs/notebooks/*.py, jupytext percent format) run from top to bottom.

Each runs in a Jupyter kernel through jupytext + nbclient (the setup.py extra "notebooks") when they
are installed, as the documentation site renders them; without them each file runs as the plain Python
script it also is.  Each run's time is printed (pytest -s) and kept as a user property of the test (JUnit XML); with
TGM_NOTEBOOK_TIMES=path.json set, the times are also written there (one JSON object, notebook -> s).
The notebooks are sized to take seconds each on two CPU cores.
"""

import importlib.util
import json
import os
import runpy
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.py"))
IN_KERNEL = all(importlib.util.find_spec(name) for name in ("jupytext", "nbclient", "nbformat", "ipykernel"))
HEADER = "#   jupytext:\n#     formats: py:percent"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_percent_format_and_cites_the_lecture(path):
    text = path.read_text()
    assert HEADER in text, f"{path.name}: no jupytext percent-format header"
    assert "# %% [markdown]" in text and "\n# %%\n" in text
    assert "Lecture:" in text, f"{path.name}: cite the lecture's slides"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, request, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.chdir(tmp_path)  # anything a notebook writes lands here
    start = time.perf_counter()
    if IN_KERNEL:
        outputs = _run_in_kernel(path)
        assert any(o.get("output_type") == "stream" for o in outputs), f"{path.name} printed nothing"
        if "plt.subplots" in path.read_text():
            assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} drew no figure"
    else:
        _run_as_script(path, monkeypatch)
    seconds = time.perf_counter() - start
    request.node.user_properties.append(("seconds", round(seconds, 2)))
    print(f"{path.name}: {seconds:.1f} s ({'kernel' if IN_KERNEL else 'script'})")
    _record(path.stem, seconds)


def _record(name, seconds):
    """Add this run's time to the JSON file named by TGM_NOTEBOOK_TIMES, if set."""
    target = os.environ.get("TGM_NOTEBOOK_TIMES")
    if not target:
        return
    times = json.loads(Path(target).read_text()) if Path(target).is_file() else {}
    times[name] = round(seconds, 2)
    Path(target).write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


def _run_in_kernel(path):
    import jupytext
    import nbclient

    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3")
    client.execute()  # raises CellExecutionError naming the cell and the traceback
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def _run_as_script(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setattr(sys, "argv", [str(path)])
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
