"""Activation functions (ops/activation.py, kernels/activation.cu, nn/activation.py).

(a) forward against naive per-element loops written from the slide formulas, (b) gradient
checks in float64, on every device (the kernel backward passes too), (c) parity of the kernel
path with the CPU path, (d) stability at +-1000 and bad input.  softmax and log_softmax
(ops/softmax.py, kernels/softmax.cu): tests/test_softmax.py.
"""

import math

import numpy
import pytest
from conftest import assert_close, forward_backward
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops import activation as A

# ----------------------------------------------------------------------------- naive references (the slides)


def _naive(fn, x):
    return numpy.array([fn(float(v)) for v in numpy.asarray(x).reshape(-1)]).reshape(numpy.shape(x))


NAIVE = {
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": lambda v: (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)),
    "relu": lambda v: max(0.0, v),
    "leaky_relu": lambda v: max(0.01 * v, v),
    "elu": lambda v: v if v >= 0 else 1.0 * (math.exp(v) - 1),
    "gelu": lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))),
    "softplus": lambda v: math.log(1 + math.exp(v)),
    "silu": lambda v: v / (1 + math.exp(-v)),
}
POINTWISE = {
    "sigmoid": A.sigmoid,
    "tanh": A.tanh,
    "relu": A.relu,
    "leaky_relu": A.leaky_relu,
    "elu": A.elu,
    "gelu": A.gelu,
    "softplus": A.softplus,
    "silu": A.silu,
}
KERNEL_OPS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"]  # the ones with kernels in activation.cu


def _away_from_kinks(shape, seed=0):
    """Random values with |x| >= 0.05, so that finite differences never straddle ReLU's kink at 0."""
    x = numpy.random.default_rng(seed).uniform(-3, 3, shape)
    return numpy.where(numpy.abs(x) < 0.05, 0.5, x)


@pytest.mark.parametrize("name", sorted(NAIVE))
def test_pointwise_forward_matches_slide_formula(name):
    x = _away_from_kinks((3, 7))
    assert_close(POINTWISE[name](tm.tensor(x)), _naive(NAIVE[name], x), rtol=1e-12, atol=1e-12)


def test_leaky_relu_with_slide_slope_and_elu_alpha():
    x = _away_from_kinks((13,))
    assert_close(A.leaky_relu(tm.tensor(x), 0.1), _naive(lambda v: max(0.1 * v, v), x), rtol=1e-12)
    assert_close(A.elu(tm.tensor(x), alpha=0.5), _naive(lambda v: v if v >= 0 else 0.5 * math.expm1(v), x), rtol=1e-12)


def test_maxout_matches_the_slide_formula():
    """y_i = max(w_1 . x + b_1, w_2 . x + b_2) for every output unit i, written as a loop."""
    rng = numpy.random.default_rng(2)
    layer = nn.Maxout(4, 3, num_pieces=2, dtype=tm.float64)
    x = rng.standard_normal((5, 4))
    W, b = layer.weight.numpy(), layer.bias.numpy()
    expected = numpy.empty((5, 3))
    for n in range(5):
        for i in range(3):
            w1, w2, b1, b2 = W[2 * i], W[2 * i + 1], b[2 * i], b[2 * i + 1]
            expected[n, i] = max(w1 @ x[n] + b1, w2 @ x[n] + b2)
    assert_close(layer(tm.tensor(x)), expected, rtol=1e-12)


def test_maxout_groups_consecutive_features_along_dim():
    x = numpy.arange(24.0).reshape(2, 6, 2)
    x[0, 1, 0] = 100.0
    y = A.maxout(tm.tensor(x), 3, dim=1).numpy()
    assert y.shape == (2, 2, 2)
    numpy.testing.assert_array_equal(y, x.reshape(2, 2, 3, 2).max(axis=2))


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_gradcheck_cpu(name):
    x = tm.tensor(_away_from_kinks((4, 5)), requires_grad=True)
    tm.gradcheck(POINTWISE[name], [x], atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", KERNEL_OPS)
def test_pointwise_gradcheck_every_device(device, name):
    x = device.tensor(_away_from_kinks((3, 5), seed=3), requires_grad=True)
    tm.gradcheck(POINTWISE[name], [x], atol=1e-7, rtol=1e-5)


def test_option_gradchecks():
    x = tm.tensor(_away_from_kinks((4, 5)), requires_grad=True)
    tm.gradcheck(lambda t: A.leaky_relu(t, 0.2), [x], atol=1e-7, rtol=1e-5)
    tm.gradcheck(lambda t: A.elu(t, alpha=1.7), [x], atol=1e-7, rtol=1e-5)
    tm.gradcheck(lambda t: A.softplus(t, beta=2.0, threshold=3.0), [x], atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_maxout_gradcheck(dim):
    x = tm.tensor(numpy.random.default_rng(5).permutation(60).reshape(3, 4, 5) / 7.0, requires_grad=True)
    tm.gradcheck(lambda t: A.maxout(t, 2 if dim == 1 else (3 if dim == 0 else 5), dim), [x], atol=1e-7, rtol=1e-5)


def test_maxout_layer_gradcheck_reaches_weights():
    layer = nn.Maxout(3, 2, num_pieces=3, dtype=tm.float64)
    x = tm.tensor(numpy.random.default_rng(6).standard_normal((4, 3)), requires_grad=True)
    tm.gradcheck(
        lambda t, W, b: A.maxout(tm.nn.functional.linear(t, W, b), 3),
        [x, layer.weight, layer.bias],
        atol=1e-7,
        rtol=1e-5,
    )


def test_maxout_sends_gradient_to_the_first_maximum_only():
    x = tm.tensor([[1.0, 3.0, 3.0, 0.0]], requires_grad=True)
    A.maxout(x, 2).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 1.0, 0.0]])
    x = tm.tensor([[2.0, 2.0]], requires_grad=True)
    A.maxout(x, 2).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0]])  # ties: the first piece wins


# ----------------------------------------------------------------------------- kernel parity (float32)


@pytest.mark.parametrize("name", KERNEL_OPS + ["softplus", "silu"])
def test_pointwise_parity(device, name):
    x = _away_from_kinks((2, 3, 37), seed=7).astype(numpy.float32)
    gy = numpy.random.default_rng(8).standard_normal(x.shape).astype(numpy.float32)
    t = device.tensor(x, requires_grad=True)
    y = POINTWISE[name](t)
    y.backward(device.tensor(gy))
    ref = device.reference(lambda: forward_backward(POINTWISE[name], x, gy))
    assert y.dtype == numpy.float32 and t.grad.dtype == numpy.float32
    assert_close(y, ref[0])
    assert_close(t.grad, ref[1])


@settings(max_examples=15, deadline=None)
@given(lead=st.integers(1, 3), groups=st.integers(1, 4), pieces=st.integers(1, 4), tail=st.integers(1, 3))
def test_maxout_output_shape_and_gradient_count(lead, groups, pieces, tail):
    x = tm.tensor(numpy.random.default_rng(0).standard_normal((lead, groups * pieces, tail)), requires_grad=True)
    y = A.maxout(x, pieces, dim=1)
    assert y.shape == (lead, groups, tail)
    y.sum().backward()
    assert x.grad.numpy().sum() == y.numel()  # exactly one winner per group
    numpy.testing.assert_array_equal(numpy.isin(x.grad.numpy(), [0.0, 1.0]), True)


# ----------------------------------------------------------------------------- stability at +-1000


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_limits_at_plus_minus_1000_are_exact_without_warnings(device, dtype):
    x = numpy.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
    expected = {
        "sigmoid": [0.0, math.exp(-100), 0.5, 1.0, 1.0],
        "tanh": [-1.0, -1.0, 0.0, 1.0, 1.0],
        "relu": [0.0, 0.0, 0.0, 100.0, 1000.0],
        "elu": [-1.0, -1.0, 0.0, 100.0, 1000.0],
        "softplus": [0.0, math.exp(-100), math.log(2), 100.0, 1000.0],
        "silu": [-0.0, -100 * math.exp(-100), 0.0, 100.0, 1000.0],
        "gelu": [-0.0, -0.0, 0.0, 100.0, 1000.0],
    }
    results = {}
    with numpy.errstate(all="raise"):  # overflow, 0/0, inf-inf and underflow all raise inside the ops
        for name in expected:
            t = device.tensor(x, requires_grad=True)
            y = POINTWISE[name](t)
            y.backward(device.tensor(numpy.ones_like(x)))
            results[name] = (device.numpy(y), device.numpy(t.grad))
    for name, values in expected.items():
        assert_close(results[name][0], numpy.array(values, dtype=dtype), rtol=1e-6, atol=1e-37)  # float32 denormals
        assert numpy.isfinite(results[name][1]).all(), name


# ----------------------------------------------------------------------------- modules and bad input


def test_modules_call_their_ops():
    x = tm.tensor(_away_from_kinks((2, 6)))
    pairs = [
        (nn.ReLU(), A.relu(x)),
        (nn.Sigmoid(), A.sigmoid(x)),
        (nn.Tanh(), A.tanh(x)),
        (nn.LeakyReLU(0.1), A.leaky_relu(x, 0.1)),
        (nn.ELU(0.5), A.elu(x, 0.5)),
        (nn.GELU(), A.gelu(x)),
        (nn.Softplus(2.0), A.softplus(x, 2.0)),
        (nn.SiLU(), A.silu(x)),
        (nn.Softmax(dim=1), A.softmax(x, 1)),
        (nn.LogSoftmax(dim=0), A.log_softmax(x, 0)),
    ]
    for module, expected in pairs:
        assert_close(module(x), expected, rtol=0, atol=0)
    layer = nn.Maxout(6, 4, num_pieces=3)  # float32 weights: a float64 input is refused, as PyTorch's Linear does
    assert layer(x.float()).shape == (2, 4) and layer.weight.shape == (12, 6) and layer.num_parameters() == 12 * 6 + 12
    assert "num_pieces=3" in repr(layer)


def test_tensor_methods_delegate():
    x = tm.tensor(_away_from_kinks((2, 3)))
    assert_close(x.sigmoid(), A.sigmoid(x), rtol=0, atol=0)
    assert_close(x.log_softmax(1), A.log_softmax(x, 1), rtol=0, atol=0)


def test_int_input_is_refused():
    with pytest.raises(DTypeError, match="relu: expected a float tensor, got dtype int64"):
        A.relu(tm.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="sigmoid: expected a Tensor, got list"):
        A.sigmoid([1.0, 2.0])


def test_bad_maxout_groups_and_gelu_options_are_refused():
    with pytest.raises(ShapeError, match=r"maxout: size 5 of dim 1 is not a multiple of num_pieces=2 \(x.shape=\(3, 5"):
        A.maxout(tm.ones(3, 5), 2, dim=1)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'sigmoid'"):
        A.gelu(tm.ones(2), approximate="sigmoid")


def test_public_names_have_docstrings():
    from tinygrad_med.nn import activation as nn_activation
    from tinygrad_med.nn import loss as nn_loss
    from tinygrad_med.ops import loss as ops_loss

    for module in (A, ops_loss, nn_activation, nn_loss):
        for name in module.__all__:
            assert (getattr(module, name).__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"


def test_pytorch_keyword_arguments(device):
    x = device.tensor(_away_from_kinks((2, 5)).astype(numpy.float32), requires_grad=True)
    assert_close(A.relu(x, inplace=True), A.relu(x), rtol=0, atol=0)
    assert_close(x, _away_from_kinks((2, 5)).astype(numpy.float32), rtol=0, atol=0)  # never overwritten
    y = A.log_softmax(x, dim=1, dtype=tm.float64)
    assert y.dtype == numpy.float64
    y.backward(device.tensor(numpy.ones((2, 5))))  # float64 gradient flows back into the float32 input
    assert x.grad.dtype == numpy.float32
    assert_close(x.grad, 1 - 5 * A.softmax(x, 1).numpy(), rtol=1e-5, atol=1e-6)
    z = A.sigmoid(x)
    x.grad = None
    z.backward(device.tensor(numpy.ones((2, 5))))  # a float64 upstream gradient into a float32 kernel
    assert_close(x.grad, (z * (1 - z)).numpy(), rtol=1e-6, atol=1e-7)
