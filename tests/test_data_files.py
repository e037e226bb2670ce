"""MedMNIST files given with --data-path: checked once at load, one DataError per problem naming the file,
before any run folder is written."""

import json

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_med.cli import main
from tinygrad_med.data import MedMNIST
from tinygrad_med.data.registry import get_dataset
from tinygrad_med.errors import DataError
from tinygrad_med.training.run_config import make_config


def arrays(**changes):
    rng = numpy.random.default_rng(0)
    base = {
        "train_images": rng.integers(0, 256, (6, 8, 8), dtype=numpy.uint8),
        "train_labels": numpy.array([[0], [1], [2], [0], [1], [2]]),
        "test_images": rng.integers(0, 256, (3, 8, 8), dtype=numpy.uint8),
        "test_labels": numpy.array([[2], [1], [0]]),
    }
    base.update(changes)
    return base


def write(tmp_path, name="toy.npz", **changes):
    path = tmp_path / name
    numpy.savez(path, **arrays(**changes))
    return path


def test_float_images_in_0_1_are_not_divided_by_255_again(tmp_path):
    images = numpy.full((6, 8, 8), 0.5, numpy.float32)
    image, label = MedMNIST(write(tmp_path, train_images=images))[0]
    assert image.max() == pytest.approx(0.5) and label == 0  # 0.5 / 255 before
    uint8 = MedMNIST(write(tmp_path, "u.npz", train_images=numpy.full((6, 8, 8), 255, numpy.uint8)))[0][0]
    assert uint8.max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"train_images": numpy.full((6, 8, 8), 200.0)}, r"train_images is float with values in \[200, 200\]"),
        ({"train_images": numpy.full((6, 8, 8), numpy.nan)}, "train_images holds 384 NaN or infinite values"),
        ({"train_images": numpy.full((6, 8, 8), 1000, numpy.uint16)}, "integer images must lie in 0..255"),
        ({"train_images": numpy.zeros((6, 8, 8, 2), numpy.uint8)}, r"\(6, 8, 8, 2\): 2 channels last"),  # volume before
        ({"train_images": numpy.zeros((0, 8, 8), numpy.uint8), "train_labels": numpy.zeros((0, 1))}, "holds no images"),
        ({"train_images": numpy.zeros((6, 8), numpy.uint8)}, r"has shape \(6, 8\)"),
        ({"train_images": numpy.array(["a"] * 6)}, "has dtype <U1"),
        ({"train_labels": numpy.array([[0], [0.7], [1], [2], [0], [1]])}, r"the label 0.7 at index \(1, 0\)"),
        ({"train_labels": numpy.array([0, -1, 1, 2, 0, 1])}, "the label -1 at index 1; classes are numbered from 0"),
        ({"train_labels": numpy.array([0, 2**40, 1, 2, 0, 1])}, "the label 1099511627776 at index 1; at most 1000"),
        ({"train_labels": numpy.array(["a", "b", "c", "a", "b", "c"])}, "train_labels has dtype <U1"),
        ({"train_labels": numpy.array([0, 1, 2])}, "holds 3 labels for 6 images"),
        ({"train_labels": numpy.array([[0, 2]] * 6)}, r"multi-label \(6, 2\) with the value 2"),
    ],
)
def test_bad_training_arrays_give_one_data_error_each(tmp_path, changes, message):
    with pytest.raises(DataError, match=f"toy.npz: {message}" if message.startswith("train") else message):
        MedMNIST(write(tmp_path, **changes), "train")


def test_held_out_labels_past_the_training_classes_are_refused(tmp_path):
    path = write(tmp_path, test_labels=numpy.array([[0], [5], [1]]))
    with pytest.raises(DataError, match=r"test_labels has label 5 at index 1, beyond the 3 classes \(0..2\)"):
        MedMNIST(path, "test")
    assert MedMNIST(write(tmp_path, "ok.npz"), "test").num_classes == 3  # from the training labels


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),  # EOFError before
        (b"\x8f\x01random bytes that are no archive", "not a zip file"),  # 'pickled (object) data' before
        (b"PK\x03\x04 truncated", "not a readable .npz archive"),  # BadZipFile before
    ],
)
def test_unreadable_files_give_data_error(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"MedMNIST: '.*bad.npz' .*{message}"):
        MedMNIST(path)


def test_a_truncated_archive_or_a_directory_gives_data_error(tmp_path):
    data = write(tmp_path).read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.npz"):
        MedMNIST(tmp_path / "cut.npz")
    with pytest.raises(DataError, match="is a directory"):  # IsADirectoryError before
        MedMNIST(tmp_path)


def test_a_multi_label_file_trains_with_binary_cross_entropy_per_label(tmp_path, capsys):
    rng = numpy.random.default_rng(0)
    labels = {split: rng.integers(0, 2, (n, 3)) for split, n in (("train", 64), ("test", 16))}
    images = {s: (label[:, :1, None] * 120 + rng.integers(0, 60, (len(label), 8, 8))) for s, label in labels.items()}
    path = tmp_path / "chesty.npz"  # label 0 sets the brightness: learnable; labels 1, 2 are noise
    numpy.savez(path, **{f"{s}_images": images[s].astype(numpy.uint8) for s in images},
                **{f"{s}_labels": labels[s] for s in labels})  # fmt: skip
    data = MedMNIST(path)
    assert data.multilabel and data.task == "multi-label classification" and data[0][1].shape == (3,)
    out = tmp_path / "run"
    argv = ["train", "cnn", "--data", "medmnist", "--data-path", str(path), "--out", str(out), "--quiet"]
    assert main(argv + ["--epochs", "1", "--batch-size", "16"]) == 0  # a broadcast error mid-epoch before
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["test_exact_match"] <= summary["test_label_accuracy"] <= 1.0
    make_config("vae", "medmnist", data_path=str(path))  # the autoencoders ignore the labels
    numpy.savez(path, train_images=images["train"], train_labels=labels["train"],
                test_images=images["test"], test_labels=labels["test"][:, :2])  # fmt: skip
    with pytest.raises(DataError, match=r"the splits' labels differ in layout: test_labels \(16, 2\)"):
        make_config("cnn", "medmnist", data_path=str(path))


def test_a_bad_file_is_refused_by_make_config_before_the_run_folder(tmp_path):
    path = write(tmp_path, train_labels=numpy.array([0, -1, 1, 2, 0, 1]))
    with pytest.raises(DataError, match="label -1"):
        make_config("cnn", "medmnist", data_path=str(path))


def test_data_path_for_a_dataset_that_reads_no_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'digits' reads no file, so --data-path .* would be ignored; only medmnist"):
        get_dataset("digits", "train", str(write(tmp_path)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(1, 5),
    st.sampled_from([(6, 6), (6, 6, 1), (6, 6, 3), (5, 6, 7)]),
    st.sampled_from([numpy.uint8, numpy.float32, numpy.float64]),
    st.integers(1, 12),
)
def test_any_valid_file_loads_with_images_in_0_1(tmp_path, count, shape, dtype, classes):
    rng = numpy.random.default_rng(count)
    raw = rng.random((count, *shape))
    images = (raw * 255).astype(dtype) if dtype is numpy.uint8 else raw.astype(dtype)
    labels = rng.integers(0, classes, count)
    labels[0] = classes - 1
    data = MedMNIST(write(tmp_path, train_images=images, train_labels=labels), "train")
    image, label = data[count - 1]
    expected = images[count - 1] / (255.0 if dtype is numpy.uint8 else 1.0)
    channels_last = len(shape) == 3 and shape[-1] in (1, 3)
    expected = numpy.moveaxis(expected, -1, 0) if channels_last else expected[None]
    numpy.testing.assert_allclose(image, expected, rtol=1e-6)
    assert data.num_classes == classes and label == labels[count - 1]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_damaged_files_load_or_give_data_error(tmp_path, data):
    raw = bytearray(write(tmp_path, "good.npz").read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    (tmp_path / "fuzz.npz").write_bytes(bytes(raw))
    try:
        MedMNIST(tmp_path / "fuzz.npz", "test")
    except DataError as error:
        assert "fuzz.npz" in str(error)


def test_multi_label_metrics_count_each_decision_and_each_exact_row():
    import tinygrad_med as tm
    from tinygrad_med.training.objectives import MultiLabelClassification, make_objective

    class Rows:
        num_classes, task, multilabel = 3, "multi-label classification", True

    scores = numpy.array([[2.0, -1.0, 0.5], [-3.0, 1.0, -0.5]], numpy.float32)  # decisions [1, 0, 1], [0, 1, 0]
    truth = numpy.array([[1, 0, 1], [1, 1, 0]], numpy.float32)
    objective = make_objective("cnn", Rows())
    assert isinstance(objective, MultiLabelClassification)
    result = objective.evaluate(lambda x: tm.tensor(scores), [(tm.tensor(scores), tm.tensor(truth))])
    assert result["metrics"] == {"label_accuracy": 5 / 6, "exact_match": 0.5}
    loss, decisions = objective.loss(lambda x: tm.tensor(scores, requires_grad=True), None, tm.tensor(truth))
    expected = numpy.mean(numpy.logaddexp(0, scores) - truth * scores)  # BCE with logits, by hand
    assert loss.item() == pytest.approx(expected, rel=1e-6) and decisions.tolist() == (scores > 0).tolist()
