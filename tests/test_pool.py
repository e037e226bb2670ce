"""Tests of ops/pool.py, ops/adaptive_pool.py, kernels/pool.cu and nn/pool.py.

(a) the lecture's two 4x4 examples, and forward (values and argmax indices) against the naive loops
    of tests/reference.py over hypothesis-drawn configurations (1D/2D/3D, stride, padding,
    dilation, ceil_mode, count_include_pad, divisor_override); output sizes against PyTorch's formula;
(b) gradient checks in float64 of every op over drawn configurations (inputs are shuffled ramps: no
    tied maxima); average-pool gradients sum to sum(gy * avg_pool(ones));
(c) CPU / emulated / cuda parity through the ``device`` fixture (kernels/pool.cu);
(d) PyTorch cross-check when it is importable; bad input.
"""

import math
import re

import numpy
import pytest
from conftest import assert_close
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import adaptive_pool_nd, avg_pool_nd, max_pool_nd, max_unpool_nd

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import pool as pool_ops
from tinygrad_med.ops.pool import pool_output_size

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}


def distinct(*shape, seed=0):
    """A shuffled ramp in [0.01, 1.01): every value different, so max pooling has no ties."""
    n = int(numpy.prod(shape))
    return numpy.random.default_rng(seed).permutation(n).reshape(shape) / n + 0.01


def t64(array, requires_grad=True):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


@st.composite
def windows(draw, pool="max"):
    """(shape, kernel, stride, padding, dilation, ceil_mode) with at least one output per dim."""
    nd = draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    dilation = [draw(st.integers(1, 2)) if pool == "max" else 1 for _ in range(nd)]
    span = [d * (k - 1) + 1 - 2 * p for k, p, d in zip(kernel, padding, dilation, strict=True)]
    size = [draw(st.integers(max(1, s), max(1, s) + 4 - nd)) for s in span]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size)
    return shape, tuple(kernel), tuple(stride), tuple(padding), tuple(dilation), draw(st.booleans())


@st.composite
def adaptive_configs(draw):
    """(input shape, output size) of an adaptive pool over 1 to 3 spatial dims."""
    nd = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(1, 7 - nd)) for _ in range(nd))
    return (2, 2, *size), tuple(draw(st.integers(1, 6 - nd)) for _ in range(nd))


# ----------------------------------------------------------------------------- (a) the lecture's examples


SLIDE_X = numpy.array([[29, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2], [12, 12, 45, 6]], dtype=numpy.float32)


def test_lecture_max_pooling_example():
    """ "Max Pooling" slide: 2 x 2 pool size, stride 2."""
    y, indices = F.max_pool2d(tm.tensor(SLIDE_X[None, None]), 2, stride=2, return_indices=True)
    numpy.testing.assert_array_equal(y.numpy()[0, 0], [[100, 184], [12, 45]])
    numpy.testing.assert_array_equal(indices.numpy()[0, 0], [[5, 3], [8, 14]])  # flat positions in the 4x4 map


def test_lecture_average_pooling_example():
    """ "Average Pooling" slide (its top-left input is 31): the slide prints 36 for (31+15+0+100)/4 = 36.5."""
    x = SLIDE_X.copy()
    x[0, 0] = 31
    y = F.avg_pool2d(tm.tensor(x[None, None]), 2, stride=2).numpy()[0, 0]
    numpy.testing.assert_array_equal(y, [[36.5, 80], [12, 15]])
    numpy.testing.assert_array_equal(numpy.floor(y), [[36, 80], [12, 15]])  # the slide's integer display


def test_global_average_pooling_is_the_channel_mean_for_any_size():
    """GoogLeNet / ResNet: adaptive_avg_pool2d(x, 1) gives one mean per channel, whatever H x W."""
    for shape in [(2, 3, 7, 7), (2, 3, 5, 9), (1, 3, 1, 2)]:
        x = numpy.random.default_rng(1).standard_normal(shape)
        y = F.adaptive_avg_pool2d(t64(x, False), 1)
        assert y.shape == shape[:2] + (1, 1)
        assert_close(y, x.mean(axis=(2, 3), keepdims=True), 1e-12, 1e-12)


# ----------------------------------------------------------------------------- forward against the loops


@settings(max_examples=25, deadline=None)
@given(config=windows("max"))
def test_max_pool_matches_loops(config):
    shape, kernel, stride, padding, dilation, ceil_mode = config
    x = distinct(*shape)
    nd = len(kernel)
    y, indices = MAX[nd](t64(x, False), kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    expected, expected_indices = max_pool_nd(x, kernel, stride, padding, dilation, ceil_mode)
    assert y.shape == expected.shape and y.dtype == numpy.float64
    numpy.testing.assert_array_equal(y.numpy(), expected)
    numpy.testing.assert_array_equal(indices.numpy(), expected_indices)
    assert indices.dtype == numpy.int64 and not indices.requires_grad


@settings(max_examples=25, deadline=None)
@given(config=windows("avg"), count_include_pad=st.booleans(), divisor=st.sampled_from([None, None, 3]))
def test_avg_pool_matches_loops(config, count_include_pad, divisor):
    shape, kernel, stride, padding, _, ceil_mode = config
    nd = len(kernel)
    x = numpy.random.default_rng(2).standard_normal(shape)
    extra = {} if nd == 1 else {"divisor_override": divisor}
    y = AVG[nd](t64(x, False), kernel, stride, padding, ceil_mode, count_include_pad, **extra)
    expected = avg_pool_nd(x, kernel, stride, padding, ceil_mode, count_include_pad, extra.get("divisor_override"))
    assert_close(y, expected, 1e-12, 1e-12)


@settings(max_examples=20, deadline=None)
@given(config=adaptive_configs())
def test_adaptive_pools_match_loops(config):
    shape, out = config
    nd, x = len(out), distinct(*shape)
    assert_close(ADAPTIVE_AVG[nd](t64(x, False), out), adaptive_pool_nd(x, out, "avg"), 1e-12, 1e-12)
    y, indices = ADAPTIVE_MAX[nd](t64(x, False), out, return_indices=True)
    expected, expected_indices = adaptive_pool_nd(x, out, "max")
    numpy.testing.assert_array_equal(y.numpy(), expected)
    numpy.testing.assert_array_equal(indices.numpy(), expected_indices)


def test_adaptive_output_size_none_keeps_the_dim():
    x = t64(distinct(1, 2, 5, 6), False)
    assert F.adaptive_avg_pool2d(x, (3, None)).shape == (1, 2, 3, 6)
    assert F.adaptive_max_pool2d(x, (None, 4)).shape == (1, 2, 5, 4)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_puts_maxima_back(nd):
    x = distinct(2, 2, *[5, 4, 3][:nd])
    y, indices = MAX[nd](t64(x, False), 2, return_indices=True)
    restored = UNPOOL[nd](y, indices, 2, output_size=x.shape[2:])
    assert_close(restored, max_unpool_nd(y.numpy(), indices.numpy(), x.shape[2:]), 0, 0)
    kept = restored.numpy() != 0  # exactly the maxima are back, in place
    numpy.testing.assert_array_equal(restored.numpy()[kept], x[kept])
    assert kept.sum() == y.numpy().size


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    d=st.integers(1, 3),
    ceil=st.booleans(),
    data=st.data(),
)
def test_output_size_is_pytorchs_formula(n, k, s, d, ceil, data):
    """PyTorch docs: O = floor_or_ceil((L + 2P - D(K-1) - 1)/S + 1); in ceil_mode the last window must start
    inside the input or the left padding."""
    p = data.draw(st.integers(0, k // 2))
    exact = (n + 2 * p - d * (k - 1) - 1) / s + 1
    expected = math.ceil(exact) if ceil else math.floor(exact)
    if ceil and (expected - 1) * s >= n + p:
        expected -= 1
    assert pool_output_size(n, k, s, p, d, ceil) == expected
    if expected >= 1:
        x = tm.zeros(1, 1, n)
        assert F.max_pool1d(x, k, s, p, d, ceil).shape[-1] == expected
        if d == 1:
            assert F.avg_pool1d(x, k, s, p, ceil).shape[-1] == expected


def test_window_of_padding_only_gives_minus_inf_and_no_gradient(device):
    """Dilation 2 and padding 1 over one input: the window reads positions -1 and 1, both outside (as PyTorch,
    the output is -inf; the index is -1 and the window passes no gradient)."""
    x = device.tensor(numpy.array([[[1.0, 2.0]]]), requires_grad=True)
    y, indices = F.max_pool1d(x, 2, 1, 1, 2, return_indices=True)
    numpy.testing.assert_array_equal(device.numpy(y), [[[2.0, 1.0]]])
    y, indices = F.max_pool2d(x.reshape(1, 1, 1, 2), (2, 1), 1, (1, 0), (2, 1), return_indices=True)
    numpy.testing.assert_array_equal(device.numpy(y), [[[[-numpy.inf, -numpy.inf]]]])
    numpy.testing.assert_array_equal(device.numpy(indices), [[[[-1, -1]]]])
    y.backward(device.tensor(numpy.ones((1, 1, 1, 2))))
    numpy.testing.assert_array_equal(device.numpy(x.grad), [[[0.0, 0.0]]])


def test_unbatched_input_and_dtypes():
    x = distinct(3, 6, 5).astype(numpy.float32)
    y = F.max_pool2d(tm.tensor(x), 2)
    assert y.shape == (3, 3, 2) and y.dtype == numpy.float32
    numpy.testing.assert_array_equal(y.numpy(), F.max_pool2d(tm.tensor(x[None]), 2).numpy()[0])
    assert F.avg_pool2d(tm.tensor(x), 2).dtype == numpy.float32
    assert F.adaptive_avg_pool2d(tm.tensor(x), 2).dtype == numpy.float32
    assert F.avg_pool2d(t64(x, False), 2).dtype == numpy.float64


# ----------------------------------------------------------------------------- (b) gradient checks


def _check(fn, *arrays):
    result = tm.gradcheck(fn, [t64(a) for a in arrays], atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


@settings(max_examples=20, deadline=None)
@given(config=windows("max"))
def test_max_pool_gradcheck(config):
    shape, kernel, stride, padding, dilation, ceil_mode = config
    pool = lambda x: MAX[len(kernel)](x, kernel, stride, padding, dilation, ceil_mode)  # noqa: E731
    assume(numpy.isfinite(pool(t64(distinct(*shape), False)).numpy()).all())  # no window of padding only
    _check(pool, distinct(*shape))


@settings(max_examples=20, deadline=None)
@given(config=windows("avg"), count_include_pad=st.booleans(), divisor=st.sampled_from([None, 5]))
def test_avg_pool_gradcheck(config, count_include_pad, divisor):
    shape, kernel, stride, padding, _, ceil_mode = config
    nd = len(kernel)
    extra = {} if nd == 1 else {"divisor_override": divisor}
    _check(lambda x: AVG[nd](x, kernel, stride, padding, ceil_mode, count_include_pad, **extra), distinct(*shape))


@settings(max_examples=15, deadline=None)
@given(config=adaptive_configs())
def test_adaptive_and_unpool_gradcheck(config):
    shape, out = config
    nd, x = len(out), distinct(*shape)
    _check(lambda x: ADAPTIVE_AVG[nd](x, out), x)
    _check(lambda x: ADAPTIVE_MAX[nd](x, out), x)
    kernel = tuple(min(2, n) for n in shape[2:])
    y, indices = MAX[nd](t64(x, False), kernel, return_indices=True)  # a valid unpool map
    _check(lambda y: UNPOOL[nd](y, indices, kernel, output_size=shape[2:]), y.numpy())


@settings(max_examples=20, deadline=None)
@given(config=windows("avg"), count_include_pad=st.booleans(), divisor=st.sampled_from([None, 4]))
def test_avg_pool_gradient_sums_to_gy_times_coverage(config, count_include_pad, divisor):
    """sum(gx) = sum_o gy[o] * (real inputs of window o) / m_o = sum(gy * avg_pool(ones)); = sum(gy) when m_o
    counts only real inputs."""
    shape, kernel, stride, padding, _, ceil_mode = config
    nd = len(kernel)
    extra = {} if nd == 1 else {"divisor_override": divisor}
    x = t64(numpy.random.default_rng(3).standard_normal(shape))
    y = AVG[nd](x, kernel, stride, padding, ceil_mode, count_include_pad, **extra)
    gy = numpy.random.default_rng(4).standard_normal(y.shape)
    y.backward(t64(gy, False))
    coverage = AVG[nd](t64(numpy.ones(shape), False), kernel, stride, padding, ceil_mode, count_include_pad, **extra)
    numpy.testing.assert_allclose(x.grad.numpy().sum(), (gy * coverage.numpy()).sum(), rtol=1e-10, atol=1e-10)
    if not count_include_pad and extra.get("divisor_override") is None:
        numpy.testing.assert_allclose(x.grad.numpy().sum(), gy.sum(), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- (c) CPU / GPU parity


def _parity(device, fn, x, dtype=numpy.float32):
    """fn on this device against fn on the CPU path: outputs (float or index) and the input gradient."""
    ours = device.tensor(x, requires_grad=True, dtype=dtype)
    outputs = fn(ours)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    gy = numpy.random.default_rng(5).standard_normal(outputs[0].shape).astype(dtype)
    outputs[0].backward(device.tensor(gy))
    ref_x = tm.tensor(x.astype(dtype), requires_grad=True)
    expected = device.reference(fn, ref_x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    device.reference(expected[0].backward, tm.tensor(gy))
    for o, e in zip(outputs, expected, strict=True):
        if e.dtype.kind == "i":
            numpy.testing.assert_array_equal(device.numpy(o), e.numpy())
        else:
            assert_close(o, e)
    assert_close(ours.grad, ref_x.grad)


@pytest.mark.parametrize(
    "nd, kernel, stride, padding, dilation, ceil_mode",
    [
        (2, 2, 2, 0, 1, False),
        (2, 3, 2, 1, 1, True),
        (2, (2, 3), 1, (1, 0), 2, False),
        (1, 3, 2, 1, 2, True),
        (3, 2, 1, 1, 1, True),
        (3, (1, 2, 3), (1, 2, 2), 0, 1, False),
        (2, 3, 3, 1, 1, True),  # windows do not overlap: the backward is max_pool_bwd_gather
        (3, (1, 2, 2), (1, 3, 2), 0, 1, True),  # S > K: inputs between windows get no gradient
    ],
)
def test_max_pool_parity(device, nd, kernel, stride, padding, dilation, ceil_mode):
    x = distinct(2, 3, *[6, 7, 5][:nd])
    _parity(device, lambda t: MAX[nd](t, kernel, stride, padding, dilation, ceil_mode, return_indices=True), x)


@pytest.mark.parametrize(
    "nd, kernel, stride, padding, ceil_mode, count_include_pad, divisor",
    [
        (2, 2, 2, 0, False, True, None),
        (2, 3, 2, 1, True, True, None),
        (2, 3, 2, 1, True, False, None),
        (2, (3, 2), (1, 2), (1, 1), False, True, 7),
        (1, 4, 3, 2, True, False, None),
        (3, 3, 2, 1, True, False, None),
        (3, (2, 3, 1), 1, (1, 0, 0), False, True, None),
        (2, 3, 3, 1, True, False, None),  # windows do not overlap: the backward is avg_pool_bwd_gather
        (3, (1, 2, 2), (1, 3, 2), (0, 1, 0), True, True, None),  # S > K: inputs between windows get 0
        (1, 2, 3, 1, False, False, None),
    ],
)
def test_avg_pool_parity(device, nd, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    x = numpy.random.default_rng(6).standard_normal((2, 3, *[6, 7, 5][:nd]))
    extra = {} if nd == 1 else {"divisor_override": divisor}
    _parity(device, lambda t: AVG[nd](t, kernel, stride, padding, ceil_mode, count_include_pad, **extra), x)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_adaptive_pool_parity(device, dtype):
    x = distinct(2, 3, 7, 5)
    _parity(device, lambda t: F.adaptive_max_pool2d(t, (3, 2), return_indices=True), x, dtype)
    _parity(device, lambda t: F.adaptive_avg_pool3d(t.reshape(2, 3, 1, 7, 5), (1, 3, 4)), x, dtype)


def test_max_pool_float64_parity_and_overlapping_windows(device):
    """Stride 1 < kernel 3: neighbouring windows share their argmax, so the backward must add (atomicAdd)."""
    x = distinct(1, 2, 6, 6)
    _parity(device, lambda t: F.max_pool2d(t, 3, 1, 1), x, numpy.float64)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: F.max_pool2d(t, 2, return_indices=True),  # gather backward
        lambda t: F.max_pool2d(t, 3, 1, 1),  # atomicAdd backward
        lambda t: F.avg_pool2d(t, 2, 2),  # gather backward
        lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True),  # one thread per input backward
    ],
)
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_pool_kernels_loop_over_rows_columns_and_planes(device, monkeypatch, fn, dtype):
    """One block (MAX_BLOCKS = 1) loops over the 12 rows of a launch, its 32 threads across loop over 35
    window columns, and MAX_LAUNCH = 2 planes' worth splits the N*C = 6 planes into 3 launches."""
    monkeypatch.setattr(backend, "MAX_BLOCKS", 1)
    monkeypatch.setattr(pool_ops, "MAX_LAUNCH", 2 * 6 * 70)
    _parity(device, fn, distinct(2, 3, 6, 70), dtype)


def test_max_pool_forward_without_backward_makes_no_indices(device):
    """No grad needed and no indices asked for: the argmax is neither computed nor stored."""
    x = distinct(2, 3, 6, 6)
    with tm.no_grad():
        y = F.max_pool2d(device.tensor(x, requires_grad=True), 2)
    assert_close(y, device.reference(lambda: F.max_pool2d(tm.tensor(x), 2)))
    win = pool_ops.pool_window("max_pool2d", 2, x, 2, None, 0, 1, False)
    fwd = pool_ops._max_pool_fwd_cpu if device.name == "cpu" else pool_ops._max_pool_fwd_gpu
    y_only, argmax = fwd(device.tensor(x).data, win, False)
    assert argmax is None
    assert_close(y_only, y)


# ----------------------------------------------------------------------------- (d) PyTorch and bad input


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("max_pool2d", (3, 2, 1), {"ceil_mode": True, "return_indices": True}),
        ("max_pool2d", ((2, 3), (1, 2), (1, 1)), {"dilation": (2, 1), "return_indices": True}),
        ("max_pool3d", (2,), {"ceil_mode": True, "return_indices": True}),
        ("max_pool1d", (3, 2, 1), {"dilation": 2, "return_indices": True}),
        ("avg_pool2d", (3, 2, 1, True, False), {}),
        ("avg_pool2d", (3, 2, 1, True, True), {"divisor_override": 2}),
        ("avg_pool3d", ((2, 3, 2), (1, 2, 3), 1, True, True), {}),
        ("avg_pool1d", (4, 3, 2, True), {}),
        ("adaptive_avg_pool2d", ((4, 3),), {}),
        ("adaptive_max_pool2d", ((4, 3), True), {}),
        ("adaptive_avg_pool3d", ((3, 2, 4),), {}),
        ("adaptive_max_pool3d", ((3, 2, 4), True), {}),
    ],
)
def test_against_pytorch(name, args, kwargs):
    torch = pytest.importorskip("torch")
    nd = int(name[-2])
    x = distinct(2, 3, *[9, 10, 7][:nd])
    xo = t64(x)
    ours = getattr(F, name)(xo, *args, **kwargs)
    xt = torch.tensor(x, requires_grad=True)
    theirs = getattr(torch.nn.functional, name)(xt, *args, **kwargs)
    ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
    gy = numpy.random.default_rng(7).standard_normal(ours[0].shape)
    ours[0].backward(t64(gy, False))
    theirs[0].backward(torch.tensor(gy))
    for o, t in zip(ours, theirs, strict=True):
        assert_close(o, t.detach().numpy(), 1e-12, 1e-12)
    assert_close(xo.grad, xt.grad.numpy(), 1e-12, 1e-12)


def test_max_unpool_against_pytorch():
    torch = pytest.importorskip("torch")
    x = distinct(2, 3, 9, 10)
    y, indices = F.max_pool2d(t64(x, False), 3, 2, 1, return_indices=True)
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    ours = F.max_unpool2d(y, indices, 3, 2, 1, output_size=(9, 10))
    assert_close(ours, torch.nn.functional.max_unpool2d(yt, it, 3, 2, 1, output_size=(9, 10)).numpy(), 0, 0)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda x: F.max_pool2d(x, 7), ShapeError, r"larger than the padded input.*x.shape=\(1, 2, 5, 5\)"),
        (lambda x: F.avg_pool2d(x, 3, padding=2), ShapeError, r"padding \(2, 2\) must be at most half"),
        (lambda x: F.max_pool2d(x, 2, padding=2), ShapeError, r"at most half of kernel_size \(2, 2\)"),
        (lambda x: F.max_pool2d(x[0, 0], 2), ShapeError, r"3-D or 4-D input \(N, C, H, W\).*x.shape=\(5, 5\)"),
        (lambda x: F.max_pool3d(x[0], 2), ShapeError, r"4-D or 5-D input.*x.shape=\(2, 5, 5\)"),
        (lambda x: F.avg_pool1d(x, 2), ShapeError, r"2-D or 3-D input \(N, C, L\)"),
        (lambda x: F.max_pool2d(x, 0), ShapeError, r"kernel_size must be a positive int.*got 0"),
        (lambda x: F.max_pool2d(x, 2, stride=0), ShapeError, r"stride must be a positive int.*got 0"),
        (lambda x: F.max_pool2d(x, 2, dilation=0), ShapeError, r"dilation must be a positive int.*got 0"),
        (lambda x: F.max_pool2d(x, (2, 2, 2)), ShapeError, r"kernel_size must be .*tuple of 2.*\(2, 2, 2\)"),
        (lambda x: F.max_pool2d(x, 2, padding=-1), ShapeError, r"padding must be a non-negative int.*got -1"),
        (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, r"divisor_override must not be zero"),
        (lambda x: F.adaptive_avg_pool2d(x, -1), ShapeError, r"output_size must be a non-negative int.*-1"),
        (lambda x: F.adaptive_max_pool2d(x, (1, 2, 3)), ShapeError, r"output_size must be .* of 2, got \(1, 2, 3\)"),
        (lambda x: F.max_pool2d(tm.zeros(1, 2, 5, 5, dtype=tm.int64), 2), DTypeError, r"expected a float tensor"),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(tm.zeros(1, 2, 5, 5))


def test_max_unpool_bad_input():
    y, indices = F.max_pool2d(t64(distinct(1, 1, 4, 4), False), 2, return_indices=True)
    with pytest.raises(ShapeError, match=r"invalid output_size \(9, 9\)"):
        F.max_unpool2d(y, indices, 2, output_size=(9, 9))
    with pytest.raises(ShapeError, match=r"outside the output plane \(2, 2\)"):
        F.max_unpool2d(y, indices, 1)
    with pytest.raises(ShapeError, match=r"integer tensor of x's shape"):
        F.max_unpool2d(y, indices[:, :, :1], 2)


# ----------------------------------------------------------------------------- nn layers


LAYERS = [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}, 1),
    ("MaxPool2d", (2,), {}, 2),
    ("MaxPool2d", ((3, 2), (2, 1), (1, 0)), {"return_indices": True}, 2),
    ("MaxPool3d", (2, 1), {"ceil_mode": True}, 3),
    ("AvgPool1d", (4, 3, 2, True, False), {}, 1),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, 2),
    ("AvgPool2d", (2,), {"divisor_override": 3}, 2),
    ("AvgPool3d", ((2, 3, 2), None, 1), {"ceil_mode": True}, 3),
    ("AdaptiveAvgPool1d", (4,), {}, 1),
    ("AdaptiveAvgPool2d", (1,), {}, 2),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, 3),
    ("AdaptiveMaxPool1d", (3,), {}, 1),
    ("AdaptiveMaxPool2d", ((3, 4), True), {}, 2),
    ("AdaptiveMaxPool3d", (2,), {}, 3),
]


@pytest.mark.parametrize("name, args, kwargs, nd", LAYERS)
def test_layers_call_their_functional_op(name, args, kwargs, nd):
    layer = getattr(tm.nn, name)(*args, **kwargs)
    x = tm.tensor(distinct(2, 3, *[9, 8, 7][:nd]).astype(numpy.float32))
    function = getattr(F, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())  # MaxPool2d -> max_pool2d
    ys, expected = layer(x), function(x, *args, **kwargs)
    ys, expected = (ys, expected) if isinstance(ys, tuple) else ((ys,), (expected,))
    for a, b in zip(ys, expected, strict=True):
        assert_close(a, b, 0, 0)
    assert layer.num_parameters() == 0 and ys[0].dtype == numpy.float32


@pytest.mark.parametrize("name, args, kwargs, nd", LAYERS)
def test_layers_match_pytorch_attributes_and_outputs(name, args, kwargs, nd):
    """The receptive-field calculator reads kernel_size / stride / padding / dilation as PyTorch stores them."""
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(tm.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    for attribute in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "output_size", "return_indices",
                      "count_include_pad", "divisor_override"):  # fmt: skip
        assert getattr(ours, attribute, None) == getattr(theirs, attribute, None), attribute
    assert repr(ours) == repr(theirs)
    x = distinct(2, 3, *[9, 8, 7][:nd])
    y, yt = ours(t64(x, False)), theirs(torch.tensor(x))
    ys, yts = (y, yt) if isinstance(y, tuple) else ((y,), (yt,))
    for a, b in zip(ys, yts, strict=True):
        assert_close(a, b.numpy(), 1e-12, 1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_layers(nd):
    pool = getattr(tm.nn, f"MaxPool{nd}d")(2, return_indices=True)
    unpool = getattr(tm.nn, f"MaxUnpool{nd}d")(2)
    assert unpool.kernel_size == (2,) * nd and unpool.stride == (2,) * nd and unpool.padding == (0,) * nd
    x = t64(distinct(1, 2, *[5, 4, 6][:nd]), False)
    y, indices = pool(x)
    restored = unpool(y, indices, output_size=x.shape)
    assert restored.shape == x.shape
    assert_close(restored, max_unpool_nd(y.numpy(), indices.numpy(), x.shape[2:]), 0, 0)
