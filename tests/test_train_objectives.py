"""tgm train / eval / predict for the generative models (autoencoder, VAE, Probabilistic U-Net):
each trains from the command line on a tiny subset, writes its log, checkpoint and pictures,
resumes exactly after Ctrl-C, and reports its own metrics; bad model/dataset pairs are refused."""

import json
import os
import signal

import numpy
import pytest

from tinygrad_med.cli import main
from tinygrad_med.data import TensorDataset, registry
from tinygrad_med.data.digits import DigitsDataset
from tinygrad_med.data.phantoms import PhantomDataset
from tinygrad_med.errors import ShapeError
from tinygrad_med.models import UnknownNameError
from tinygrad_med.training.loop import Trainer, load_checkpoint, make_config
from tinygrad_med.training.objectives import MODEL_OBJECTIVES, make_objective
from tinygrad_med.training.objectives.generative import Reconstruction, energy_distance


def _tiny_digits(split, path=None):
    dataset = DigitsDataset(split)
    keep = 64 if split == "train" else 24
    dataset.images, dataset.labels = dataset.images[:keep], dataset.labels[:keep]
    return dataset


def _tiny_phantoms(split, path=None):
    return PhantomDataset(8 if split == "train" else 2, size=32, ndim=2, split=split)


@pytest.fixture
def tiny_data(monkeypatch):
    """digits: 64 training / 24 test images; phantoms: 8 / 2 images of 32 x 32."""
    for name, make in (("digits", _tiny_digits), ("phantoms", _tiny_phantoms)):
        monkeypatch.setitem(registry.DATASETS, name, dict(registry.DATASETS[name], make=make))


def _press_ctrl_c_at(step_count):
    def on_step(trainer):
        if trainer.epoch * len(trainer.train_loader) + trainer.step == step_count:
            os.kill(os.getpid(), signal.SIGINT)

    return on_step


def _train_interrupt_resume(tmp_path, model, data, batch_size, stop_at):
    """A straight 2-epoch run in a/, and one in b/ stopped by Ctrl-C after ``stop_at`` steps, then resumed."""
    argv = ["train", model, "--data", data, "--epochs", "2", "--batch-size", str(batch_size), "--quiet"]
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(argv + ["--out", straight]) == 0
    config = make_config(model, data, epochs=2, batch_size=batch_size, prefetch=0)
    assert Trainer(config, resumed, progress=False).fit(on_step=_press_ctrl_c_at(stop_at))["interrupted"]
    assert main(argv + ["--out", resumed, "--resume"]) == 0
    a, b = (load_checkpoint(os.path.join(out, "checkpoint.npz")) for out in (straight, resumed))
    assert a["model"].keys() == b["model"].keys()
    assert all(numpy.array_equal(a["model"][k].numpy(), b["model"][k].numpy()) for k in a["model"])
    timeless = [
        [{k: v for k, v in h.items() if k not in ("seconds", "data_wait_share")} for h in c["history"]] for c in (a, b)
    ]
    assert timeless[0] == timeless[1]  # the same losses and held-out metrics, epoch by epoch
    return straight


def _held_out_log(out):
    return [json.loads(line) for line in open(os.path.join(out, "log.jsonl"), encoding="utf-8")]


@pytest.mark.parametrize(
    "model, train_metrics, test_metrics, pictures",
    [
        ("autoencoder", {"train_mse"}, {"test_recon_bce", "test_mse"}, {"predictions.png", "interpolation.png"}),
        (
            "vae",
            {"train_recon_bce", "train_kl"},
            {"test_recon_bce", "test_kl", "test_neg_elbo", "test_mse"},
            {"predictions.png", "interpolation.png", "samples.png"},
        ),
    ],
)
def test_autoencoders_train_resume_eval_and_predict_from_the_cli(
    tmp_path, capsys, tiny_data, model, train_metrics, test_metrics, pictures
):
    out = _train_interrupt_resume(tmp_path, model, "digits", batch_size=16, stop_at=6)  # mid-epoch 2 of 4 steps
    for name in {"checkpoint.npz", "log.jsonl", "curves.png", "summary.json"} | pictures:
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert not os.path.exists(os.path.join(out, "samples.png")) or "samples.png" in pictures
    log = _held_out_log(out)
    assert [line["epoch"] for line in log] == [1, 2] and train_metrics | test_metrics <= set(log[-1])
    summary = json.load(open(os.path.join(out, "summary.json"), encoding="utf-8"))
    if model == "vae":  # -ELBO = reconstruction + KL, all in nats per image, KL >= 0
        assert summary["test_neg_elbo"] == pytest.approx(summary["test_recon_bce"] + summary["test_kl"])
        assert summary["test_kl"] >= 0.0 and log[1]["train_loss"] < log[0]["train_loss"]
    capsys.readouterr()
    assert main(["eval", out]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert {k: reported[k] for k in test_metrics} == {k: summary[k] for k in test_metrics}  # same numbers again
    import matplotlib.image

    assert main(["predict", out, "--output", str(tmp_path / "reconstruction.png")]) == 0
    assert matplotlib.image.imread(tmp_path / "reconstruction.png").shape[:2] == (8, 8)
    assert main(["predict", out, "--output", str(tmp_path / "reconstruction.npy")]) == 0
    recon = numpy.load(tmp_path / "reconstruction.npy")
    assert recon.shape == (1, 8, 8) and recon.dtype == numpy.float32 and 0.0 <= recon.min() <= recon.max() <= 1.0


def test_prob_unet_trains_resumes_and_reports_dice_and_the_energy_distance(tmp_path, capsys, tiny_data):
    out = _train_interrupt_resume(tmp_path, "prob_unet", "phantoms", batch_size=4, stop_at=1)  # mid-epoch 1
    for name in ("checkpoint.npz", "log.jsonl", "curves.png", "predictions.png", "samples.png", "summary.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    log = _held_out_log(out)
    assert {"train_ce", "train_kl", "test_dice", "test_iou", "test_ged", "test_sample_diversity"} <= set(log[-1])
    summary = json.load(open(os.path.join(out, "summary.json"), encoding="utf-8"))
    assert 0.0 <= summary["test_dice"] <= 1.0 and 0.0 <= summary["test_sample_diversity"] <= 1.0
    assert -1.0 <= summary["test_ged"] <= 2.0
    capsys.readouterr()
    assert main(["eval", out]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["test_ged"] == summary["test_ged"] and reported["test_dice"] == summary["test_dice"]
    assert main(["predict", out, "--output", str(tmp_path / "mask.npy")]) == 0
    labels = numpy.load(tmp_path / "mask.npy")
    assert labels.shape == (32, 32) and set(numpy.unique(labels)) <= {0, 1, 2}


def test_energy_distance_on_hand_made_masks():
    truth = numpy.zeros((4, 4), dtype=numpy.int64)
    truth[:2, :2] = 1
    empty = numpy.zeros_like(truth)
    half = truth.copy()
    half[1] = 0  # 2 of truth's 4 pixels: IoU 1/2
    assert energy_distance(numpy.stack([truth, truth]), truth, 2) == (0.0, 0.0)
    # d(truth, Y) = 0, d(empty, Y) = 1, d(truth, empty) = 1: D^2 = 2 * 1/2 - 1 = 0, diversity 1
    assert energy_distance(numpy.stack([truth, empty]), truth, 2) == (0.0, 1.0)
    assert energy_distance(numpy.stack([empty, empty]), truth, 2) == (2.0, 0.0)  # sure and wrong
    ged, diversity = energy_distance(numpy.stack([truth, half, empty]), truth, 2)
    distances_to_truth, pairs = [0.0, 0.5, 1.0], [0.5, 1.0, 1.0]
    assert diversity == pytest.approx(numpy.mean(pairs))
    assert ged == pytest.approx(2 * numpy.mean(distances_to_truth) - numpy.mean(pairs))


def test_a_model_on_a_dataset_its_objective_cannot_use_is_refused_before_anything_is_written(
    tmp_path, capsys, tiny_data, monkeypatch
):
    (tmp_path / "checkpoint.npz").write_bytes(b"a previous run")
    for model, data, expected in (
        (
            "vae",
            "phantoms",
            "model 'vae' (variational reconstruction) trains on whole-image datasets (digits, medmnist",
        ),
        ("autoencoder", "phantoms3d", "model 'autoencoder' (reconstruction) trains on whole-image datasets"),
        ("prob_unet", "digits", "model 'prob_unet' (probabilistic segmentation) trains on segmentation datasets"),
    ):
        argv = ["train", model, "--data", data, "--out", str(tmp_path), "--overwrite", "--quiet"]
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert expected in error and f"{data!r} is a " in error, error
    assert (tmp_path / "checkpoint.npz").read_bytes() == b"a previous run"  # --overwrite removed nothing
    with pytest.raises(ValueError, match=r"'phantoms' is a segmentation dataset.*pass --data digits"):
        make_config("vae", "phantoms")
    volumes = TensorDataset(numpy.zeros((2, 1, 8, 8, 8), numpy.float32), numpy.zeros(2, numpy.int64))
    with pytest.raises(ShapeError, match=r"reconstruction models take 2D images \(C, H, W\); .* \(1, 8, 8, 8\)"):
        Reconstruction(volumes).model_options(volumes)  # e.g. a 3D MedMNIST file
    monkeypatch.setitem(MODEL_OBJECTIVES, "vae", "denoising")
    with pytest.raises(UnknownNameError, match=r"unknown objective 'denoising' for model 'vae'; valid: 'classif"):
        make_objective("vae", _tiny_digits("test"))
    assert main(["train", "vae", "--data", "digits", "--out", str(tmp_path / "new"), "--quiet"]) == 2
    assert "unknown objective 'denoising'" in capsys.readouterr().err and not (tmp_path / "new").exists()
