"""Tests for ops/conv.py, ops/conv_transpose.py, ops/conv_cpu.py (the CPU speed-ups) and kernels/conv.cu.

(a) forward against the naive loops of tests/reference.py and the lecture's 5x5 example,
(b) gradient checks in float64 over hypothesis-drawn configurations (1D/2D/3D, stride,
    padding incl. 'same'/'valid', dilation, groups, kernel sizes incl. 1 and non-square),
(c) CPU / emulated / cuda parity through the ``device`` fixture, forward and backward,
(d) bad input, output sizes against PyTorch's formulas, and PyTorch itself when installed.
"""

import numpy
import pytest
import reference
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import backend, nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops import conv as F  # conv1d/2d/3d, as re-exported by nn.functional
from tinygrad_med.ops.conv import col2im, conv_output_size, im2col
from tinygrad_med.ops.conv_args import Geometry
from tinygrad_med.ops.conv_transpose import (
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_output_size,
)

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}


@st.composite
def conv_configs(draw, transposed=False, max_d=3):
    """A small random convolution: shapes, stride, padding, dilation, groups (output size >= 1)."""
    d = draw(st.integers(1, max_d))
    groups = draw(st.integers(1, 2))
    C, Fo = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    small = d == 3  # keep 3D tiny
    K = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(d))
    S = tuple(draw(st.integers(1, 2 if small else 3)) for _ in range(d))
    D = tuple(draw(st.integers(1, 2)) for _ in range(d))
    if transposed:
        P = tuple(draw(st.integers(0, 1)) for _ in range(d))
        OP = tuple(draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(S, D, strict=True))
        sizes = []
        for k, s, p, dl, op in zip(K, S, P, D, OP, strict=True):
            low = max(1, (2 * p - dl * (k - 1) - op + s - 1) // s + 1)  # output size >= 1
            sizes.append(draw(st.integers(low, low + (1 if small else 3))))
        return dict(d=d, groups=groups, C=C, F=Fo, K=K, S=S, P=P, OP=OP, D=D, I=tuple(sizes), N=draw(st.integers(1, 2)))
    P = draw(st.one_of(st.just("same"), st.just("valid"), st.tuples(*(st.integers(0, 2) for _ in range(d)))))
    if P == "same":
        S = (1,) * d
    pads = (0,) * d if isinstance(P, str) else P
    sizes = []
    for k, p, dl in zip(K, pads, D, strict=True):
        low = max(1, dl * (k - 1) + 1 - 2 * p)  # the dilated kernel fits the padded input
        sizes.append(draw(st.integers(low, low + (2 if small else 4))))
    return dict(d=d, groups=groups, C=C, F=Fo, K=K, S=S, P=P, D=D, I=tuple(sizes), N=draw(st.integers(1, 2)))


def make(cfg, rng, dtype=numpy.float64, transposed=False):
    """Random x, W, b for a config (W in conv's or conv_transpose's layout)."""
    x = rng.standard_normal((cfg["N"], cfg["C"], *cfg["I"])).astype(dtype)
    if transposed:
        W = rng.standard_normal((cfg["C"], cfg["F"] // cfg["groups"], *cfg["K"])).astype(dtype)
    else:
        W = rng.standard_normal((cfg["F"], cfg["C"] // cfg["groups"], *cfg["K"])).astype(dtype)
    return x, W, rng.standard_normal(cfg["F"]).astype(dtype)


def run_conv(cfg, x, W, b):
    return CONV[cfg["d"]](x, W, b, cfg["S"], cfg["P"], cfg["D"], cfg["groups"])


def run_conv_t(cfg, x, W, b):
    return CONV_T[cfg["d"]](x, W, b, cfg["S"], cfg["P"], cfg["OP"], cfg["groups"], cfg["D"])


def same_pads(cfg):
    """PyTorch's 'same' rule: D*(K-1) in total, the odd element at the end."""
    if cfg["P"] == "same":
        return [(dl * (k - 1) // 2, dl * (k - 1) - dl * (k - 1) // 2) for k, dl in zip(cfg["K"], cfg["D"], strict=True)]
    return (0,) * cfg["d"] if cfg["P"] == "valid" else cfg["P"]


# ----------------------------------------------------------------------------- (a) forward


def test_lecture_example(device):
    """The "Convolution" slide: the 5x5 feature map and 3x3 kernel (the subscripts) give this 3x3 output."""
    x = numpy.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], "float32")
    kernel = numpy.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], "float32")
    y = F.conv2d(device.tensor(x[None, None]), device.tensor(kernel[None, None]))
    expected = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    assert y.shape == (1, 1, 3, 3) and y.dtype == numpy.float32
    assert device.numpy(y)[0, 0].tolist() == expected


@given(cfg=conv_configs())
@settings(max_examples=25, deadline=None)
def test_conv_forward_matches_naive_loops(cfg):
    x, W, b = make(cfg, numpy.random.default_rng(1))
    y = run_conv(cfg, tm.tensor(x), tm.tensor(W), tm.tensor(b))
    expected = reference.conv_nd(x, W, b, cfg["S"], same_pads(cfg), cfg["D"], cfg["groups"])
    assert y.shape == expected.shape
    assert_close(y, expected, rtol=1e-10, atol=1e-10)


@given(cfg=conv_configs(transposed=True))
@settings(max_examples=25, deadline=None)
def test_conv_transpose_forward_matches_naive_scatter(cfg):
    x, W, b = make(cfg, numpy.random.default_rng(2), transposed=True)
    y = run_conv_t(cfg, tm.tensor(x), tm.tensor(W), tm.tensor(b))
    expected = reference.conv_transpose_nd(x, W, b, cfg["S"], cfg["P"], cfg["OP"], cfg["groups"], cfg["D"])
    assert y.shape == expected.shape
    assert_close(y, expected, rtol=1e-10, atol=1e-10)


@given(cfg=conv_configs())
@settings(max_examples=25, deadline=None)
def test_conv_transpose_is_the_adjoint_of_conv(cfg):
    """<conv(x), y> == <x, conv_transpose(y)> with the same weight (the slide's A and A^T)."""
    rng = numpy.random.default_rng(3)
    x, W, _ = make(cfg, rng)
    pads = [p if isinstance(p, int) else (p[0] if p[0] == p[1] else None) for p in same_pads(cfg)]
    if None in pads:  # asymmetric 'same' padding has no conv_transpose counterpart in PyTorch's API
        return
    y_conv = run_conv(cfg, tm.tensor(x), tm.tensor(W), None)
    y = rng.standard_normal(y_conv.shape)
    extra = [
        (i + 2 * p - dl * (k - 1) - 1) % s
        for i, p, dl, k, s in zip(cfg["I"], pads, cfg["D"], cfg["K"], cfg["S"], strict=True)
    ]
    back = CONV_T[cfg["d"]](
        tm.tensor(y), tm.tensor(W), None, cfg["S"], tuple(pads), tuple(extra), cfg["groups"], cfg["D"]
    )
    assert back.shape == x.shape
    numpy.testing.assert_allclose((y_conv.numpy() * y).sum(), (x * back.numpy()).sum(), rtol=1e-10)


@given(cfg=conv_configs())
@settings(max_examples=20, deadline=None)
def test_output_size_is_pytorchs_formula(cfg):
    x, W, b = make(cfg, numpy.random.default_rng(4), numpy.float32)
    y = run_conv(cfg, tm.tensor(x), tm.tensor(W), tm.tensor(b))
    pads = same_pads(cfg)
    for i in range(cfg["d"]):
        p = pads[i] if isinstance(pads[i], int) else None
        if p is None:  # 'same' keeps the size
            assert y.shape[2 + i] == cfg["I"][i]
        else:  # floor((I + 2P - D*(K-1) - 1) / S) + 1, written out here independently of the op
            assert y.shape[2 + i] == (cfg["I"][i] + 2 * p - cfg["D"][i] * (cfg["K"][i] - 1) - 1) // cfg["S"][i] + 1
    assert y.shape[:2] == (cfg["N"], cfg["F"]) and y.dtype == numpy.float32


def test_output_size_helpers():
    assert conv_output_size(32, 3, 1, 1) == 32 and conv_output_size(7, 3, 2, 0) == 3
    assert conv_output_size(10, 3, 1, 0, dilation=2) == 6 and conv_output_size(5, 4, 1, (1, 2)) == 5
    assert conv_transpose_output_size(4, 4, 2, 1) == 8 and conv_transpose_output_size(3, 3, 2, 1, 1) == 6


def test_pointwise_conv_skips_im2col_and_is_exact():
    """1x1 convolutions (GoogLeNet's bottleneck) take the direct-matmul path; it must agree with the loops."""
    rng = numpy.random.default_rng(5)
    x, W, b = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((6, 2, 1, 1)), rng.standard_normal(6)
    y = F.conv2d(tm.tensor(x), tm.tensor(W), tm.tensor(b), groups=2)
    assert_close(y, reference.conv_nd(x, W, b, groups=2), rtol=1e-12, atol=1e-12)
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
    assert tm.gradcheck(lambda x, W, b: F.conv2d(x, W, b, groups=2), inputs, atol=1e-7, rtol=1e-5).passed


def test_same_padding_with_even_kernel_pads_the_end():
    rng = numpy.random.default_rng(6)
    x, W = rng.standard_normal((1, 1, 5, 6)), rng.standard_normal((1, 1, 2, 4))
    y = F.conv2d(tm.tensor(x), tm.tensor(W), padding="same")
    assert y.shape == (1, 1, 5, 6)
    assert_close(y, reference.conv_nd(x, W, padding=[(0, 1), (1, 2)]), rtol=1e-12, atol=1e-12)


def test_unbatched_input_and_float32_default():
    x = tm.randn(3, 8, 8)
    W = tm.randn(4, 3, 3, 3)
    y = F.conv2d(x, W, padding=1)
    assert y.shape == (4, 8, 8) and y.dtype == numpy.float32
    assert_close(y, F.conv2d(x.unsqueeze(0), W, padding=1)[0])


def test_chained_convolutions_take_the_transposed_view_output():
    """conv's output is an (N, F, *O) view of the (F, N, *O) GEMM result; the next conv must read it right."""
    rng = numpy.random.default_rng(19)
    x, W1, W2 = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 2, 2))
    for padding in (0, 1):
        y = F.conv2d(F.conv2d(tm.tensor(x), tm.tensor(W1), padding=1), tm.tensor(W2), padding=padding)
        expected = reference.conv_nd(reference.conv_nd(x, W1, padding=1), W2, padding=padding)
        assert_close(y, expected, rtol=1e-12, atol=1e-12)
    y1, W3 = F.conv2d(tm.tensor(x), tm.tensor(W1), padding=1), rng.standard_normal((5, 4, 1, 1))
    assert_close(F.conv2d(y1, tm.tensor(W3)), reference.conv_nd(y1.numpy(), W3), rtol=1e-12, atol=1e-12)  # 1x1 path


def test_second_backward_recomputes_the_reused_column_buffer():
    """backward writes gcol over the forward's column buffer; retain_graph must still give the same grads."""
    x, W = tm.randn(2, 3, 6, 6, requires_grad=True), tm.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, W, padding=1, stride=2)
    gy = tm.randn(*y.shape)
    y.backward(gy, retain_graph=True)
    first = (x.grad.numpy().copy(), W.grad.numpy().copy())
    y.backward(gy)
    assert_close(x.grad, 2 * first[0]) and assert_close(W.grad, 2 * first[1])


def test_channel_block_threads_give_the_same_result(monkeypatch):
    """im2col/col2im split large arrays over threads by channel blocks; force that path on tiny inputs."""
    from tinygrad_med.ops import conv_cpu

    rng = numpy.random.default_rng(17)
    x, W = rng.standard_normal((2, 5, 7, 6)), rng.standard_normal((4, 5, 3, 2))
    monkeypatch.setattr(conv_cpu, "_PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(conv_cpu, "_THREADS", 3)  # 5 channels in blocks of 1, 2, 2
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W)]
    y = F.conv2d(*inputs, stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    assert_close(y, reference.conv_nd(x, W, None, (2, 1), (1, 2), (1, 2)), rtol=1e-12, atol=1e-12)
    fn = lambda x, W: F.conv2d(x, W, stride=(2, 1), padding=(1, 2), dilation=(1, 2))  # noqa: E731
    assert tm.gradcheck(fn, inputs, atol=1e-7, rtol=1e-5).passed


class _ForcedChunks:
    """Make the CPU path go chunk by chunk on tiny inputs (blocks of ~chunk_bytes), or never."""

    def __init__(self, chunk_bytes):
        from tinygrad_med.ops import conv_cpu

        self.conv, self.saved = conv_cpu, (conv_cpu._CHUNKED_MIN_BYTES, conv_cpu._CHUNK_BYTES)
        self.values = (0, chunk_bytes) if chunk_bytes else (1 << 62, conv_cpu._CHUNK_BYTES)

    def __enter__(self):
        self.conv._CHUNKED_MIN_BYTES, self.conv._CHUNK_BYTES = self.values

    def __exit__(self, *exc):
        self.conv._CHUNKED_MIN_BYTES, self.conv._CHUNK_BYTES = self.saved


def _conv_and_grads(cfg, x, W, b):
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
    y = run_conv(cfg, *inputs)
    (y * tm.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape))).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in inputs]


@given(cfg=conv_configs(), chunk_bytes=st.sampled_from([1, 200, 1000]))
@settings(max_examples=25, deadline=None)
def test_chunks_of_output_positions_give_the_one_product_result(cfg, chunk_bytes):
    """Large CPU convolutions run im2col + GEMM per chunk of output positions (rows of the first
    spatial dim, or whole samples); forced on tiny inputs, they must equal the one-product path."""
    pytest.importorskip("threadpoolctl")
    x, W, b = make(cfg, numpy.random.default_rng(19))
    with _ForcedChunks(None):
        whole = _conv_and_grads(cfg, x, W, b)
    with _ForcedChunks(chunk_bytes):
        chunked = _conv_and_grads(cfg, x, W, b)
    for a, c in zip(whole, chunked, strict=True):
        assert_close(c, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation",
    [((3, 1), 1, (1, 1), 1), ((3, 2), 1, (2, 0), (2, 1)), ((2, 2), 1, "same", 1), ((3, 3), (2, 1), 1, 1)],
    ids=["pad-beyond-1x-kernel", "dilated", "same-even", "strided"],
)
def test_chunked_conv_matches_naive_loops(kernel, stride, padding, dilation):
    """Chunked forward and backward (gx by the flipped-kernel convolution where stride is 1 and the
    padding is within the kernel's reach, else by col2im) against the slide formula and the one product."""
    pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(21)
    cfg = dict(d=2, groups=1, S=stride, P=padding, D=dilation)
    x, W, b = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, *kernel)), rng.standard_normal(4)
    with _ForcedChunks(None):
        whole = _conv_and_grads(cfg, x, W, b)
    with _ForcedChunks(300):
        chunked = _conv_and_grads(cfg, x, W, b)
    dil = (dilation,) * 2 if isinstance(dilation, int) else dilation
    pads = same_pads(dict(d=2, P=padding, K=kernel, D=dil))
    assert_close(chunked[0], reference.conv_nd(x, W, b, stride, pads, dilation), rtol=1e-12, atol=1e-12)
    for a, c in zip(whole, chunked, strict=True):
        assert_close(c, a, rtol=1e-12, atol=1e-12)


def test_chunked_conv_gradcheck_and_chunk_bounds():
    """Odd sizes, stride, dilation, groups and padding at both ends: the chunks tile y, each reads
    only its slab of x, and gradients through the chunked path pass gradcheck."""
    pytest.importorskip("threadpoolctl")
    from tinygrad_med.ops import conv_cpu

    rng = numpy.random.default_rng(20)
    x, W, b = rng.standard_normal((2, 4, 9, 7, 5)), rng.standard_normal((6, 2, 3, 2, 3)), rng.standard_normal(6)
    geometry = Geometry((3, 2, 3), (2, 1, 2), (2, 1, 1), ((3, 3), (1, 1), (1, 1)), (9, 7, 5), (6, 8, 3))
    column_bytes = 4 * 3 * 2 * 3 * 8  # C * prod K rows of float64
    with _ForcedChunks(column_bytes * 8 * 3 * 2):  # two output rows (of 8 x 3) per chunk: 2 samples x 3 blocks
        chunks = list(conv_cpu._chunks(x, geometry))
        assert conv_cpu.goes_by_chunks(x, geometry) and len(chunks) == 6
        covered = numpy.zeros((2, 5), int)
        for n, out_rows, in_rows, chunk in chunks:
            covered[n, out_rows] += 1
            assert chunk.O[0] == out_rows.stop - out_rows.start and chunk.I[0] == in_rows.stop - in_rows.start
        assert (covered == 1).all()
        y = F.conv3d(
            tm.tensor(x), tm.tensor(W), tm.tensor(b), stride=(2, 1, 2), padding=(3, 1, 1), dilation=(2, 1, 1), groups=2
        )
        assert_close(y, reference.conv_nd(x, W, b, (2, 1, 2), (3, 1, 1), (2, 1, 1), groups=2), rtol=1e-12, atol=1e-12)
        fn = lambda x, W, b: F.conv3d(x, W, b, stride=(2, 1, 2), padding=(3, 1, 1), dilation=(2, 1, 1), groups=2)  # noqa: E731
        inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
        result = tm.gradcheck(fn, inputs, atol=1e-7, rtol=1e-5)
        assert result.passed, result.report()


def test_reused_column_buffer_does_not_leak_between_steps(monkeypatch):
    """A finished backward hands its column buffer to the next forward of the same shape."""
    from tinygrad_med.ops import conv as conv_ops
    from tinygrad_med.ops import conv_cpu, conv_winograd

    monkeypatch.setattr(conv_winograd, "tile_for", lambda *args: None)  # the im2col path, not Winograd's
    rng = numpy.random.default_rng(18)
    W = tm.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    xs = [rng.standard_normal((2, 2, 6, 6)) for _ in range(3)]
    conv_ops.empty_cache()
    for x in xs:  # step k's forward writes into step k-1's buffer
        xt = tm.tensor(x, requires_grad=True)
        y = F.conv2d(xt, W, padding=1)
        assert_close(y, reference.conv_nd(x, W.numpy(), None, 1, 1), rtol=1e-12, atol=1e-12)
        y.backward(tm.ones(*y.shape, dtype=tm.float64))
    assert len(conv_cpu.spare_buffers.free) == 1
    conv_ops.empty_cache()  # re-exported from conv_cpu
    assert not conv_cpu.spare_buffers.free


# ----------------------------------------------------------------------------- (b) gradients


@given(cfg=conv_configs())
@settings(max_examples=20, deadline=None)
def test_conv_gradcheck(cfg):
    x, W, b = make(cfg, numpy.random.default_rng(7))
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
    result = tm.gradcheck(lambda x, W, b: run_conv(cfg, x, W, b), inputs, atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


@given(cfg=conv_configs(transposed=True))
@settings(max_examples=20, deadline=None)
def test_conv_transpose_gradcheck(cfg):
    x, W, b = make(cfg, numpy.random.default_rng(8), transposed=True)
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
    result = tm.gradcheck(lambda x, W, b: run_conv_t(cfg, x, W, b), inputs, atol=1e-7, rtol=1e-5)
    assert result.passed, result.report()


# ----------------------------------------------------------------------------- (c) devices

PARITY = [  # (d, N, C, F, groups, I, K, S, P, D): tiny, the emulator runs every thread on the CPU
    (1, 2, 3, 4, 1, (9,), (3,), (2,), (1,), (1,)),
    (2, 2, 4, 6, 2, (7, 6), (3, 2), (1, 2), (1, 0), (2, 1)),
    (2, 1, 2, 3, 1, (5, 5), (1, 1), (1, 1), (0, 0), (1, 1)),  # the 1x1 path
    (3, 1, 2, 2, 1, (4, 5, 4), (2, 3, 2), (1, 2, 1), (1, 1, 0), (1, 1, 2)),
]


@pytest.mark.parametrize("case", PARITY, ids=lambda c: f"{c[0]}d")
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_t"])
def test_device_parity(device, case, transposed):
    d, N, C, Fo, groups, I, K, S, P, D = case
    cfg = dict(d=d, N=N, C=C, F=Fo, groups=groups, I=I, K=K, S=S, P=P, D=D, OP=(0,) * d)
    x, W, b = make(cfg, numpy.random.default_rng(9), numpy.float32, transposed)
    run = run_conv_t if transposed else run_conv

    def forward_backward(xa, Wa, ba, make_tensor):
        ts = [make_tensor(a, requires_grad=True) for a in (xa, Wa, ba)]
        y = run(cfg, *ts)
        y.backward(make_tensor(numpy.random.default_rng(10).standard_normal(y.shape).astype(numpy.float32)))
        return [y] + [t.grad for t in ts]

    got = forward_backward(x, W, b, device.tensor)
    expected = device.reference(forward_backward, x, W, b, tm.tensor)
    for actual, wanted in zip(got, expected, strict=True):
        assert actual.device == device.device
        assert_close(actual, wanted)


@pytest.mark.parametrize("case", PARITY, ids=lambda c: f"{c[0]}d")
def test_im2col_col2im_kernels_are_adjoint_and_match_cpu(device, case):
    """<im2col(x), c> == <x, col2im(c)> on every device, and the kernels equal the NumPy reference."""
    d, N, C, _, _, I, K, S, P, D = case
    O = tuple(conv_output_size(i, k, s, p, dl) for i, k, s, p, dl in zip(I, K, S, P, D, strict=True))
    geometry = Geometry(K, S, D, tuple((p, p) for p in P), I, O)
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal((N, C, *I))
    c = rng.standard_normal((C * int(numpy.prod(K)), N * int(numpy.prod(O))))
    x_dev, c_dev = device.tensor(x).data, device.tensor(c).data
    col, gx = im2col(x_dev, geometry), col2im(c_dev, x.shape, geometry)
    numpy.testing.assert_allclose((backend.to_numpy(col) * c).sum(), (x * backend.to_numpy(gx)).sum(), rtol=1e-10)
    assert_close(col, device.reference(im2col, x, geometry), rtol=1e-12, atol=1e-12)
    assert_close(gx, device.reference(col2im, c, x.shape, geometry), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- (d) bad input


def test_channel_mismatch_message():
    x, W = tm.zeros(8, 3, 32, 32), tm.zeros(16, 4, 3, 3)
    message = (
        "conv2d: x has 3 channels but W expects 4 (x.shape=(8, 3, 32, 32) as (N, C, H, W); "
        "W.shape=(16, 4, 3, 3) as (F, C, KH, KW))"
    )
    with pytest.raises(ShapeError) as info:
        F.conv2d(x, W)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: F.conv2d(tm.zeros(1, 6, 5, 5), tm.zeros(4, 2, 3, 3), groups=4),
            r"groups=4 must divide.*\(1, 6, 5, 5\)",
        ),
        (
            lambda: F.conv2d(tm.zeros(1, 4, 5, 5), tm.zeros(3, 2, 3, 3), groups=2),
            r"groups=2 must divide.*\(3, 2, 3, 3\)",
        ),
        (lambda: F.conv2d(tm.zeros(1, 1, 2, 2), tm.zeros(1, 1, 3, 3)), r"kernel \(3, 3\) is larger.*\(2, 2\)"),
        (lambda: F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(1, 1, 3, 3), dilation=2), r"kernel \(5, 5\) is larger"),
        (lambda: F.conv3d(tm.zeros(1, 4, 4), tm.zeros(1, 1, 3, 3, 3)), r"x must be 5-D .* got 3-D.*\(1, 4, 4\)"),
        (lambda: F.conv2d(tm.zeros(2, 1, 1, 4, 4), tm.zeros(1, 1, 3, 3)), r"x must be 4-D.*got 5-D"),
        (lambda: F.conv1d(tm.zeros(1, 1, 4), tm.zeros(1, 1, 3, 3)), r"W must be 3-D, got 4-D"),
        (lambda: F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(1, 1, 3, 3), stride=2, padding="same"), "needs stride 1"),
        (lambda: F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(1, 1, 3, 3), padding="full"), "'valid' or 'same'"),
        (lambda: F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(1, 1, 3, 3), stride=(1, 0)), "stride must be a positive"),
        (lambda: F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(2, 1, 3, 3), tm.zeros(3)), r"b must have shape \(2,\)"),
        (lambda: conv_transpose2d(tm.zeros(1, 3, 4, 4), tm.zeros(2, 1, 3, 3)), "x has 3 channels but W expects 2"),
        (
            lambda: conv_transpose2d(tm.zeros(1, 2, 4, 4), tm.zeros(2, 1, 3, 3), stride=2, output_padding=2),
            "output_padding 2 must be smaller",
        ),  # fmt: skip
        (lambda: conv_transpose1d(tm.zeros(1, 1, 1), tm.zeros(1, 1, 1), padding=1), "output size .* not positive"),
    ],
)
def test_bad_input_raises_shape_error(call, match):
    with pytest.raises(ShapeError, match=match):
        call()


def test_dtype_mismatch_raises():
    with pytest.raises(DTypeError, match="float32, W float64"):
        F.conv2d(tm.zeros(1, 1, 4, 4), tm.zeros(1, 1, 3, 3, dtype=tm.float64))


# ----------------------------------------------------------------------------- PyTorch


def _torch_check(torch, y, t, ours, theirs):
    gy = numpy.random.default_rng(13).standard_normal(tuple(t.shape))
    y.backward(tm.tensor(gy))
    t.backward(torch.tensor(gy))
    assert y.shape == tuple(t.shape)
    for a, b in zip([y] + [o.grad for o in ours], [t] + [o.grad for o in theirs], strict=True):
        numpy.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note about its own padded copy
@given(cfg=conv_configs())
@settings(max_examples=20, deadline=None)
def test_conv_matches_pytorch(cfg):
    torch = pytest.importorskip("torch")
    x, W, b = make(cfg, numpy.random.default_rng(12))
    ours, theirs = (
        [tm.tensor(a, requires_grad=True) for a in (x, W, b)],
        [torch.tensor(a, requires_grad=True) for a in (x, W, b)],
    )
    f = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[cfg["d"]]
    _torch_check(torch, run_conv(cfg, *ours), f(*theirs, cfg["S"], cfg["P"], cfg["D"], cfg["groups"]), ours, theirs)


@given(cfg=conv_configs(transposed=True))
@settings(max_examples=20, deadline=None)
def test_conv_transpose_matches_pytorch(cfg):
    torch = pytest.importorskip("torch")
    x, W, b = make(cfg, numpy.random.default_rng(14), transposed=True)
    ours, theirs = (
        [tm.tensor(a, requires_grad=True) for a in (x, W, b)],
        [torch.tensor(a, requires_grad=True) for a in (x, W, b)],
    )
    f = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}.get(cfg["d"])
    t = (f or torch.nn.functional.conv_transpose3d)(*theirs, cfg["S"], cfg["P"], cfg["OP"], cfg["groups"], cfg["D"])
    _torch_check(torch, run_conv_t(cfg, *ours), t, ours, theirs)


# ----------------------------------------------------------------------------- nn layers

LAYERS = [
    (nn.Conv1d, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2), (2, 4, 9)),
    (nn.Conv2d, dict(in_channels=3, out_channels=5, kernel_size=(3, 2), dilation=(1, 2), padding="same"), (2, 3, 6, 7)),
    (nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=2, bias=False), (1, 2, 3, 4, 3)),
    (nn.ConvTranspose1d, dict(in_channels=4, out_channels=2, kernel_size=3, stride=2, output_padding=1), (2, 4, 5)),
    (
        nn.ConvTranspose2d,
        dict(in_channels=2, out_channels=4, kernel_size=4, stride=2, padding=1, groups=2),
        (1, 2, 3, 3),
    ),
    (nn.ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=(2, 3, 2), dilation=2), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("cls, kwargs, x_shape", LAYERS, ids=lambda v: getattr(v, "__name__", ""))
def test_layer_parameters_init_and_forward(cls, kwargs, x_shape):
    layer = cls(**kwargs)
    C, Fo, g = kwargs["in_channels"], kwargs["out_channels"], kwargs.get("groups", 1)
    K = layer.kernel_size
    expected = (C, Fo // g, *K) if "Transpose" in cls.__name__ else (Fo, C // g, *K)
    assert layer.weight.shape == expected and layer.weight.dtype == numpy.float32
    assert sorted(layer.state_dict()) == (["bias", "weight"] if kwargs.get("bias", True) else ["weight"])
    bound = 1 / numpy.sqrt(expected[1] * numpy.prod(K))  # kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in))
    w = layer.weight.numpy()
    assert numpy.abs(w).max() <= bound and numpy.abs(w).max() > 0.5 * bound
    if layer.bias is not None:
        assert layer.bias.shape == (Fo,) and numpy.abs(layer.bias.numpy()).max() <= bound
    x = tm.randn(*x_shape)
    y = layer(x)
    conv = getattr(F, cls.__name__.lower().replace("convtranspose", "conv_transpose"), None)
    if conv is None:
        conv = CONV_T[layer.d]
        expected_y = conv(
            x, layer.weight, layer.bias, layer.stride, layer.padding, layer.output_padding, g, layer.dilation
        )
    else:
        expected_y = conv(x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, g)
    assert_close(y, expected_y)
    y.sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape


@pytest.mark.parametrize("cls, kwargs, x_shape", LAYERS, ids=lambda v: getattr(v, "__name__", ""))
def test_layer_state_dict_maps_onto_pytorch(cls, kwargs, x_shape):
    torch = pytest.importorskip("torch")
    ours, theirs = cls(**kwargs), getattr(torch.nn, cls.__name__)(**kwargs)
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ours.state_dict().items()
    }
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = numpy.random.default_rng(15).standard_normal(x_shape).astype(numpy.float32)
    assert_close(ours(tm.tensor(x)), theirs(torch.tensor(x)).detach().numpy())
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_pytorch(mode):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
    ours = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = numpy.random.default_rng(16).standard_normal((1, 2, 5, 6)).astype(numpy.float32)
    assert_close(ours(tm.tensor(x)), theirs(torch.tensor(x)).detach().numpy())


def test_conv_transpose_output_size_argument():
    layer = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = tm.randn(1, 2, 4, 4)
    assert layer(x).shape == (1, 2, 7, 7)
    assert layer(x, output_size=(1, 2, 8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="not reachable"):
        layer(x, output_size=(9, 9))


def test_layer_bad_arguments():
    with pytest.raises(ValueError, match="divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="only padding_mode='zeros'"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


def test_every_public_name_has_a_docstring():
    from tinygrad_med.nn import conv as nn_conv
    from tinygrad_med.nn import receptive_field as utils
    from tinygrad_med.ops import conv, conv_args, conv_cpu, conv_transpose

    for namespace in (conv, conv_transpose, conv_args, conv_cpu, nn_conv, utils):
        for name in namespace.__all__:
            assert getattr(namespace, name).__doc__, f"{namespace.__name__}.{name} has no docstring"
    for op in (conv.conv1d, conv.conv2d, conv.conv3d, conv_transpose.conv_transpose2d):
        for part in ("Lecture:", "Forward:", "Backward:", "Shapes:", "Raises:"):
            assert part in op.__doc__, f"{op.__name__} docstring lacks {part}"
