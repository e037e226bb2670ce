"""The int-tuple arguments of conv, pooling and resampling (ops/int_args.py): every bad value refused,
with a message naming the argument and the value, wherever PyTorch refuses it too.

On purpose stricter than PyTorch: its Conv modules accept a bad size at construction and refuse it in
forward (we refuse at construction), take kernel_size=True as 1, and max_unpool with kernel_size 0,
stride 0 or a negative padding returns an empty or oddly sized output; we refuse all of these.
"""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.int_args import check_int, int_tuple

X = numpy.random.default_rng(0).standard_normal((1, 2, 8, 8)).astype(numpy.float32)
W = numpy.random.default_rng(1).standard_normal((2, 2, 2, 2)).astype(numpy.float32)
IDX = numpy.zeros((1, 2, 8, 8), numpy.int64)

# (call on a library: lib.F, lib.nn, x, W, indices), the argument's name. Each is refused by PyTorch too.
CALLS = {
    "conv2d stride": (lambda F, nn, x, w, i, v: F.conv2d(x, w, stride=v), "stride"),
    "conv2d padding": (lambda F, nn, x, w, i, v: F.conv2d(x, w, padding=v), "padding"),
    "conv2d dilation": (lambda F, nn, x, w, i, v: F.conv2d(x, w, dilation=v), "dilation"),
    "conv_transpose2d stride": (lambda F, nn, x, w, i, v: F.conv_transpose2d(x, w, stride=v), "stride"),
    "conv_transpose2d dilation": (lambda F, nn, x, w, i, v: F.conv_transpose2d(x, w, dilation=v), "dilation"),
    "Conv2d kernel_size": (lambda F, nn, x, w, i, v: nn.Conv2d(2, 2, v)(x), "kernel_size"),
    "Conv1d kernel_size": (lambda F, nn, x, w, i, v: nn.Conv1d(2, 2, v)(x[0]), "kernel_size"),
    "Conv3d kernel_size": (lambda F, nn, x, w, i, v: nn.Conv3d(1, 2, v)(x[None]), "kernel_size"),
    "ConvTranspose2d kernel_size": (lambda F, nn, x, w, i, v: nn.ConvTranspose2d(2, 2, v)(x), "kernel_size"),
    "Conv2d stride": (lambda F, nn, x, w, i, v: nn.Conv2d(2, 2, 2, stride=v)(x), "stride"),
    "Conv2d dilation": (lambda F, nn, x, w, i, v: nn.Conv2d(2, 2, 2, dilation=v)(x), "dilation"),
    "max_pool2d kernel_size": (lambda F, nn, x, w, i, v: F.max_pool2d(x, v), "kernel_size"),
    "max_pool2d stride": (lambda F, nn, x, w, i, v: F.max_pool2d(x, 2, stride=v), "stride"),
    "max_pool1d kernel_size": (lambda F, nn, x, w, i, v: F.max_pool1d(x[0], v), "kernel_size"),
    "avg_pool2d kernel_size": (lambda F, nn, x, w, i, v: F.avg_pool2d(x, v), "kernel_size"),
    "avg_pool3d kernel_size": (lambda F, nn, x, w, i, v: F.avg_pool3d(x, v), "kernel_size"),
    "MaxPool2d kernel_size": (lambda F, nn, x, w, i, v: nn.MaxPool2d(v)(x), "kernel_size"),
    "AvgPool1d kernel_size": (lambda F, nn, x, w, i, v: nn.AvgPool1d(v)(x[0]), "kernel_size"),
    "interpolate size": (lambda F, nn, x, w, i, v: F.interpolate(x, size=v), "size"),
    "max_unpool2d kernel_size (float)": (lambda F, nn, x, w, i, v: F.max_unpool2d(x, i, v), "kernel_size"),
}
# values refused for a size or a stride: zero, negative, float, bool, a tuple of the wrong length
BAD_POSITIVE = [0, -1, 2.5, 2.0, True, (2, 2, 2, 2)]


def _ours(case, value):
    call, _ = CALLS[case]
    return call(F, nn, tm.tensor(X), tm.tensor(W), tm.tensor(IDX), value)


@pytest.mark.parametrize("value", BAD_POSITIVE, ids=repr)
@pytest.mark.parametrize("case", list(CALLS))
def test_bad_size_refused_naming_the_argument(case, value):
    if case == "conv2d padding" and value == 0:
        pytest.skip("padding 0 is valid")
    if case.startswith(("max_unpool2d", "interpolate")) and value in (0, -1) and not isinstance(value, bool):
        pytest.skip("checked in test_unpool_and_interpolate_refuse_non_positive")
    name = CALLS[case][1]
    with pytest.raises((ShapeError, DTypeError), match=rf"{name} (must be|needs) .*got .*{_value_pattern(value)}"):
        _ours(case, value)


def _value_pattern(value):
    return r"\(2, 2, 2, 2\)" if isinstance(value, tuple) else str(value)


def test_unpool_and_interpolate_refuse_non_positive():
    x, i = tm.tensor(X), tm.tensor(IDX)
    for v in (0, -1):
        with pytest.raises(ShapeError, match=rf"max_unpool2d: kernel_size must be a positive int.*got {v}"):
            F.max_unpool2d(x, i, v)
        with pytest.raises(ShapeError, match=r"interpolate: size must be a positive int"):
            F.interpolate(x, size=v)


def test_conv2d_kernel_size_0_refused_not_9x9():
    """The 8x8 input that kernel_size=0 used to turn into 9x9: refused at construction, naming the argument."""
    with pytest.raises(ShapeError, match=r"Conv2d: kernel_size must be a positive int .*got 0"):
        nn.Conv2d(2, 2, kernel_size=0)
    with pytest.raises(DTypeError, match=r"Conv2d: kernel_size must be .*got 2.5 \(float\)"):
        nn.Conv2d(2, 2, kernel_size=2.5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nn.Conv2d(2, 2, 2, padding=-1), r"Conv2d: padding must be a non-negative int.*got -1"),
        (lambda: nn.Conv2d(2, 2, 2, groups=0), r"Conv2d: groups must be an int >= 1, got 0"),
        (lambda: nn.Conv2d(3, 2, 2, groups=2), r"in_channels=3 and out_channels=2 must be divisible by groups=2"),
        (lambda: nn.Conv2d(2, 2, 2, padding="same", stride=2), r"padding='same' is not supported for strided"),
        (lambda: nn.ConvTranspose2d(2, 2, 2, output_padding=-1), r"output_padding must be a non-negative int"),
        (lambda: nn.Conv3d(2, 2, (1, 2)), r"Conv3d: kernel_size must be .*tuple of 3.*got \(1, 2\)"),
        (lambda: nn.MaxUnpool2d(2, padding=-1), r"MaxUnpool2d: padding must be a non-negative int"),
    ],
)
def test_module_arguments_refused_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x, w: F.conv2d(x, w, groups=0), ShapeError, r"groups must be an int >= 1, got 0"),
        (lambda x, w: F.conv2d(x, w, groups=1.0), DTypeError, r"groups must be an int >= 1, got 1.0"),
        (lambda x, w: F.conv2d(x, w, padding="same", stride=2), ShapeError, r"padding='same' needs stride 1"),
        (lambda x, w: F.conv2d(x, w, padding=-1), ShapeError, r"padding must be a non-negative int.*-1"),
        (lambda x, w: F.conv_transpose2d(x, w, output_padding=1), ShapeError, r"output_padding 1 must be smaller"),
        (lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=-1), ShapeError, r"output_padding must be a"),
        (lambda x, w: F.max_pool2d(x, 2, padding=2), ShapeError, r"padding \(2, 2\) must be at most half"),
        (lambda x, w: F.avg_pool2d(x, 2, divisor_override=1.5), DTypeError, r"divisor_override must be an int"),
        (lambda x, w: F.adaptive_avg_pool2d(x, 2.5), DTypeError, r"output_size must be an int >= 0.*2.5"),
        (lambda x, w: F.adaptive_avg_pool2d(x, -1), ShapeError, r"output_size must be a non-negative int.*-1"),
    ],
)
def test_functional_arguments_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(tm.tensor(X), tm.tensor(W))


def test_adaptive_pool_to_zero_is_empty_as_pytorch():
    x = tm.tensor(X, requires_grad=True)
    y = F.adaptive_max_pool2d(x, 0)
    assert y.shape == (1, 2, 0, 0) and F.adaptive_avg_pool2d(x, (0, 3)).shape == (1, 2, 0, 3)
    y.sum().backward()
    assert x.grad.shape == x.shape and not x.grad.numpy().any()


@given(d=st.integers(1, 3), value=st.one_of(st.integers(-3, 0), st.floats(0.5, 4), st.booleans()))
def test_int_tuple_refuses_every_non_positive_or_non_int(d, value):
    with pytest.raises((ShapeError, DTypeError), match=r"op: stride must be a positive int"):
        int_tuple("op", "stride", value, d)
    with pytest.raises((ShapeError, DTypeError), match=r"op: groups must be an int >= 1"):
        check_int("op", "groups", value)


@given(d=st.integers(1, 3), value=st.integers(1, 9))
def test_int_tuple_accepts_ints(d, value):
    assert int_tuple("op", "stride", value, d) == (value,) * d
    assert int_tuple("op", "stride", (value,) * d, d) == (value,) * d
    assert int_tuple("op", "stride", numpy.int64(value), d) == (value,) * d


@pytest.mark.parametrize("value", BAD_POSITIVE, ids=repr)
@pytest.mark.parametrize("case", list(CALLS))
def test_torch_refuses_the_same(case, value):
    """Ground truth: each refused value above is refused by PyTorch as well (at the latest in forward)."""
    torch = pytest.importorskip("torch")
    if case == "conv2d padding" and value == 0 or case.startswith("max_unpool2d") and not isinstance(value, float):
        pytest.skip("valid, or PyTorch returns an (empty) output where we refuse: see the module docstring")
    if case in ("Conv2d kernel_size", "Conv3d kernel_size", "ConvTranspose2d kernel_size") and value is True:
        pytest.skip("PyTorch's modules take kernel_size=True as 1; we refuse a bool size")
    call, _ = CALLS[case]
    args = (torch.tensor(X), torch.tensor(W), torch.tensor(IDX), value)
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        call(torch.nn.functional, torch.nn, *args)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda F, x: F.interpolate(x, scale_factor="2"), DTypeError, r"scale_factor must be numbers, got '2'"),
        (lambda F, x: F.interpolate(x, scale_factor=float("nan")), ShapeError, r"scale_factor must be finite, got nan"),
        (lambda F, x: F.interpolate(x, scale_factor=(2.0, float("inf"))), ShapeError, r"must be finite"),
        (lambda F, x: F.adaptive_avg_pool2d(x, [3]), ShapeError, r"output_size must be .* tuple of 2, got \[3\]"),
        (lambda F, x: F.adaptive_max_pool3d(x[None], (3,)), ShapeError, r"output_size must be .* tuple of 3"),
    ],
)
def test_scale_factor_and_output_size_refused_as_pytorch(call, error, match):
    with pytest.raises(error, match=match):
        call(F, tm.tensor(X))
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        call(torch.nn.functional, torch.tensor(X))
