"""Tests for ops/conv_winograd.py, the CPU fast path of conv2d 3x3 stride 1 (Winograd minimal filtering).

(a) the transform matrices rebuilt from the interpolation points equal the constants used, and Lavin and
    Gray's published F(4x4, 3x3) ones; F(m, 3) is exact in rational arithmetic, in 1D and nested in 2D;
(b) values and all gradients against the im2col reference (``tm.reference_mode()``) and PyTorch, over
    hypothesis-drawn shapes (odd sizes, tiles crossing the border, padding 0..2 per side, batch 1), with
    both tile sizes; float64 central differences; float32 in, float32 out;
(c) the dispatch: which shapes take it, reference mode keeps im2col, the ``tgm gradcheck`` rows route through it.
"""

import importlib.util
from fractions import Fraction

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med.gradcheck import gradcheck
from tinygrad_med.gradcheck.cases import cases
from tinygrad_med.ops import conv_winograd
from tinygrad_med.ops.conv import conv2d

# Lavin and Gray 2016, section 4.2: F(4x4, 3x3) with the points 0, 1, -1, 2, -2 and infinity.
LAVIN_F4 = (
    [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0]]
    + [[0, 4, 0, -5, 0, 1]],
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
    ]
    + [[0, 0, 1]],
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
)
# Section 4.1: F(2x2, 3x3) with the points 0, 1, -1; rows 0 and infinity carry the opposite sign of ours.
LAVIN_F2 = (
    [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    [[1, 1, 1, 0], [0, 1, -1, -1]],
)
HAS_TORCH = importlib.util.find_spec("torch") is not None


# ----------------------------------------------------------------------------- (a) the matrices


@pytest.mark.parametrize("m", [2, 4])
def test_matrices_rebuilt_from_points_equal_the_constants(m):
    rebuilt = conv_winograd.transform_matrices(conv_winograd.POINTS[m], m)
    for exact, used in zip(rebuilt, conv_winograd.MATRICES[m], strict=True):
        numpy.testing.assert_array_equal(numpy.array(exact, dtype=float), used)


def test_matrices_are_lavin_and_grays():
    """From Lavin and Gray's points the construction gives their matrices (ours for F(4x4) use 2, -1/2)."""
    for ours, theirs in zip(conv_winograd.matrices(conv_winograd.LAVIN_POINTS_F4, 4), LAVIN_F4, strict=True):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-15)
    BT, G, AT = conv_winograd.MATRICES[2]
    sign = numpy.array([-1, 1, 1, -1])  # the rows (B^T, G) and columns (A^T) that Lavin's F(2x2, 3x3) flips
    numpy.testing.assert_array_equal(BT * sign[:, None], LAVIN_F2[0])
    numpy.testing.assert_array_equal(G * numpy.array([-1, 1, 1, 1])[:, None], LAVIN_F2[1])
    numpy.testing.assert_array_equal(AT * numpy.array([1, 1, 1, -1]), LAVIN_F2[2])
    numpy.testing.assert_array_equal(BT[3] * -1, LAVIN_F2[0][3])


def _exact(matrices):
    return tuple(numpy.array(M, dtype=object) for M in matrices)


@pytest.mark.parametrize("m, points", [(2, None), (4, None), (4, conv_winograd.LAVIN_POINTS_F4)])
def test_f_m_3_is_exact_in_rational_arithmetic(m, points):
    """y = A^T [(G g) * (B^T d)] equals the correlation sum_k g_k d_{i+k} exactly, in 1D and nested in 2D."""
    BT, G, AT = _exact(conv_winograd.transform_matrices(points or conv_winograd.POINTS[m], m))
    rng = numpy.random.default_rng(m)
    d = numpy.array([Fraction(int(v), 7) for v in rng.integers(-50, 50, m + 2)], dtype=object)
    g = numpy.array([Fraction(int(v), 3) for v in rng.integers(-50, 50, 3)], dtype=object)
    direct = [sum(g[k] * d[i + k] for k in range(3)) for i in range(m)]
    assert list(AT.dot(G.dot(g) * BT.dot(d))) == direct
    d2 = numpy.array(
        [[Fraction(int(v), 5) for v in row] for row in rng.integers(-50, 50, (m + 2, m + 2))], dtype=object
    )
    g2 = numpy.array([[Fraction(int(v), 11) for v in row] for row in rng.integers(-50, 50, (3, 3))], dtype=object)
    Y = AT.dot(G.dot(g2).dot(G.T) * BT.dot(d2).dot(BT.T)).dot(AT.T)
    direct2 = [
        [sum(g2[k, l] * d2[i + k, j + l] for k in range(3) for l in range(3)) for j in range(m)] for i in range(m)
    ]
    assert Y.tolist() == direct2


def test_float64_winograd_conv_matches_direct_sum():
    rng = numpy.random.default_rng(0)
    x, W = rng.standard_normal((2, 3, 6, 9)), rng.standard_normal((4, 3, 3, 3))
    windows = numpy.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # (N, C, 4, 7, 3, 3)
    direct = numpy.einsum("ncijkl,fckl->nfij", windows, W)
    for m in (2, 4):
        y, V = conv_winograd.winograd_conv(x, W, ((0, 0), (0, 0)), m)
        numpy.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)
        assert V.shape == ((m + 2) ** 2, 3, 2 * -(-4 // m) * -(-7 // m))


# ----------------------------------------------------------------------------- (b) values and gradients


@st.composite
def winograd_configs(draw):
    """A conv2d 3x3 stride 1 with padding 0..2 per side (output at least 1x1): shapes, padding, tile size."""
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))  # top, bottom, left, right
    H = draw(st.integers(max(1, 3 - pads[0] - pads[1]), 11))
    W = draw(st.integers(max(1, 3 - pads[2] - pads[3]), 11))
    return {
        "N": draw(st.integers(1, 3)),
        "C": draw(st.integers(2, 5)),
        "F": draw(st.integers(1, 4)),
        "H": H,
        "W": W,
        "pads": pads,
        "m": draw(st.sampled_from([2, 4])),
    }


def _run(cfg, x, W, b, gy):
    """y, gx, gW, gb of conv2d (padding as cfg says: F.pad-style uneven padding through a padded x)."""
    top, bottom, left, right = cfg["pads"]
    xs, Ws, bs = (tm.Tensor(a, requires_grad=True) for a in (x, W, b))
    xp = tm.ops.shape.pad(xs, (left, right, top, bottom)) if (top, left) != (bottom, right) else xs
    padding = 0 if xp is not xs else (top, left)
    y = conv2d(xp, Ws, bs, padding=padding)
    (y * tm.Tensor(gy)).sum().backward()
    return y.numpy(), xs.grad.numpy(), Ws.grad.numpy(), bs.grad.numpy()


def _forced(monkeypatch, m):
    """Run every conv that tile_for takes with F(m x m, 3x3); return the list that counts Winograd's calls."""
    calls = []
    monkeypatch.setattr(
        conv_winograd,
        "tile_for",
        lambda x, W, geometry, groups: m if conv_winograd.applies(x, geometry, groups) else None,
    )
    forward = conv_winograd.winograd_conv
    monkeypatch.setattr(conv_winograd, "winograd_conv", lambda *a: calls.append(a[-1]) or forward(*a))
    return calls


def _draw_arrays(cfg, dtype):
    rng = numpy.random.default_rng(cfg["H"] * 100 + cfg["W"])
    top, bottom, left, right = cfg["pads"]
    OH, OW = cfg["H"] + top + bottom - 2, cfg["W"] + left + right - 2
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
    W = rng.standard_normal((cfg["F"], cfg["C"], 3, 3)).astype(dtype)
    return x, W, rng.standard_normal(cfg["F"]).astype(dtype), rng.standard_normal((cfg["N"], cfg["F"], OH, OW))


@settings(max_examples=25, deadline=None)
@given(cfg=winograd_configs())
def test_values_and_gradients_match_reference_and_torch(cfg):
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = _forced(monkeypatch, cfg["m"])
        x, W, b, gy = _draw_arrays(cfg, numpy.float64)
        fast = _run(cfg, x, W, b, gy)
        assert calls and set(calls) == {cfg["m"]}  # forward and gx through Winograd
        with tm.reference_mode():
            reference = _run(cfg, x, W, b, gy)
    for got, want in zip(fast, reference, strict=True):
        numpy.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    if HAS_TORCH:
        import torch

        top, bottom, left, right = cfg["pads"]
        xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
        yt = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (left, right, top, bottom)), Wt, bt)
        (yt * torch.tensor(gy)).sum().backward()
        for got, want in zip(fast, (yt, xt.grad, Wt.grad, bt.grad), strict=True):
            numpy.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_gradcheck_float64(monkeypatch, m, padding):
    calls = _forced(monkeypatch, m)
    rng = numpy.random.default_rng(padding)
    x, W, b = rng.uniform(-1, 1, (1, 3, 7, 6)), rng.uniform(-1, 1, (2, 3, 3, 3)), rng.uniform(-1, 1, 2)
    gradcheck(lambda x, W, b: conv2d(x, W, b, padding=padding), [tm.Tensor(a, requires_grad=True) for a in (x, W, b)])
    assert set(calls) == {m}


@pytest.mark.parametrize("m", [2, 4])
def test_float32_in_float32_out(monkeypatch, m):
    calls = _forced(monkeypatch, m)
    cfg = {"N": 2, "C": 16, "F": 8, "H": 13, "W": 10, "pads": (1, 1, 1, 1), "m": m}
    x, W, b, gy = _draw_arrays(cfg, numpy.float32)
    fast = _run(cfg, x, W, b, gy.astype(numpy.float32))
    assert calls and all(a.dtype == numpy.float32 for a in fast)
    with tm.reference_mode():
        reference = _run(cfg, x.astype(float), W.astype(float), b.astype(float), gy)
    for got, want in zip(fast, reference, strict=True):  # float32 with 9 * 16 terms per sum, transforms up to 8x
        numpy.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * numpy.abs(want).max())


# ----------------------------------------------------------------------------- (c) the dispatch


def _geometry(x, W, **kwargs):
    from tinygrad_med.ops.conv_args import make_geometry, padding_arg

    pads = padding_arg("conv2d", kwargs.get("padding", 1), (W.shape[2], W.shape[3]), (1, 1), (1, 1), 2)
    stride, dilation = kwargs.get("stride", (1, 1)), kwargs.get("dilation", (1, 1))
    return make_geometry("conv2d", 2, tm.Tensor(x), tm.Tensor(W), W.shape[2:], stride, dilation, pads)


def test_tile_for_is_off_by_default_and_takes_wide_3x3_stride_1_only_inside_winograd():
    x64, x16 = numpy.zeros((2, 64, 8, 8), numpy.float32), numpy.zeros((2, 16, 8, 8), numpy.float32)
    W64, W16 = numpy.zeros((64, 64, 3, 3), numpy.float32), numpy.zeros((16, 16, 3, 3), numpy.float32)
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64), 1) is None  # measured slower: not by itself
    with conv_winograd.winograd():
        _tile_for_inside(x64, x16, W64, W16)
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64), 1) is None  # the setting comes back


def _tile_for_inside(x64, x16, W64, W16):
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64), 1) == 2
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64, padding=0), 1) == 2
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64, stride=(2, 2)), 1) is None
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64, dilation=(2, 2)), 1) is None
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64, padding=3), 1) is None  # gx would not be a conv
    assert conv_winograd.tile_for(x64, W64, _geometry(x64, W64), 2) is None  # groups
    W5 = numpy.zeros((64, 64, 5, 5), numpy.float32)
    assert conv_winograd.tile_for(x64, W5, _geometry(x64, W5, padding=2), 1) is None
    assert conv_winograd.tile_for(x16, W16, _geometry(x16, W16), 1) is None  # narrow: im2col measured faster
    assert conv_winograd.applies(x16, _geometry(x16, W16), 1)
    assert not conv_winograd.applies(x16.astype(numpy.int64), _geometry(x16, W16), 1)


def test_reference_mode_keeps_im2col(monkeypatch):
    calls = _forced(monkeypatch, 4)
    x = tm.Tensor(numpy.ones((1, 16, 6, 6)), requires_grad=True)
    with tm.reference_mode():
        conv2d(x, tm.Tensor(numpy.ones((2, 16, 3, 3))), padding=1).sum().backward()
    assert calls == []
    conv2d(x, tm.Tensor(numpy.ones((2, 16, 3, 3))), padding=1).sum().backward()
    assert calls == [4, 4]  # forward and gx


def test_gradcheck_suite_rows_route_through_winograd(monkeypatch):
    calls = []
    forward = conv_winograd.winograd_conv
    monkeypatch.setattr(conv_winograd, "winograd_conv", lambda *a: calls.append(a[-1]) or forward(*a))
    rows = {name: (fn, arrays) for name, fn, arrays in cases() if "Winograd" in name}
    assert len(rows) == 1
    for name, (fn, arrays) in rows.items():
        calls.clear()
        result = gradcheck(fn, [tm.Tensor(a, requires_grad=True) for a in arrays])
        assert result.passed and calls, name
        assert set(calls) == {2}, name  # F(2x2, 3x3), the tile tile_for ships


@pytest.mark.parametrize("m", [2, 4])
def test_second_backward_and_reused_buffers(monkeypatch, m):
    """The spare buffers a step hands back do not leak into the next step; retain_graph transforms x again."""
    calls = _forced(monkeypatch, m)
    rng = numpy.random.default_rng(5)
    W = tm.Tensor(rng.standard_normal((3, 4, 3, 3)), requires_grad=True)
    for _ in range(3):  # each step's buffers are the previous step's
        x = rng.standard_normal((2, 4, 9, 7))
        xs = tm.Tensor(x, requires_grad=True)
        W.grad = None
        y = conv2d(xs, W, padding=1)
        gy = tm.Tensor(rng.standard_normal(y.shape))
        y.backward(gy, retain_graph=True)
        first = xs.grad.numpy().copy(), W.grad.numpy().copy()
        y.backward(gy)
        with tm.reference_mode():
            xr, Wr = tm.Tensor(x, requires_grad=True), tm.Tensor(W.numpy(), requires_grad=True)
            conv2d(xr, Wr, padding=1).backward(gy)
        numpy.testing.assert_allclose(first[0], xr.grad.numpy(), rtol=1e-10, atol=1e-10)
        numpy.testing.assert_allclose(first[1], Wr.grad.numpy(), rtol=1e-10, atol=1e-10)
        numpy.testing.assert_allclose(xs.grad.numpy(), 2 * first[0], rtol=1e-10, atol=1e-10)
        numpy.testing.assert_allclose(W.grad.numpy(), 2 * first[1], rtol=1e-10, atol=1e-10)
    assert set(calls) == {m}
