"""Soft Dice loss (binary/multi-class, 2D/3D) and Dice + cross-entropy: loop reference, gradchecks, bad input."""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops.dice import dice_ce_loss, dice_loss, soft_dice


def _reference_dice_loss(logits, labels, eps, squared, include_background=True):
    """1 - mean_c D_c written straight from Milletari et al., eq. 1, with loops over classes."""
    if logits.shape[1] == 1:
        probs = 1.0 / (1.0 + numpy.exp(-logits))
        onehot = (labels.reshape(probs.shape) == 1).astype(float)
    else:
        shifted = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        onehot = numpy.stack([(labels == c) for c in range(logits.shape[1])], axis=1).astype(float)
    scores = []
    for c in range(probs.shape[1]):
        p, g = probs[:, c].ravel(), onehot[:, c].ravel()
        power = 2 if squared else 1
        scores.append((2 * numpy.sum(p * g) + eps) / (numpy.sum(p**power) + numpy.sum(g**power) + eps))
    if not include_background and probs.shape[1] > 1:
        scores = scores[1:]
    return 1.0 - numpy.mean(scores)


CASES = [((2, 3, 4, 5), 3), ((2, 1, 4, 5), 2), ((1, 4, 3, 3, 4), 4), ((2, 1, 2, 3, 3), 2)]  # 2D/3D, multi/binary


@pytest.mark.parametrize("shape,classes", CASES)
@pytest.mark.parametrize("squared", [False, True])
def test_forward_matches_the_loop_reference(shape, classes, squared):
    rng = numpy.random.default_rng(0)
    logits = rng.normal(size=shape)
    labels = rng.integers(0, classes, (shape[0],) + shape[2:])
    value = dice_loss(tm.tensor(logits), labels, eps=0.5, squared=squared).item()
    assert value == pytest.approx(_reference_dice_loss(logits, labels, 0.5, squared), rel=1e-6)
    if shape[1] > 1:
        value = dice_loss(tm.tensor(logits), labels, include_background=False).item()
        assert value == pytest.approx(_reference_dice_loss(logits, labels, 1.0, False, False), rel=1e-6)


@pytest.mark.parametrize("shape,classes", CASES)
def test_gradcheck_dice_and_dice_ce(shape, classes):
    rng = numpy.random.default_rng(1)
    x = tm.tensor(rng.normal(size=shape), dtype=tm.float64, requires_grad=True)
    labels = rng.integers(0, classes, (shape[0],) + shape[2:])
    assert tm.gradcheck(lambda a: dice_loss(a, labels, squared=True), [x]).passed
    assert tm.gradcheck(lambda a: dice_ce_loss(a, labels, include_background=False), [x]).passed


def test_perfect_prediction_gives_zero_loss_and_soft_dice_per_class():
    labels = numpy.array([[[0, 1], [1, 2]]])
    logits = numpy.stack([(labels == c) * 40.0 - 20.0 for c in range(3)], axis=1)
    assert dice_loss(tm.tensor(logits), labels, eps=0.0).item() == pytest.approx(0.0, abs=1e-6)
    probs = tm.tensor(numpy.full((1, 2, 2, 2), 0.5))
    onehot = tm.tensor(numpy.stack([labels[:, :, :] == 0, labels == 1], axis=1).astype(float))
    assert_close(
        soft_dice(probs, onehot, eps=0.0).numpy(),
        numpy.array([2 * 0.5 / (2 + 1), 2 * 1.0 / (2 + 2)]),
        rtol=1e-6,
        atol=1e-9,
    )


def test_dice_ce_adds_cross_entropy():
    rng = numpy.random.default_rng(2)
    logits, labels = tm.tensor(rng.normal(size=(2, 3, 4, 4))), rng.integers(0, 3, (2, 4, 4))
    total = dice_ce_loss(logits, labels, ce_weight=1.0).item()
    ce = tm.nn.functional.cross_entropy(logits, tm.tensor(labels)).item()
    assert total == pytest.approx(dice_loss(logits, labels).item() + ce, rel=1e-6)
    binary = rng.integers(0, 2, (2, 4, 4))
    single = tm.tensor(rng.normal(size=(2, 1, 4, 4)))
    bce = tm.nn.functional.binary_cross_entropy_with_logits(single, tm.tensor(binary[:, None].astype(numpy.float32)))
    assert dice_ce_loss(single, binary).item() == pytest.approx(dice_loss(single, binary).item() + bce.item(), rel=1e-5)


def test_bad_input():
    logits = tm.randn(2, 3, 4, 4)
    with pytest.raises(ShapeError, match=r"target must be labels \(N, \*S\) = \(2, 4, 4\).*target.shape=\(2, 4, 5\)"):
        dice_loss(logits, numpy.zeros((2, 4, 5), int))
    with pytest.raises(ShapeError, match="labels must be in 0..2"):
        dice_loss(logits, numpy.full((2, 4, 4), 3))
    with pytest.raises(ShapeError, match=r"input.shape=\(2, 3\) as \(N, C, \*S\)"):
        dice_loss(tm.randn(2, 3), numpy.zeros(2, int))
    with pytest.raises(DTypeError, match="float Tensor of logits"):
        dice_loss(tm.zeros(2, 3, 4, dtype=tm.int64), numpy.zeros((2, 4), int))
    with pytest.raises(ShapeError, match="both be"):
        soft_dice(tm.randn(2, 3, 4), tm.randn(2, 3, 5))


@pytest.mark.parametrize("shape,classes", [((2, 3, 4, 5), 3), ((1, 1, 2, 3, 4), 2)])
def test_dice_ce_agrees_on_every_device(device, shape, classes):
    """The composed loss runs through each backend's softmax/sigmoid/cross-entropy kernels."""
    rng = numpy.random.default_rng(3)
    logits = rng.normal(size=shape).astype(numpy.float32)
    labels = rng.integers(0, classes, (shape[0],) + shape[2:])

    def run(make):
        x = make(logits, requires_grad=True)
        loss = dice_ce_loss(x, make(labels), include_background=False)
        loss.backward()
        return loss, x.grad

    loss, gx = run(device.tensor)
    loss_ref, gx_ref = device.reference(run, lambda a, requires_grad=False: tm.tensor(a, requires_grad=requires_grad))
    assert loss.dtype == numpy.float32 and gx.dtype == numpy.float32
    assert_close(loss, loss_ref)
    assert_close(gx, gx_ref)
