"""The training loop: loss goes down, checkpoints resume exactly, Ctrl-C saves, bad input is refused."""

import importlib.util
import json
import os
import signal

import numpy
import pytest

from tinygrad_med.cli import main
from tinygrad_med.data.registry import dataset_names
from tinygrad_med.errors import CheckpointError
from tinygrad_med.models import MODELS, UnknownNameError
from tinygrad_med.training.loop import Trainer, load_checkpoint, make_config, prepare_out


def _config(model="mlp", data="digits", epochs=3, **options):
    return make_config(
        model, data, epochs=epochs, batch_size=64, lr=3e-3, prefetch=options.pop("prefetch", 0), **options
    )


def _weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


def test_a_short_run_reduces_the_loss_and_writes_its_files(tmp_path):
    trainer = Trainer(_config(epochs=3, prefetch=2), tmp_path, progress=False)
    summary = trainer.fit()
    losses = [h["train_loss"] for h in trainer.history]
    assert losses[2] < losses[1] < losses[0]
    assert summary["test_accuracy"] > 0.85 and not summary["interrupted"]
    for name in ("checkpoint.npz", "log.jsonl", "curves.png", "predictions.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3] and 0.0 <= lines[0]["data_wait_share"] <= 1.0
    assert lines[0]["lr"] > lines[2]["lr"]  # the cosine schedule stepped


def _stop_at(step_count):
    def on_step(trainer):
        if trainer.epoch * len(trainer.train_loader) + trainer.step == step_count:
            trainer.request_stop()

    return on_step


@pytest.mark.parametrize("stop_after", [30, 22])  # mid-epoch 2, and after the last step of epoch 1 (22 batches)
def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path, stop_after):
    config = _config(epochs=3)
    straight = Trainer(config, tmp_path / "a", progress=False)
    straight.fit()
    assert len(straight.train_loader) == 22  # 1438 training digits // 64, the last partial batch dropped
    first = Trainer(config, tmp_path / "b", progress=False)
    assert first.fit(on_step=_stop_at(stop_after))["interrupted"]
    resumed = Trainer(config, tmp_path / "b", progress=False)
    resumed.load_state(load_checkpoint(tmp_path / "b" / "checkpoint.npz", model="mlp"), "checkpoint.npz")
    assert resumed.epoch * len(resumed.train_loader) + resumed.step == stop_after
    resumed.fit()
    a, b = _weights(straight), _weights(resumed)
    assert all(numpy.array_equal(a[k], b[k]) for k in a)
    keys = ("train_loss", "train_accuracy", "test_accuracy")
    assert [[h[k] for k in keys] for h in straight.history] == [[h[k] for k in keys] for h in resumed.history]


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    out = str(tmp_path / "run")

    def press_ctrl_c(trainer):
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(_config(epochs=2), out, progress=False)
    assert trainer.fit(on_step=press_ctrl_c) == {"interrupted": True, "epoch": 0, "step": 5}
    assert load_checkpoint(os.path.join(out, "checkpoint.npz"))["step"] == 5
    assert main(["train", "mlp", "--data", "digits", "--out", out, "--resume", "--quiet"]) == 0
    assert len(open(os.path.join(out, "log.jsonl")).read().splitlines()) == 2


def test_unknown_model_dataset_or_optimizer_lists_the_valid_names(tmp_path, capsys):
    with pytest.raises(UnknownNameError, match=r"unknown model 'unett'; valid models: .*cnn.*unet"):
        make_config("unett", "nuclei")
    assert main(["train", "unett", "--data", "nuclei", "--out", str(tmp_path)]) == 2
    assert "valid models: " + ", ".join(sorted(MODELS)) in capsys.readouterr().err
    assert main(["train", "cnn", "--data", "mnist", "--out", str(tmp_path)]) == 2
    listed = "unknown dataset 'mnist'; valid datasets: " + ", ".join(dataset_names())
    assert listed in capsys.readouterr().err and "digits, lesions-ambiguous, medmnist, mni152, nuclei" in listed
    with pytest.raises(UnknownNameError, match="valid: adam, adamw, sgd, rmsprop"):
        make_config("cnn", "digits", optimizer="lbfgs")


def test_a_previous_run_is_not_overwritten_without_resume_or_overwrite(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--out", out, "--quiet"]) == 0
    before = (tmp_path / "checkpoint.npz").read_bytes()
    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--out", out, "--quiet"]) == 2
    assert "holds a previous run" in capsys.readouterr().err and (tmp_path / "checkpoint.npz").read_bytes() == before
    assert (
        main(
            ["train", "mlp", "--data", "digits", "--epochs", "1", "--out", out, "--quiet", "--overwrite", "--seed", "1"]
        )
        == 0
    )
    assert (tmp_path / "checkpoint.npz").read_bytes() != before
    with pytest.raises(CheckpointError, match="no checkpoint.npz"):
        prepare_out(str(tmp_path / "empty"), resume=True)


def test_a_checkpoint_of_another_model_or_a_corrupt_one_is_refused_untouched(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--out", out, "--quiet"]) == 0
    path = tmp_path / "checkpoint.npz"
    before = path.read_bytes()
    assert main(["train", "cnn", "--data", "digits", "--out", out, "--resume", "--quiet"]) == 2
    assert "holds a 'mlp' model trained on 'digits', not a 'cnn' model" in capsys.readouterr().err
    assert main(["train", "mlp", "--data", "phantoms", "--out", out, "--resume", "--quiet"]) == 2
    assert "not a 'mlp' model on 'phantoms'" in capsys.readouterr().err
    assert path.read_bytes() == before
    path.write_bytes(before[: len(before) // 2])  # truncated, as by a full disk
    damaged = path.read_bytes()
    for argv in (["train", "mlp", "--data", "digits", "--out", out, "--resume"], ["eval", str(path)]):
        assert main(argv + ["--quiet"] if argv[0] == "train" else argv) == 2
        assert "not a readable checkpoint" in capsys.readouterr().err and path.read_bytes() == damaged
    numpy.save(tmp_path / "other.npy", numpy.zeros(3))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "other.npy")


def test_eval_reports_the_held_out_metric(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["train", "mlp", "--data", "digits", "--epochs", "2", "--out", out, "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    capsys.readouterr()
    assert main(["eval", out]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == summary["test_accuracy"]


def test_predict_writes_a_png_mask_for_2d_and_npy_or_nifti_for_3d(tmp_path, capsys):
    import matplotlib.image

    run2d, run3d = str(tmp_path / "p2"), str(tmp_path / "p3")
    assert (
        main(["train", "unet", "--data", "phantoms", "--epochs", "1", "--batch-size", "32", "--out", run2d, "--quiet"])
        == 0
    )
    assert main(["predict", run2d, "--output", str(tmp_path / "mask.png")]) == 0
    mask = matplotlib.image.imread(tmp_path / "mask.png")
    assert mask.shape[:2] == (64, 64)
    image = numpy.random.default_rng(0).random((30, 42)).astype(numpy.float32)  # not a multiple of 4: padded
    numpy.save(tmp_path / "image.npy", image)
    assert main(["predict", run2d, "--input", str(tmp_path / "image.npy"), "--output", str(tmp_path / "m.png")]) == 0
    assert matplotlib.image.imread(tmp_path / "m.png").shape[:2] == (30, 42)
    assert (
        main(
            ["train", "unet3d", "--data", "phantoms3d", "--epochs", "1", "--batch-size", "8", "--out", run3d, "--quiet"]
        )
        == 0
    )
    assert main(["predict", run3d, "--output", str(tmp_path / "mask.npy")]) == 0
    labels = numpy.load(tmp_path / "mask.npy")
    assert labels.shape == (32, 32, 32) and labels.dtype == numpy.uint8 and set(numpy.unique(labels)) <= {0, 1, 2}
    nibabel = pytest.importorskip("nibabel")
    assert main(["predict", run3d, "--output", str(tmp_path / "mask.nii.gz")]) == 0
    assert numpy.array_equal(nibabel.load(tmp_path / "mask.nii.gz").get_fdata().astype(numpy.int64), labels)
    capsys.readouterr()
    assert main(["predict", run3d, "--output", str(tmp_path / "mask3d.png")]) == 2
    assert "a PNG holds a 2D picture" in capsys.readouterr().err


def test_medmnist_trains_from_a_local_npz_and_asks_for_the_path(tmp_path, capsys):
    rng = numpy.random.default_rng(0)
    labels = {split: rng.integers(0, 3, (n, 1)) for split, n in (("train", 48), ("val", 4), ("test", 12))}
    images = {
        split: (label[:, :, None] * 80 + rng.integers(0, 40, (len(label), 28, 28))).astype(numpy.uint8)
        for split, label in labels.items()
    }  # the class sets the brightness: learnable in one epoch
    path = tmp_path / "toymnist.npz"
    numpy.savez(path, **{f"{s}_images": images[s] for s in images}, **{f"{s}_labels": labels[s] for s in labels})
    out = str(tmp_path / "run")
    assert (
        main(
            [
                "train",
                "cnn",
                "--data",
                "medmnist",
                "--data-path",
                str(path),
                "--epochs",
                "2",
                "--batch-size",
                "8",
                "--out",
                out,
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["test_accuracy"] >= 0.5
    capsys.readouterr()
    assert main(["train", "cnn", "--data", "medmnist", "--out", str(tmp_path / "other"), "--quiet"]) == 2
    assert "pass --data-path FILE.npz" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("stardist") is None, reason="stardist (nuclei data) not installed")
def test_unet_on_the_real_nuclei_image_learns_in_two_epochs(tmp_path):
    trainer = Trainer(make_config("unet", "nuclei", epochs=2, prefetch=2), tmp_path, progress=False)
    summary = trainer.fit()
    assert trainer.history[1]["train_loss"] < trainer.history[0]["train_loss"]
    assert summary["test_dice"] > 0.75 and summary["threshold_baseline_dice"] == pytest.approx(0.874, abs=0.002)
