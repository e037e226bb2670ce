"""tgm exits 0 only when it did what was asked; otherwise one line on stderr and exit status 2 (130 after
Ctrl-C), never a traceback unless --debug."""

import json
import os

import pytest

from tinygrad_med import backend, train
from tinygrad_med.cli import build_parser, main

TRAIN = ["train", "mlp", "--data", "digits", "--batch-size", "256", "--lr", "3e-3", "--quiet"]  # 5 steps an epoch


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    monkeypatch.setattr(train.Trainer, "draw_curves", lambda self: None)  # matplotlib is slow
    monkeypatch.setattr(train.Trainer, "draw_predictions", lambda self, result: None)


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_devices_folders_and_names_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    cases = {
        ("--device", "tpu"): "tgm train: device: unknown device 'tpu'; expected 'cpu' or 'cuda'",
        ("--out", str(tmp_path / "file" / "run")): f"cannot use {tmp_path}/file/run as the run folder: Not a directory",
        ("--out", str(tmp_path / "file")): f"tgm train: --out {tmp_path}/file is a file, not a folder",
    }
    monkeypatch.chdir(tmp_path)
    for option, message in cases.items():
        assert main(TRAIN + ["--out", str(tmp_path / "run")] + list(option)) == 2
        assert message in _one_line(capsys)
    with pytest.raises(SystemExit, match="2"):  # argparse's own exit, as for --help
        main(TRAIN + ["--epochs", "x"])
    assert _one_line(capsys) == "tgm train: argument --epochs: invalid int value: 'x' (see tgm train --help)"
    assert sorted(os.listdir(tmp_path)) == ["file"]
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: "CuPy is not installed")
    for argv in (TRAIN + ["--device", "cuda"], ["bench", "--device", "cuda"]):
        assert main(argv) == 2
        assert "cuda is not available: CuPy is not installed" in _one_line(capsys)
    assert main(["eval", str(tmp_path / "nothing.npz")]) == 2
    assert f"no checkpoint at {tmp_path}/nothing.npz" in _one_line(capsys)


def test_ctrl_c_in_start_up_or_the_final_evaluation_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(train.Trainer, "__init__", interrupt)
        assert main(TRAIN + ["--out", out]) == 130
        assert _one_line(capsys) == "tgm train: interrupted (Ctrl-C)" and not os.path.exists(out)
    with monkeypatch.context() as patch:
        patch.setattr(train.Trainer, "finish", interrupt)
        assert main(TRAIN + ["--out", out, "--epochs", "1"]) == 130
        assert f"interrupted (Ctrl-C); {out}/checkpoint.npz is kept; --resume continues from it" in _one_line(capsys)
    assert main(TRAIN + ["--out", out, "--epochs", "1", "--resume"]) == 0  # writes the summary it missed
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 1


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(train.Trainer, "__init__", broken)
    assert main(TRAIN + ["--out", str(tmp_path / "run")]) == 2
    assert "tgm train: unexpected AttributeError: 'NoneType' object" in _one_line(capsys)
    with pytest.raises(AttributeError):
        main(TRAIN + ["--out", str(tmp_path / "run"), "--debug"])


def test_help_documents_the_exit_status():
    text = " ".join(build_parser().format_help().split())
    assert "130 interrupted (Ctrl-C)" in text and "2 refused or failed, with one line on stderr" in text
