"""The tgm command: gradcheck table and exit codes."""

import subprocess
import sys

from tinygrad_med import cli
from tinygrad_med.gradcheck.suite import cases


def test_gradcheck_prints_a_table_and_passes(capsys):
    code = cli.main(["gradcheck", "--device", "cpu", "--op", "matmul", "--op", "conv2d", "--op", "lstm"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "max abs err" in out and "matmul (batched)" in out and "conv2d" in out
    assert "0 failed" in out


def test_every_op_family_of_the_suite_exists():
    missing = [name for name, fn, _ in cases() if fn is None]
    assert not missing, f"ops named in the gradcheck suite but not implemented: {missing}"


def test_gradcheck_reports_a_wrong_gradient(monkeypatch, capsys):
    from tinygrad_med.ops import arithmetic

    monkeypatch.setattr(arithmetic.Exp, "backward", lambda self, gy: gy * self.y * 1.01)
    code = cli.main(["gradcheck", "--device", "cpu", "--op", "exp/log"])
    assert code == 1 and "FAIL" in capsys.readouterr().out


def test_module_entry_point_shows_help():
    run = subprocess.run([sys.executable, "-m", "tinygrad_med", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "gradcheck" in run.stdout and "train" in run.stdout and "bench" in run.stdout


def test_the_whole_gradcheck_table_passes_on_the_cpu(capsys):
    assert cli.main(["gradcheck", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"{len(cases())} passed, 0 failed" in out
