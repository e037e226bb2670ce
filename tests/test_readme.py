"""The README stays true: its example runs, and its two commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_example_trains_to_high_accuracy(capsys):
    pytest.importorskip("sklearn")
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    exec(compile(code, "README.md", "exec"), {})
    accuracy = float(capsys.readouterr().out.split()[-1])
    assert accuracy > 0.95


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python3 -m pip install -q ".[test]"' in ci and 'python3 -m pip install ".[test]"' in README
    assert 'python3 -m pytest -m "not gpu" -q' in ci and 'python3 -m pytest -m "not gpu" -q' in README
    assert "tgm train unet --data nuclei" in README
