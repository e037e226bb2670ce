"""tgm train / eval / predict for the detection models (Faster R-CNN, Mask R-CNN): each trains from the
command line on tiny data, writes its log, checkpoint and pictures, resumes exactly after Ctrl-C,
reports the same held-out numbers again from ``tgm eval``, and writes boxes and an instance image from
``tgm predict``; a detection model on a classification dataset, or a classifier on a detection
dataset, is refused before the run folder is touched."""

import json
import os
import signal

import numpy
import pytest

from tinygrad_med.cli import main
from tinygrad_med.data import registry
from tinygrad_med.data.detection import NucleiDetectionDataset, ShapesDetectionDataset
from tinygrad_med.training.loop import Trainer, load_checkpoint, make_config
from tinygrad_med.training.objectives.detection import instance_image, matched_boxes, matched_dice


def _tiny_shapes(split, path=None):
    return ShapesDetectionDataset(8 if split == "train" else 2, size=48, split=split, min_size=8, max_size=16)


def _tiny_nuclei(split, path=None):
    dataset = NucleiDetectionDataset(split, tile=48, samples_per_epoch=4)
    if split == "test":  # the top 96 rows of the held-out strip
        dataset.image, dataset.instances = dataset.image[:, :96], dataset.instances[:96]
        dataset.labels = dataset.instances
    return dataset


@pytest.fixture
def tiny_data(monkeypatch):
    """shapes: 8 training / 2 test images of 48 x 48; nuclei: 4 tiles of 48 x 48 a training epoch, 96 x 128 held out."""
    monkeypatch.setitem(registry.DATASETS, "shapes", dict(registry.DATASETS["shapes"], make=_tiny_shapes))
    view = dict(registry.DATASETS["nuclei"]["views"]["detection"], make=_tiny_nuclei)
    monkeypatch.setitem(registry.DATASETS, "nuclei", dict(registry.DATASETS["nuclei"], views={"detection": view}))


def _press_ctrl_c_at(step_count):
    def on_step(trainer):
        if trainer.epoch * len(trainer.train_loader) + trainer.step == step_count:
            os.kill(os.getpid(), signal.SIGINT)

    return on_step


@pytest.mark.parametrize(
    "model, data, terms, test_metrics",
    [
        ("fasterrcnn", "shapes", {"objectness", "rpn_box_reg", "classifier", "box_reg"}, {"f1", "precision", "recall"}),
        (
            "maskrcnn",
            "nuclei",
            {"objectness", "rpn_box_reg", "classifier", "box_reg", "mask"},
            {"f1", "precision", "recall", "mask_dice", "box_f1"},
        ),
    ],
)
def test_detection_trains_resumes_evaluates_and_predicts_from_the_cli(
    tmp_path, capsys, tiny_data, model, data, terms, test_metrics
):
    argv = ["train", model, "--data", data, "--epochs", "2", "--batch-size", "2", "--quiet"]
    straight, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(argv + ["--out", straight]) == 0
    config = make_config(model, data, epochs=2, batch_size=2, prefetch=0)
    assert Trainer(config, resumed, progress=False).fit(on_step=_press_ctrl_c_at(3))["interrupted"]  # mid-epoch 2
    assert main(argv + ["--out", resumed, "--resume"]) == 0
    a, b = (load_checkpoint(os.path.join(out, "checkpoint.npz")) for out in (straight, resumed))
    assert a["model"].keys() == b["model"].keys()
    assert all(numpy.array_equal(a["model"][k].numpy(), b["model"][k].numpy()) for k in a["model"])
    timeless = [[{k: v for k, v in h.items() if k not in ("seconds", "data_wait_share")} for h in c["history"]]
                for c in (a, b)]  # fmt: skip
    assert timeless[0] == timeless[1]  # the same losses and held-out metrics, epoch by epoch

    for name in ("checkpoint.npz", "log.jsonl", "curves.png", "predictions.png", "summary.json"):
        assert os.path.getsize(os.path.join(straight, name)) > 0, name
    log = [json.loads(line) for line in open(os.path.join(straight, "log.jsonl"), encoding="utf-8")]
    assert [line["epoch"] for line in log] == [1, 2]
    assert {"train_" + t for t in terms} | {"test_" + m for m in test_metrics} <= set(log[-1])
    assert log[-1]["train_loss"] == pytest.approx(sum(log[-1]["train_" + t] for t in terms), rel=1e-5)
    summary = json.load(open(os.path.join(straight, "summary.json"), encoding="utf-8"))
    assert all(0.0 <= summary["test_" + m] <= 1.0 for m in test_metrics)

    capsys.readouterr()
    assert main(["eval", straight]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert {m: reported["test_" + m] for m in test_metrics} == {m: summary["test_" + m] for m in test_metrics}

    assert main(["predict", straight, "--output", str(tmp_path / "found.npy")]) == 0
    labels, found = numpy.load(tmp_path / "found.npy"), json.load(open(tmp_path / "found.json", encoding="utf-8"))
    assert labels.shape == registry.get_dataset(data, "test", view="detection")[0][0].shape[1:]
    assert set(found) >= {"boxes", "labels", "scores"} and len(found["boxes"]) == len(found["scores"])
    assert labels.max() <= len(found["scores"]) and all(s >= found["score_threshold"] for s in found["scores"])
    assert main(["predict", straight]) == 0  # a 16-bit PNG beside the checkpoint
    from PIL import Image

    assert numpy.array_equal(numpy.asarray(Image.open(os.path.join(straight, "prediction.png"))), labels)


@pytest.mark.parametrize(
    "model, data, expected",
    [
        ("maskrcnn", "digits", "trains on detection datasets .*'digits' is a classification dataset"),
        ("fasterrcnn", "phantoms", "trains on detection datasets .*'phantoms' is a segmentation dataset"),
        ("cnn", "shapes", "'shapes' is a detection dataset: only the models fasterrcnn, maskrcnn train on it"),
        ("unet", "shapes", "only the models fasterrcnn, maskrcnn train on it, not 'unet'"),
    ],
)
def test_a_bad_model_dataset_pair_is_refused_before_the_run_folder_is_touched(
    tmp_path, capsys, tiny_data, model, data, expected
):
    out = tmp_path / "run"
    assert main(["train", model, "--data", data, "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    assert pytest.importorskip("re").search(expected, capsys.readouterr().err)


def test_the_nuclei_view_keeps_the_segmentation_split_and_the_default_is_nuclei():
    config = make_config("maskrcnn")
    assert config["data"] == "nuclei" and (config["epochs"], config["batch_size"]) == (8, 4)
    train, test = (registry.get_dataset("nuclei", split, view="detection") for split in ("train", "test"))
    segmentation = registry.get_dataset("nuclei", "test")
    assert test.task == "detection" and test.image.shape == segmentation.image.shape == (1, 512, 128)
    image, target = test[0]
    assert numpy.array_equal(image, segmentation[0][0])
    assert numpy.array_equal(target["masks"].any(axis=0), segmentation[0][1] > 0)
    assert train.instances.shape == (512, 384) and train[0][0].shape == (1, 128, 128)


def test_matching_counts_each_true_object_once():
    truth = numpy.array([[0, 0, 10, 10], [20, 20, 30, 30]], numpy.float32)
    predicted = numpy.array([[0, 0, 10, 11], [1, 0, 10, 10], [20, 20, 24, 24]], numpy.float32)  # a duplicate, a miss
    assert matched_boxes(predicted, truth) == 1 and matched_boxes(predicted[:0], truth) == 0
    assert matched_boxes(predicted, truth, [2, 1, 1], [1, 1]) == 1  # the first box is of another class
    assert matched_boxes(predicted, truth, [2, 2, 2], [1, 1]) == 0
    kept = {"boxes": numpy.concatenate([truth[:1], predicted[2:]]), "scores": numpy.array([0.9, 0.8])}
    labels = instance_image(kept, (32, 32))
    assert (labels == 1).sum() == 100 and (labels == 2).sum() == 16  # boxes filled at the pixels they cover
    truth_image = numpy.zeros((32, 32), numpy.int64)
    truth_image[0:10, 0:10], truth_image[20:30, 20:30] = 1, 2
    assert matched_dice(labels, truth_image) == [1.0]  # the 4 x 4 box has IoU 0.16 with its object: unmatched
