"""Empty tensors (N = 0, or a size-0 dim) through conv, pooling, normalisation, softmax, losses and
sampling: PyTorch's output shape and value (nan for a 'mean' over nothing, 0 for a 'sum'), zero
gradients of the inputs' shapes, on the CPU and through the kernels (which must not be launched)."""

import math

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.nn import functional as F

rng = numpy.random.default_rng(0)
W2 = rng.standard_normal((3, 2, 2, 2))
B3 = rng.standard_normal(3)


def _labels(n):
    return numpy.zeros(n, numpy.int64)


# name -> (input shape, call(F, x, T) with T making a tensor of the library, expected output shape)
CASES = {
    "conv1d": ((0, 2, 8), lambda F, x, T: F.conv1d(x, T(W2[..., 0]), T(B3)), (0, 3, 7)),
    "conv2d": ((0, 2, 8, 8), lambda F, x, T: F.conv2d(x, T(W2), T(B3), padding=1), (0, 3, 9, 9)),
    "conv2d_stride": ((0, 2, 8, 8), lambda F, x, T: F.conv2d(x, T(W2), stride=2), (0, 3, 4, 4)),
    "conv3d": ((0, 2, 3, 4, 4), lambda F, x, T: F.conv3d(x, T(W2[:, :, None])), (0, 3, 3, 3, 3)),
    "conv_transpose2d": ((0, 3, 4, 4), lambda F, x, T: F.conv_transpose2d(x, T(W2), stride=2), (0, 2, 8, 8)),
    "max_pool2d": ((0, 2, 8, 8), lambda F, x, T: F.max_pool2d(x, 2), (0, 2, 4, 4)),
    "avg_pool2d": ((0, 2, 8, 8), lambda F, x, T: F.avg_pool2d(x, 2, padding=1), (0, 2, 5, 5)),
    "max_pool1d": ((0, 2, 8), lambda F, x, T: F.max_pool1d(x, 3, stride=2), (0, 2, 3)),
    "adaptive_max_pool2d": ((0, 2, 8, 8), lambda F, x, T: F.adaptive_max_pool2d(x, 3), (0, 2, 3, 3)),
    "adaptive_avg_pool2d": ((0, 2, 8, 8), lambda F, x, T: F.adaptive_avg_pool2d(x, 3), (0, 2, 3, 3)),
    "interpolate": ((0, 2, 4, 4), lambda F, x, T: F.interpolate(x, scale_factor=2, mode="bilinear"), (0, 2, 8, 8)),
    "batch_norm_eval": (
        (0, 2, 4),
        lambda F, x, T: F.batch_norm(x, T(numpy.zeros(2)), T(numpy.ones(2)), T(numpy.ones(2)), T(numpy.ones(2))),
        (0, 2, 4),
    ),
    "batch_norm_train": ((0, 2, 4), lambda F, x, T: F.batch_norm(x, None, None, training=True), (0, 2, 4)),
    "instance_norm": ((0, 2, 4, 4), lambda F, x, T: F.instance_norm(x), (0, 2, 4, 4)),
    "group_norm": ((0, 2), lambda F, x, T: F.group_norm(x, 2), (0, 2)),
    "group_norm_4d": ((0, 4, 3, 3), lambda F, x, T: F.group_norm(x, 2, T(numpy.ones(4))), (0, 4, 3, 3)),
    "layer_norm": ((0, 1), lambda F, x, T: F.layer_norm(x, (1,)), (0, 1)),
    "layer_norm_2d": ((0, 2, 3), lambda F, x, T: F.layer_norm(x, (2, 3), T(numpy.ones((2, 3)))), (0, 2, 3)),
    "softmax_empty_dim": ((2, 0), lambda F, x, T: F.softmax(x, 1), (2, 0)),
    "log_softmax_empty_dim": ((2, 0), lambda F, x, T: F.log_softmax(x, 1), (2, 0)),
    "softmax_empty_batch": ((0, 3), lambda F, x, T: F.softmax(x, 1), (0, 3)),
    "linear": ((0, 3), lambda F, x, T: F.linear(x, T(W2.reshape(3, 8)[:, :3]), T(B3)), (0, 3)),
    "grid_sample": (
        (0, 2, 4, 4),
        lambda F, x, T: F.grid_sample(x, T(numpy.zeros((0, 3, 3, 2))), align_corners=False),
        (0, 2, 3, 3),
    ),  # fmt: skip
    "dropout": ((0, 2, 3), lambda F, x, T: F.dropout(x, 0.5, True), (0, 2, 3)),
    "dropout2d": ((0, 2, 3, 3), lambda F, x, T: F.dropout2d(x, 0.5, True), (0, 2, 3, 3)),
}
LOSSES = {  # name -> (input shape, call, expected value); a 'mean' over nothing is nan, a 'sum' 0
    "cross_entropy_mean": ((0, 3), lambda F, x, T: F.cross_entropy(x, T(_labels(0))), math.nan),
    "cross_entropy_sum": ((0, 3), lambda F, x, T: F.cross_entropy(x, T(_labels(0)), reduction="sum"), 0.0),
    "cross_entropy_2d": ((0, 3, 4), lambda F, x, T: F.cross_entropy(x, T(numpy.zeros((0, 4), numpy.int64))), math.nan),
    "cross_entropy_smooth": ((0, 3), lambda F, x, T: F.cross_entropy(x, T(_labels(0)), label_smoothing=0.1), math.nan),
    "cross_entropy_probs": ((0, 3), lambda F, x, T: F.cross_entropy(x, T(numpy.zeros((0, 3)))), math.nan),
    "nll_loss_weight": ((0, 3), lambda F, x, T: F.nll_loss(x, T(_labels(0)), weight=T(numpy.ones(3))), math.nan),
    "nll_loss_sum": ((0, 3), lambda F, x, T: F.nll_loss(x, T(_labels(0)), reduction="sum"), 0.0),
    "mse_loss": ((0, 2), lambda F, x, T: F.mse_loss(x, T(numpy.zeros((0, 2)))), math.nan),
    "mse_loss_sum": ((0, 2), lambda F, x, T: F.mse_loss(x, T(numpy.zeros((0, 2))), reduction="sum"), 0.0),
    "l1_loss": ((0, 2), lambda F, x, T: F.l1_loss(x, T(numpy.zeros((0, 2)))), math.nan),
    "smooth_l1_loss": ((0, 2), lambda F, x, T: F.smooth_l1_loss(x, T(numpy.zeros((0, 2)))), math.nan),
    "bce": ((0, 2), lambda F, x, T: F.binary_cross_entropy(F.sigmoid(x), T(numpy.zeros((0, 2)))), math.nan),
    "bce_logits": ((0, 2), lambda F, x, T: F.binary_cross_entropy_with_logits(x, T(numpy.zeros((0, 2)))), math.nan),
}


def _ours(device, name, table, dtype=numpy.float64):
    shape, call, _ = table[name]
    x = device.tensor(numpy.zeros(shape, dtype), requires_grad=True)

    def T(a):
        a = numpy.asarray(a)
        return device.tensor(a.astype(dtype) if a.dtype.kind == "f" else a)

    return x, call(F, x, T)


@pytest.mark.parametrize("name", list(CASES))
def test_empty_input_gives_the_empty_output_and_zero_gradients(device, name):
    x, y = _ours(device, name, CASES, numpy.float32)
    assert y.shape == CASES[name][2]
    y.sum().backward()
    assert x.grad.shape == x.shape and not device.numpy(x.grad).any()


@pytest.mark.parametrize("name", list(LOSSES))
def test_empty_loss_is_nan_for_mean_and_zero_for_sum(device, name):
    x, loss = _ours(device, name, LOSSES, numpy.float32)
    assert loss.shape == ()
    numpy.testing.assert_equal(float(device.numpy(loss)), LOSSES[name][2])
    loss.backward()
    assert x.grad.shape == x.shape


def test_cross_entropy_none_keeps_the_empty_batch_shape():
    assert F.cross_entropy(tm.zeros(0, 3), tm.tensor(_labels(0)), reduction="none").shape == (0,)


def test_batch_norm_on_an_empty_batch_leaves_the_running_stats():
    mean, var = tm.tensor(numpy.full(2, 0.5)), tm.tensor(numpy.full(2, 2.0))
    F.batch_norm(tm.zeros(0, 2, 3, dtype=tm.float64), mean, var, training=True)
    numpy.testing.assert_equal(mean.numpy(), 0.5)
    numpy.testing.assert_equal(var.numpy(), 2.0)


@pytest.mark.parametrize("name", list(CASES) + list(LOSSES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    table = CASES if name in CASES else LOSSES
    shape, call, _ = table[name]
    x_torch = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    expected = call(torch.nn.functional, x_torch, lambda a: torch.as_tensor(numpy.asarray(a)))
    with tm.no_grad():
        _, y = _ours(type("cpu", (), {"tensor": staticmethod(tm.tensor)}), name, table)
    assert tuple(y.shape) == tuple(expected.shape)
    numpy.testing.assert_allclose(y.numpy(), expected.detach().numpy(), equal_nan=True)
