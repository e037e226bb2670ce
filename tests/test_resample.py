"""Tests of ops/resample.py (interpolate incl. bicubic, reflect/replicate/circular pad), kernels/resample.cu
and nn/resample.py.

(a) forward against the naive loops of tests/reference.py over hypothesis-drawn sizes, scale factors,
    modes and align_corners; small examples by hand;
(b) gradient checks in float64 (the backward is the adjoint: a transposed matrix per axis);
(c) CPU / emulated / cuda parity through the ``device`` fixture (kernels/resample.cu);
(d) PyTorch cross-check when it is importable; bad input.
"""

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import bicubic_2d, interpolate_nd, pad_nd

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import pool as pool_ops

LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def rand(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def t64(array, requires_grad=True):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


@st.composite
def resizes(draw):
    """(shape, mode, align_corners, size or None, scale factors or None)."""
    nd = draw(st.integers(1, 3))
    spatial = [draw(st.integers(1, 5 - nd)) for _ in range(nd)]
    mode = draw(st.sampled_from(["nearest", LINEAR[nd]]))
    align = draw(st.booleans()) if mode != "nearest" else None
    if draw(st.booleans()):
        return (1, 2, *spatial), mode, align, tuple(draw(st.integers(1, 7 - nd)) for _ in spatial), None
    scales = tuple(draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])) for _ in spatial)
    spatial = [max(n, 2) for n in spatial]  # floor(n * 0.5) >= 1
    return (1, 2, *spatial), mode, align, None, scales


# ----------------------------------------------------------------------------- (a) forward


def test_bilinear_align_corners_by_hand():
    x = t64([[[[0.0, 1.0], [2.0, 3.0]]]], False)
    y = F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True)
    assert_close(y, [[[[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]]]], 1e-12, 1e-12)
    y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # src = (o + 0.5)/2 - 0.5
    assert_close(y[0, 0, 0], [0, 0.25, 0.75, 1], 1e-12, 1e-12)


def test_nearest_upsampling_repeats_pixels():
    x = rand(2, 3, 3, 4)
    y = F.interpolate(t64(x, False), scale_factor=2)
    assert_close(y, x.repeat(2, axis=2).repeat(2, axis=3), 0, 0)
    assert F.interpolate(tm.tensor(x.astype(numpy.float32)), scale_factor=2).dtype == numpy.float32


@settings(max_examples=25, deadline=None)
@given(config=resizes())
def test_interpolate_matches_loops(config):
    shape, mode, align, size, scales = config
    x = rand(*shape)
    y = F.interpolate(t64(x, False), size=size, scale_factor=scales, mode=mode, align_corners=align)
    out = size or tuple(int(n * s) for n, s in zip(shape[2:], scales, strict=True))
    expected = interpolate_nd(x, out, "nearest" if mode == "nearest" else "linear", bool(align), scales)
    assert_close(y, expected, 1e-12, 1e-12)


@st.composite
def bicubic_resizes(draw):
    """(shape, align_corners, size or None, scale factors or None) for a 4-D bicubic resize."""
    spatial = [draw(st.integers(1, 5)) for _ in range(2)]
    align = draw(st.sampled_from([None, False, True]))
    if draw(st.booleans()):
        return (1, 2, *spatial), align, tuple(draw(st.integers(1, 7)) for _ in spatial), None
    scales = tuple(draw(st.sampled_from([0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.3])) for _ in spatial)
    return (1, 2, *[max(n, 3) for n in spatial]), align, None, scales  # floor(3 * 0.4) >= 1


@settings(max_examples=25, deadline=None)
@given(config=bicubic_resizes())
def test_bicubic_matches_loops(config):
    shape, align, size, scales = config
    x = rand(*shape)
    y = F.interpolate(t64(x, False), size=size, scale_factor=scales, mode="bicubic", align_corners=align)
    out = size or tuple(int(n * s) for n, s in zip(shape[2:], scales, strict=True))
    assert_close(y, bicubic_2d(x, out, bool(align), scales), 1e-12, 1e-12)


def test_bicubic_by_hand():
    """Same size is the identity (t = 0: weights 0, 1, 0, 0); the weights sum to 1, so a constant stays one;
    upsampling a 1-D step overshoots on both sides (A = -0.75 < 0), unlike bilinear."""
    x = rand(1, 2, 4, 5)
    assert_close(F.interpolate(t64(x, False), size=(4, 5), mode="bicubic"), x, 1e-15, 1e-15)
    constant = F.interpolate(t64(numpy.full((1, 1, 3, 4), 2.5), False), size=(7, 5), mode="bicubic")
    assert_close(constant, numpy.full((1, 1, 7, 5), 2.5), 1e-14, 1e-14)
    step = t64(numpy.array([[[[0.0, 0.0, 1.0, 1.0]]]]), False)
    row = F.interpolate(step, size=(1, 8), mode="bicubic").numpy()[0, 0, 0]
    assert row.min() < 0 and row.max() > 1
    # output 1 of size 8 from 4 (align_corners=False): src = 1.5 / 2 - 0.5 = 0.25, taps x[0, 0, 1, 2]
    weights = [-0.75 * 1.25**3 + 3.75 * 1.25**2 - 6 * 1.25 + 3, 1.25 * 0.25**3 - 2.25 * 0.25**2 + 1]
    weights += [1.25 * 0.75**3 - 2.25 * 0.75**2 + 1, -0.75 * 1.75**3 + 3.75 * 1.75**2 - 6 * 1.75 + 3]
    assert_close(row[1], weights[3], 1e-15, 1e-15)  # only x[2] = 1 among the taps
    assert abs(sum(weights) - 1) < 1e-15


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape, pad",
    [
        ((2, 5), (2, 3)),
        ((2, 3, 5), (1, 4)),
        ((2, 3, 4, 5), (3, 0, 1, 2)),
        ((3, 4, 5), (1, 1, 3, 2)),
        ((1, 2, 3, 4, 5), (1, 2, 0, 3, 2, 1)),
    ],
)
def test_pad_matches_loops(mode, shape, pad):
    x = rand(*shape)
    assert_close(F.pad(t64(x, False), pad, mode=mode), pad_nd(x, pad, mode), 0, 0)


def test_reflect_and_replicate_by_hand():
    x = t64([[[0.0, 1.0, 2.0, 3.0]]], False)
    assert_close(F.pad(x, (2, 2), mode="reflect"), [[[2, 1, 0, 1, 2, 3, 2, 1]]], 0, 0)
    assert_close(F.pad(x, (2, 2), mode="replicate"), [[[0, 0, 0, 1, 2, 3, 3, 3]]], 0, 0)
    assert_close(F.pad(x, (2, 2), mode="circular"), [[[2, 3, 0, 1, 2, 3, 0, 1]]], 0, 0)
    assert_close(F.pad(x, (1, 1)), [[[0, 0, 1, 2, 3, 0]]], 0, 0)  # 'constant' stays in ops/shape.py


def test_area_mode_is_adaptive_average_pooling():
    x = t64(rand(2, 3, 7, 9), False)
    assert_close(F.interpolate(x, size=(3, 4), mode="area"), F.adaptive_avg_pool2d(x, (3, 4)), 0, 0)


# ----------------------------------------------------------------------------- (b) gradient checks


def _check(fn, *arrays):
    result = tm.gradcheck(fn, [t64(a) for a in arrays], atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


@settings(max_examples=20, deadline=None)
@given(config=resizes())
def test_interpolate_gradcheck(config):
    shape, mode, align, size, scales = config
    _check(lambda x: F.interpolate(x, size=size, scale_factor=scales, mode=mode, align_corners=align), rand(*shape))


@pytest.mark.parametrize("mode", ["nearest-exact", "area"])
def test_interpolate_other_modes_gradcheck(mode):
    _check(lambda x: F.interpolate(x, size=(5, 3), mode=mode), rand(1, 2, 4, 7))


@settings(max_examples=15, deadline=None)
@given(config=bicubic_resizes())
def test_bicubic_gradcheck(config):
    shape, align, size, scales = config
    resize = {"size": size, "scale_factor": scales, "mode": "bicubic", "align_corners": align}
    _check(lambda x: F.interpolate(x, **resize), rand(*shape))


@settings(max_examples=20, deadline=None)
@given(mode=st.sampled_from(["reflect", "replicate", "circular"]), nd=st.integers(1, 3), data=st.data())
def test_pad_gradcheck(mode, nd, data):
    spatial = [data.draw(st.integers(2, 4)) for _ in range(nd)]
    pad = [data.draw(st.integers(0, n - 1)) for n in reversed(spatial) for _ in range(2)]
    _check(lambda x: F.pad(x, pad, mode=mode), rand(1, 2, *spatial))


# ----------------------------------------------------------------------------- (c) CPU / GPU parity


def _parity(device, fn, x, dtype=numpy.float32):
    ours = device.tensor(x, requires_grad=True, dtype=dtype)
    y = fn(ours)
    gy = rand(*y.shape, seed=5).astype(dtype)
    y.backward(device.tensor(gy))
    ref_x = tm.tensor(x.astype(dtype), requires_grad=True)
    expected = device.reference(fn, ref_x)
    device.reference(expected.backward, tm.tensor(gy))
    assert_close(y, expected)
    assert_close(ours.grad, ref_x.grad)


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((1, 2, 5), {"scale_factor": 2.5, "mode": "linear", "align_corners": False}),
        ((1, 2, 5), {"size": 3, "mode": "linear", "align_corners": True}),
        ((2, 2, 4, 3), {"scale_factor": (2, 1.5), "mode": "bilinear"}),
        ((2, 2, 4, 3), {"size": (7, 2), "mode": "bilinear", "align_corners": True}),
        ((1, 2, 3, 2, 4), {"scale_factor": 1.7, "mode": "trilinear", "align_corners": False}),
        ((1, 2, 3, 2, 4), {"size": (4, 5, 3), "mode": "trilinear", "align_corners": True}),
        ((2, 2, 4, 3), {"scale_factor": 1.7, "mode": "nearest"}),
        ((1, 2, 3, 2, 4), {"size": (5, 3, 7), "mode": "nearest"}),
        ((2, 2, 5), {"size": 8, "mode": "nearest-exact"}),
        ((2, 2, 4, 3), {"scale_factor": (2, 1.5), "mode": "bicubic"}),
        ((2, 2, 5, 6), {"size": (3, 2), "mode": "bicubic", "align_corners": True}),
        ((1, 2, 7, 9), {"scale_factor": 0.4, "mode": "bicubic", "align_corners": False}),
        ((1, 2, 1, 3), {"size": (4, 1), "mode": "bicubic"}),
    ],
)
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_interpolate_parity(device, shape, kwargs, dtype):
    _parity(device, lambda t: F.interpolate(t, **kwargs), rand(*shape), dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": (3, 70), "mode": "bilinear"},
        {"size": (2, 1), "mode": "nearest"},
        {"size": (3, 70), "mode": "bicubic"},
        {"size": (2, 9), "mode": "bicubic", "align_corners": False},
    ],
)
def test_interpolate_kernels_loop_over_rows_columns_and_planes(device, monkeypatch, kwargs):
    """Rows longer than the 32 threads across, more rows than one block's 8 (MAX_BLOCKS = 1), and 3 launches
    over plane ranges (MAX_LAUNCH = 2 planes' worth); nearest downsampling leaves inputs that no output
    reads, whose gradient must be 0."""
    monkeypatch.setattr(backend, "MAX_BLOCKS", 1)
    monkeypatch.setattr(pool_ops, "MAX_LAUNCH", 2 * 3 * 70)
    _parity(device, lambda t: F.interpolate(t, **kwargs), rand(2, 3, 5, 40))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_parity(device, mode):
    _parity(device, lambda t: F.pad(t, (1, 2, 2, 0), mode=mode), rand(2, 2, 3, 4))


# ----------------------------------------------------------------------------- (d) PyTorch and bad input


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 9, 10), {"scale_factor": 1.7}),
        ((2, 3, 9, 10), {"size": (5, 13)}),
        ((2, 3, 9, 10), {"scale_factor": 1.7, "mode": "nearest-exact"}),
        ((2, 3, 9, 10), {"scale_factor": (0.6, 2.3), "mode": "bilinear"}),
        ((2, 3, 9, 10), {"size": (5, 13), "mode": "bilinear", "align_corners": True}),
        ((2, 3, 11), {"scale_factor": 1.3, "mode": "linear", "align_corners": False}),
        ((1, 2, 5, 6, 7), {"scale_factor": 1.6, "mode": "trilinear", "align_corners": True}),
        ((1, 2, 5, 6, 7), {"size": (3, 8, 4), "mode": "trilinear"}),
        ((2, 3, 9, 10), {"scale_factor": 1.5, "mode": "bilinear", "recompute_scale_factor": True}),
        ((2, 3, 9, 10), {"size": (4, 6), "mode": "area"}),
        ((2, 3, 9, 10), {"scale_factor": 1.7, "mode": "bicubic"}),
        ((2, 3, 9, 10), {"size": (5, 13), "mode": "bicubic", "align_corners": True}),
        ((2, 3, 9, 10), {"scale_factor": (0.3, 2.5), "mode": "bicubic", "align_corners": False}),
        ((1, 2, 2, 3), {"size": (7, 1), "mode": "bicubic"}),
        ((1, 2, 5, 4), {"scale_factor": 1.5, "mode": "bicubic", "recompute_scale_factor": True}),
    ],
)
def test_interpolate_against_pytorch(shape, kwargs):
    torch = pytest.importorskip("torch")
    x, gy_seed = rand(*shape), 9
    xo, xt = t64(x), torch.tensor(x, requires_grad=True)
    y, yt = F.interpolate(xo, **kwargs), torch.nn.functional.interpolate(xt, **kwargs)
    gy = rand(*y.shape, seed=gy_seed)
    y.backward(t64(gy, False))
    yt.backward(torch.tensor(gy))
    assert_close(y, yt.detach().numpy(), 1e-12, 1e-12)
    assert_close(xo.grad, xt.grad.numpy(), 1e-12, 1e-12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape, pad", [((2, 3, 5), (2, 3)), ((2, 3, 4, 5), (3, 0, 1, 2)), ((1, 2, 3, 4, 5), (1, 2, 0, 3, 2, 1))]
)
def test_pad_against_pytorch(mode, shape, pad):
    torch = pytest.importorskip("torch")
    x = rand(*shape)
    xo, xt = t64(x), torch.tensor(x, requires_grad=True)
    y, yt = F.pad(xo, pad, mode=mode), torch.nn.functional.pad(xt, pad, mode=mode)
    gy = rand(*y.shape, seed=3)
    y.backward(t64(gy, False))
    yt.backward(torch.tensor(gy))
    assert_close(y, yt.detach().numpy(), 0, 0)
    assert_close(xo.grad, xt.grad.numpy(), 1e-12, 1e-12)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (
            lambda x: F.interpolate(x, size=3, mode="linear"),
            ShapeError,
            r"'linear' needs a 3-D.*x.shape=\(1, 2, 4, 5\)",
        ),
        (lambda x: F.interpolate(x, size=3, mode="trilinear"), ShapeError, r"'trilinear' needs a 5-D input"),
        (lambda x: F.interpolate(x[0, 0], size=3), ShapeError, r"3-D, 4-D or 5-D input.*x.shape=\(4, 5\)"),
        (lambda x: F.interpolate(x, size=3, scale_factor=2), ValueError, r"exactly one of size or scale_factor"),
        (lambda x: F.interpolate(x), ValueError, r"exactly one of size or scale_factor"),
        (lambda x: F.interpolate(x, size=3, align_corners=True), ValueError, r"align_corners can only be set"),
        (lambda x: F.interpolate(x, size=3, mode="cubic"), ValueError, r"mode 'cubic' is not supported"),
        (lambda x: F.interpolate(x[0], size=3, mode="bicubic"), ShapeError, r"'bicubic' needs a 4-D.*\(2, 4, 5\)"),
        (lambda x: F.interpolate(x, size=3, align_corners=False), ValueError, r"linear \| bilinear \| bicubic"),
        (lambda x: F.interpolate(x, size=(3, 3, 3)), ShapeError, r"size needs 2 values for a 4-D input"),
        (lambda x: F.interpolate(x, scale_factor=0.1), ShapeError, r"output size \(0, 0\) must be at least 1"),
        (lambda x: F.interpolate(tm.zeros(1, 2, 4, 5, dtype=tm.int64), size=2), DTypeError, r"float tensor"),
        (lambda x: F.pad(x, (5, 0, 0, 0), mode="reflect"), ShapeError, r"reflect padding \(5, 0\) of dim 3 \(size 5\)"),
        (lambda x: F.pad(x, (0, 0, 5, 0), mode="circular"), ShapeError, r"dim 2 \(size 4\) must.*at most 4"),
        (lambda x: F.pad(x, (-5, 0, 0, 0), mode="replicate"), ShapeError, r"leaves 0 elements of dim 3 \(size 5\)"),
        (lambda x: F.pad(x, (1, 1), mode="reflect"), ShapeError, r"length 2 needs a 2-D or 3-D input"),
        (lambda x: F.pad(x, (1, 1, 1), mode="reflect"), ShapeError, r"length 3"),
        (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect", value=2.0), ValueError, r"takes no value"),
        (lambda x: F.pad(x, (1, 1, 1, 1), mode="wrap"), ValueError, r"mode 'wrap' is not one of"),
    ],
)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(tm.zeros(1, 2, 4, 5))


# ----------------------------------------------------------------------------- nn layers


@pytest.mark.parametrize(
    "name, args, kwargs, shape",
    [
        ("Upsample", (), {"scale_factor": 2}, (1, 2, 3, 4)),
        ("Upsample", ((5, 7),), {"mode": "bilinear", "align_corners": True}, (1, 2, 3, 4)),
        ("Upsample", (), {"scale_factor": (1.5, 2, 2.5), "mode": "trilinear"}, (1, 2, 2, 3, 2)),
        ("Upsample", ((5, 2),), {"mode": "bicubic", "align_corners": True}, (1, 2, 3, 4)),
        ("UpsamplingNearest2d", (), {"scale_factor": 3}, (1, 2, 3, 4)),
        ("UpsamplingBilinear2d", ((4, 6),), {}, (1, 2, 3, 4)),
        ("ReflectionPad1d", ((2, 1),), {}, (1, 2, 4)),
        ("ReflectionPad2d", (1,), {}, (1, 2, 3, 4)),
        ("ReflectionPad3d", ((1, 0, 1, 2, 0, 1),), {}, (1, 2, 3, 4, 3)),
        ("ReplicationPad2d", ((0, 3, 1, 2),), {}, (2, 3, 4)),
        ("ReplicationPad3d", (2,), {}, (1, 1, 2, 3, 2)),
        ("CircularPad2d", (1,), {}, (1, 2, 3, 4)),
        ("ZeroPad2d", ((1, 2, 3, 0),), {}, (1, 2, 3, 4)),
        ("ConstantPad1d", (2, 3.5), {}, (1, 2, 3)),
    ],
)
def test_layers_against_pytorch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(tm.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    for attribute in ("size", "scale_factor", "mode", "align_corners", "padding", "value"):
        if hasattr(theirs, attribute):
            assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    x = rand(*shape)
    assert_close(ours(t64(x, False)), theirs(torch.tensor(x)).numpy(), 1e-12, 1e-12)


def test_layers_call_their_functional_op():
    x = tm.tensor(rand(1, 2, 3, 4).astype(numpy.float32))
    up = tm.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(up(x), F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), 0, 0)
    assert up(x).dtype == numpy.float32 and up.num_parameters() == 0
    assert_close(tm.nn.ReflectionPad2d((1, 0, 2, 1))(x), F.pad(x, (1, 0, 2, 1), mode="reflect"), 0, 0)
    assert_close(tm.nn.ZeroPad2d(1)(x), F.pad(x, (1, 1, 1, 1)), 0, 0)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
