"""Metrics against naive loop references and hand-computed cases."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_med.errors import ShapeError
from tinygrad_med.training import metrics


def _naive_dice(pred, target, k):
    a = b = both = 0
    for p, t in zip(pred.ravel(), target.ravel(), strict=True):
        a += p == k
        b += t == k
        both += (p == k) and (t == k)
    return 2 * both / (a + b) if a + b else float("nan")


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(2, 5, 6), (1, 3, 4, 5)]))
def test_dice_and_iou_match_the_loop_reference_in_2d_and_3d(seed, shape):
    rng = numpy.random.default_rng(seed)
    pred, target = rng.integers(0, 3, shape), rng.integers(0, 3, shape)
    dice, iou = metrics.dice_per_class(pred, target, 3), metrics.iou_per_class(pred, target, 3)
    for k in range(3):
        expected = _naive_dice(pred, target, k)
        assert dice[k] == pytest.approx(expected, nan_ok=True)
        assert iou[k] == pytest.approx(expected / (2 - expected), nan_ok=True)  # IoU = D / (2 - D)


def test_scores_are_arg_maxed_and_counts_accumulate_over_batches():
    target = numpy.array([[0, 1, 1, 2]])
    scores = numpy.zeros((1, 3, 4))
    scores[0, [0, 1, 2, 2], numpy.arange(4)] = 1.0  # predicts [0, 1, 2, 2]
    dice = metrics.dice_per_class(scores, target)
    assert dice.tolist() == [1.0, pytest.approx(2 / 3), pytest.approx(2 / 3)]
    counts = metrics.SegmentationCounts(3)
    counts.update(scores[:, :, :2], target[:, :2]).update(scores[:, :, 2:], target[:, 2:])
    assert numpy.allclose(counts.dice(), dice)
    assert numpy.isnan(metrics.dice_per_class(numpy.zeros(3, int), numpy.zeros(3, int), 2)[1])  # absent class


def test_accuracy_precision_recall():
    assert metrics.accuracy(numpy.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), numpy.array([1, 1, 1])) == 2 / 3
    pred, target = numpy.array([1, 1, 0, 0, 1]), numpy.array([1, 0, 0, 1, 1])
    assert metrics.precision(pred, target) == pytest.approx(2 / 3)
    assert metrics.recall(pred, target) == pytest.approx(2 / 3)
    assert numpy.isnan(metrics.precision(numpy.zeros(3), numpy.ones(3)))
    with pytest.raises(ShapeError, match=r"pred.shape=\(3,\); target.shape=\(4,\)"):
        metrics.accuracy(numpy.zeros(3), numpy.zeros(4))


def test_detection_f1_matches_components_at_iou_one_half():
    target = numpy.zeros((10, 12), int)
    target[1:4, 1:4] = 1  # nucleus 1: 9 pixels
    target[6:9, 6:9] = 2  # nucleus 2
    target[1:3, 8:10] = 3  # nucleus 3: missed
    pred = numpy.zeros_like(target)
    pred[1:4, 1:4] = 1  # exact
    pred[6:9, 7:10] = 1  # overlap 6 of union 12: IoU 0.5, not above -> no match
    pred[8:10, 0:2] = 1  # false positive
    result = metrics.detection_f1(pred, target)
    assert (result["tp"], result["n_pred"], result["n_true"]) == (1, 3, 3)
    assert result["f1"] == pytest.approx(2 / 6) and result["precision"] == pytest.approx(1 / 3)
    pred[6:9, 6:10] = 1  # now IoU 9/12 = 0.75
    assert metrics.detection_f1(pred, target)["tp"] == 2
    binary = metrics.detection_f1(pred, target > 0)  # a binary target is split into components
    assert binary["n_true"] == 3 and binary["tp"] == 2


def test_detection_f1_in_3d_and_bad_shapes():
    volume = numpy.zeros((4, 5, 5), int)
    volume[1:3, 1:3, 1:3] = 7
    assert metrics.detection_f1(volume > 0, volume)["f1"] == 1.0
    with pytest.raises(ShapeError, match="differ in shape"):
        metrics.detection_f1(numpy.zeros((3, 3)), numpy.zeros((3, 4)))
