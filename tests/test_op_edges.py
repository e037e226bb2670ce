"""PyTorch's answers at the edges: one dtype for the operands of products and normalisation parameters
(no silent promotion), and dropout keeping a 0-d tensor 0-d with every variant and p = 0 / p = 1."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F

rng = numpy.random.default_rng(0)
X = rng.standard_normal((2, 3, 4, 4))
V = rng.standard_normal((2, 3))

# call(F, L, T, x, v) -> output; T(array, dtype name) makes a tensor of the library L
MIXED = {
    "linear_W_f16": lambda F, L, T, x, v: F.linear(v, T(numpy.ones((4, 3)), "float16")),
    "linear_W_f64": lambda F, L, T, x, v: F.linear(v, T(numpy.ones((4, 3)), "float64")),
    "linear_b_f64": lambda F, L, T, x, v: F.linear(v, T(numpy.ones((4, 3)), "float32"), T(numpy.ones(4), "float64")),
    "matmul_f64": lambda F, L, T, x, v: L.matmul(v, T(numpy.ones((3, 4)), "float64")),
    "matmul_operator": lambda F, L, T, x, v: v @ T(numpy.ones((3, 4)), "float64"),
    "matmul_int_float": lambda F, L, T, x, v: L.matmul(T(numpy.ones((2, 3)), "int64"), v.T),
    "matmul_int64_int32": lambda F, L, T, x, v: L.matmul(
        T(numpy.ones((2, 3)), "int64"), T(numpy.ones((3, 2)), "int32")
    ),
    "conv2d_W_f64": lambda F, L, T, x, v: F.conv2d(x, T(numpy.ones((2, 3, 2, 2)), "float64")),
    "conv2d_b_f64": lambda F, L, T, x, v: F.conv2d(
        x, T(numpy.ones((2, 3, 2, 2)), "float32"), T(numpy.ones(2), "float64")
    ),
    "conv_transpose2d_W_f64": lambda F, L, T, x, v: F.conv_transpose2d(x, T(numpy.ones((3, 2, 2, 2)), "float64")),
    "batch_norm_stats_f64": lambda F, L, T, x, v: F.batch_norm(
        x, T(numpy.zeros(3), "float64"), T(numpy.ones(3), "float64")
    ),  # fmt: skip
    "batch_norm_weight_f64": lambda F, L, T, x, v: F.batch_norm(
        x, None, None, T(numpy.ones(3), "float64"), training=True
    ),  # fmt: skip
    "layer_norm_weight_f64": lambda F, L, T, x, v: F.layer_norm(x, (4,), T(numpy.ones(4), "float64")),
    "group_norm_bias_f64": lambda F, L, T, x, v: F.group_norm(x, 3, None, T(numpy.ones(3), "float64")),
    "instance_norm_weight_f64": lambda F, L, T, x, v: F.instance_norm(x, weight=T(numpy.ones(3), "float64")),
    "cross_entropy_weight_f64": lambda F, L, T, x, v: F.cross_entropy(
        v, T(numpy.array([0, 1]), "int64"), weight=T(numpy.ones(3), "float64")
    ),  # fmt: skip
    "bce_target_f64": lambda F, L, T, x, v: F.binary_cross_entropy(F.sigmoid(v), T(numpy.ones((2, 3)), "float64")),
}


def _ours(name):
    def T(a, dtype):
        return tm.tensor(numpy.asarray(a, dtype=dtype))

    return MIXED[name](F, tm, T, tm.tensor(X.astype(numpy.float32)), tm.tensor(V.astype(numpy.float32)))


@pytest.mark.parametrize("name", list(MIXED))
def test_mixed_dtypes_are_refused(name):
    with pytest.raises(DTypeError, match=r"dtype"):
        _ours(name)


@pytest.mark.parametrize("name", list(MIXED))
def test_torch_refuses_the_same_mixes(name):
    torch = pytest.importorskip("torch")

    def T(a, dtype):
        return torch.tensor(numpy.asarray(a, dtype=dtype))

    x, v = torch.tensor(X, dtype=torch.float32), torch.tensor(V, dtype=torch.float32)
    with pytest.raises(RuntimeError):
        MIXED[name](torch.nn.functional, torch, T, x, v)


def test_linear_message_names_both_dtypes():
    with pytest.raises(DTypeError, match=r"linear: expected all operands to have the same dtype, got x float32, "):
        F.linear(tm.zeros(2, 3), tm.zeros(4, 3, dtype=tm.float16))


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_matmul_and_linear_are_computed_as_pytorch(dtype):
    a, b = numpy.arange(6).reshape(2, 3).astype(dtype), numpy.arange(12).reshape(3, 4).astype(dtype)
    y = tm.matmul(tm.tensor(a), tm.tensor(b))
    assert y.dtype == numpy.dtype(dtype)
    numpy.testing.assert_array_equal(y.numpy(), a @ b)
    numpy.testing.assert_array_equal(F.linear(tm.tensor(a), tm.tensor(b.T.copy())).numpy(), a @ b)


def test_instance_norm_running_stats_may_differ_in_dtype_as_pytorch():
    mean, var = tm.zeros(3, dtype=tm.float64), tm.ones(3, dtype=tm.float64)
    assert F.instance_norm(tm.tensor(X.astype(numpy.float32)), mean, var).shape == X.shape
    y = F.instance_norm(tm.tensor(X.astype(numpy.float32)), mean, var, use_input_stats=False)
    assert y.dtype == numpy.float32 and mean.dtype == numpy.float64


# ----------------------------------------------------------------------------- dropout at the edges

DROPOUTS = {
    "dropout": lambda F, x, p: F.dropout(x, p, True),
    "alpha_dropout": lambda F, x, p: F.alpha_dropout(x, p, True),
}


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("name", list(DROPOUTS))
def test_dropout_keeps_a_0d_tensor_0d(device, name, p):
    x = device.tensor(numpy.array(1.5), requires_grad=True)
    y = DROPOUTS[name](F, x, p)
    assert y.shape == ()
    y.backward()
    assert x.grad.shape == ()


@pytest.mark.parametrize("module", [nn.Dropout(0.5), nn.AlphaDropout(0.5)], ids=repr)
def test_dropout_modules_keep_a_0d_tensor_0d(module):
    assert module.train()(tm.tensor(1.5)).shape == ()


@pytest.mark.parametrize(
    "call",
    [
        lambda F, x, p: F.dropout(x, p, True),
        lambda F, x, p: F.dropout2d(x, p, True),
        lambda F, x, p: F.dropout3d(x, p, True),
        lambda F, x, p: F.dropout1d(x[0], p, True),
    ],
)
def test_dropout_p1_gives_zeros_and_p0_the_identity(device, call):
    x = device.tensor(X)
    numpy.testing.assert_array_equal(device.numpy(call(F, x, 1.0)), 0.0)
    identity = call(F, x, 0.0)
    numpy.testing.assert_array_equal(device.numpy(identity), X[0] if identity.ndim == 3 else X)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_alpha_dropout_p0_p1_match_torch(p):
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.alpha_dropout(torch.tensor(X), p, True).numpy()
    numpy.testing.assert_allclose(F.alpha_dropout(tm.tensor(X), p, True).numpy(), expected)


@pytest.mark.parametrize("divisor", [-2, 3])
def test_avg_pool_divisor_override_may_be_negative(device, divisor):
    """PyTorch divides by any non-zero divisor_override; the kernel used to ignore a negative one."""
    x = device.tensor(X, requires_grad=True)
    y = F.avg_pool2d(x, 2, divisor_override=divisor)
    y.sum().backward()
    windows = X.reshape(2, 3, 2, 2, 2, 2).sum(axis=(3, 5))
    numpy.testing.assert_allclose(device.numpy(y), windows / divisor, rtol=1e-12)
    numpy.testing.assert_allclose(device.numpy(x.grad), numpy.full(X.shape, 1 / divisor), rtol=1e-12)


# ----------------------------------------------------------------------------- modules: PyTorch's keywords


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.BatchNorm2d(3, bias=False),
        lambda nn: nn.InstanceNorm2d(3, affine=True, bias=False),
        lambda nn: nn.GroupNorm(1, 3, bias=False),
    ],
)
def test_norm_layers_take_bias_false(make):
    """PyTorch 2's keyword-only bias=False: gamma but no beta, and no 'bias' entry in the state_dict."""
    layer = make(nn)
    assert layer.bias is None and layer.weight is not None and "bias" not in layer.state_dict()
    assert "bias=False" in repr(layer)
    x32 = X.astype(numpy.float32)  # the layer's dtype: PyTorch refuses float64 input into float32 parameters
    y = layer.train()(tm.tensor(x32, requires_grad=True))
    y.sum().backward()
    torch = pytest.importorskip("torch")
    reference = make(torch.nn).train()
    assert list(layer.state_dict()) == list(reference.state_dict()) and repr(layer) == repr(reference)
    numpy.testing.assert_allclose(y.numpy(), reference(torch.tensor(x32)).detach().numpy(), atol=1e-5)


def test_linear_forward_takes_input_by_keyword():
    layer, v = nn.Linear(3, 2), tm.tensor(V.astype(numpy.float32))
    numpy.testing.assert_array_equal(layer(input=v).numpy(), layer(v).numpy())


def test_kl_div_target_gradient_is_nan_where_the_target_is_not_positive():
    """d(t log t)/dt = log t + 1 has no value at t <= 0; PyTorch gives nan there (the input gradient is -t)."""
    x, t = tm.tensor([0.5, -1.0, 0.2], requires_grad=True), tm.tensor([0.3, 0.0, -1.0], requires_grad=True)
    F.kl_div(x, t, reduction="sum").backward()
    numpy.testing.assert_allclose(t.grad.numpy(), [numpy.log(0.3) + 1 - 0.5, numpy.nan, numpy.nan], rtol=1e-6)
    numpy.testing.assert_allclose(x.grad.numpy(), [-0.3, -0.0, 1.0])


# ----------------------------------------------------------------------------- feature_alpha_dropout


def test_feature_alpha_dropout_keeps_or_saturates_whole_channels(device):
    """One mask entry per (n, c): a constant plane stays constant; SELU's mean 0 / variance 1 are kept."""
    x = numpy.random.default_rng(2).standard_normal((64, 32, 3, 3))
    y = device.numpy(F.feature_alpha_dropout(device.tensor(numpy.ones((4, 8, 3, 3))), 0.5, True))
    assert numpy.ptp(y.reshape(32, 9), axis=1).max() == 0 and len(numpy.unique(y)) == 2
    y = device.numpy(F.feature_alpha_dropout(device.tensor(x), 0.3, True))
    assert abs(y.mean()) < 0.05 and abs(y.var() - 1) < 0.05
    gx = device.tensor(x, requires_grad=True)
    out = F.feature_alpha_dropout(gx, 0.3, True)
    out.sum().backward()
    g, planes = device.numpy(gx.grad).reshape(-1, 9), device.numpy(out).reshape(-1, 9)
    assert numpy.ptp(g, axis=1).max() == 0 and len(numpy.unique(g)) == 2  # 0 (saturated) or a (kept)
    assert numpy.ptp(planes[g[:, 0] == 0], axis=1).max() < 1e-12  # a saturated plane is constant


def test_feature_alpha_dropout_edges_as_pytorch():
    x = tm.tensor(X)
    assert F.feature_alpha_dropout(x, 0.5, False) is x and F.feature_alpha_dropout(x, 0.0, True) is x
    numpy.testing.assert_array_equal(F.feature_alpha_dropout(tm.ones(5), 1.0, True).numpy(), 0.0)
    assert F.feature_alpha_dropout(tm.tensor(1.5), 0.5, False).shape == ()
    with pytest.raises(ShapeError, match="feature dropout needs at least 2 dims"):
        F.feature_alpha_dropout(tm.ones(5), 0.5, True)
    assert nn.FeatureAlphaDropout(0.2).train()(x).shape == X.shape


@pytest.mark.parametrize(
    "call, shape, planes",
    [
        (lambda x: F.dropout2d(x, 0.5, True), (8, 8), 64),  # PyTorch: one entry per (N, C), here per element
        (lambda x: F.dropout2d(x, 0.5, True), (4, 8, 2, 2, 3), 32),  # per (N, C), shared by 12 values
        (lambda x: F.dropout3d(x, 0.5, True), (16, 3, 4), 16),  # unbatched: one entry per index of dim 0
    ],
)
def test_channel_dropout_takes_pytorchs_deprecated_ranks_with_its_warning(device, call, shape, planes):
    with pytest.warns(UserWarning, match=r"Received a \d-D input to dropout\dd, which is deprecated"):
        y = device.numpy(call(device.tensor(numpy.ones(shape))))
    blocks = y.reshape(planes, -1)
    assert numpy.ptp(blocks, axis=1).max() == 0 and set(numpy.unique(blocks)) == {0.0, 2.0}


def test_dropout_in_eval_is_the_identity_for_any_dtype_as_pytorch():
    ints = tm.tensor(numpy.arange(3))
    assert F.dropout(ints, 0.5, False) is ints and F.alpha_dropout(ints, 0.5, False) is ints
    with pytest.raises(DTypeError, match="dropout: x has dtype int64"):
        F.dropout(ints, 0.5, True)
    with pytest.raises(ShapeError, match=r"dropout2d: expected a 3-D or 4-D input, got 1-D"):
        F.dropout2d(tm.ones(3), 0.5, True)
