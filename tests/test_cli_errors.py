"""tgm exits 0 only when it did what was asked; otherwise one line on stderr and exit status 2 (130 after
Ctrl-C), never a traceback unless --debug. Also the decisions of ``tgm train --help``: what --resume does with
the other options, a batch larger than the training set, an empty --out."""

import json
import os

import pytest

from tinygrad_med import backend
from tinygrad_med.cli import build_parser, main
from tinygrad_med.training import loop as train
from tinygrad_med.training.run_folder import load_checkpoint

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
        ("--out", ""): "tgm train: --out '' names no folder; leave it out for runs/MODEL-DATA",
        ("--lr", "nan"): "lr a finite number > 0",
    }
    monkeypatch.chdir(tmp_path)
    for option, message in cases.items():
        assert main(TRAIN + ["--out", str(tmp_path / "run")] + list(option)) == 2
        assert message in _one_line(capsys)
    with pytest.raises(SystemExit, match="2"):  # argparse's own exit, as for --help
        main(TRAIN + ["--epochs", "x"])
    assert _one_line(capsys) == "tgm train: argument --epochs: invalid int value: 'x' (see tgm train --help)"
    assert sorted(os.listdir(tmp_path)) == ["file"]  # nothing was created, not even runs/ for --out ''
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: "CuPy is not installed")
    for argv in (TRAIN + ["--device", "cuda"], ["bench", "--device", "cuda"]):
        assert main(argv) == 2
        assert "cuda is not available: CuPy is not installed" in _one_line(capsys)
    assert main(["eval", str(tmp_path / "nothing.npz")]) == 2
    assert _one_line(capsys) == f"tgm eval: no checkpoint at {tmp_path}/nothing.npz"


def test_gradcheck_refuses_an_op_name_that_matches_nothing(capsys):
    assert main(["gradcheck", "--device", "cpu", "--op", "nosuch"]) == 2
    err = _one_line(capsys)
    assert err.startswith("tgm gradcheck: --op 'nosuch' matches no op; the ops: ") and "conv2d" in err
    assert capsys.readouterr().out == ""  # no table, no "0 passed, 0 failed"


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


def test_resume_extends_the_cosine_schedule_and_refuses_options_that_would_change_the_run(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "2"]) == 0
    refused = {
        ("--lr", "0.1"): "--lr 0.1 differs from its 0.003",
        ("--batch-size", "64"): "--batch-size 64 differs from its 256",
        ("--optimizer", "sgd"): "--optimizer sgd differs from its adam",
        ("--seed", "1"): "--seed 1 differs from its 0",
        ("--overwrite",): "--resume continues the run in --out, --overwrite replaces it; pass one",
        ("--epochs", "1"): "--resume --epochs 1: the run has done 2 epochs",
    }
    argv = [arg for arg in TRAIN if arg not in ("--batch-size", "256", "--lr", "3e-3")] + ["--out", out, "--resume"]
    for option, message in refused.items():
        assert main(argv + list(option)) == 2
        assert message in _one_line(capsys)
    assert main(argv + ["--epochs", "3", "--lr", "3e-3", "--seed", "0"]) == 0  # the run's own values are fine
    lrs = [entry["lr"] for entry in load_checkpoint(os.path.join(out, "checkpoint.npz"))["history"]]
    assert lrs == pytest.approx([3e-3, 1.5e-3, 0.75e-3])  # cos(pi * 2 / 3): re-planned to end at 3, not 0
    assert "the cosine schedule is re-planned" in build_parser()._subparsers._group_actions[0].choices[
        "train"
    ].format_help().replace("\n", " ")


def test_a_batch_larger_than_the_training_set_trains_one_batch_of_all_of_it(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TRAIN + ["--out", out, "--epochs", "1", "--batch-size", "5000"]) == 0
    err = capsys.readouterr().err
    assert "--batch-size 5000 is larger than the training set (1438 samples); each epoch is one batch of 1438" in err
    entry = load_checkpoint(os.path.join(out, "checkpoint.npz"))["history"][0]
    assert entry["train_loss"] > 1.0 and entry["train_accuracy"] > 0.0  # one real step, not "0.0" from none


def test_help_documents_the_exit_status():
    text = " ".join(build_parser().format_help().split())
    assert "130 interrupted (Ctrl-C)" in text and "2 refused or failed, with one line on stderr" in text
