"""Tests for the CPU convolution's pixel-major chunks and its thread policy (ops/conv_cpu.py, ops/conv_rows.py).

The pixel-major path (im2row @ W_rows, per chunk of output positions) runs for layers without groups and
with 8 channels or more; test_conv.py's drawn configurations have at most 4 channels, so these tests
draw wider ones.  Each checks values and every gradient against the slide's loops (tests/reference.py),
in float64 with tolerances at rounding level, and the thread policy: every product of the CPU
convolution runs with BLAS on one thread (our workers do the splitting).
"""

import math
import types

import numpy
import pytest
import reference
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import cpu_threads
from tinygrad_med.ops import conv as F
from tinygrad_med.ops import conv_cpu, conv_rows
from tinygrad_med.ops.conv import im2col
from tinygrad_med.ops.conv_args import Geometry
from tinygrad_med.ops.conv_transpose import conv_transpose2d

pytest.importorskip("threadpoolctl")

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.fixture
def chunks_of(monkeypatch):
    """chunks_of(n_bytes): every convolution goes by chunks of about n_bytes of columns (on tiny inputs too)."""

    def force(n_bytes):
        monkeypatch.setattr(conv_cpu, "_CHUNKED_MIN_BYTES", 0)
        monkeypatch.setattr(conv_cpu, "_CHUNK_BYTES", n_bytes)

    return force


@st.composite
def wide_configs(draw):
    """A convolution with 8-10 channels, no groups: stride, padding (within the kernel's reach, or 'same'),
    dilation, 1-3 spatial dims, 1-3 samples."""
    d = draw(st.integers(1, 3))
    K = tuple(draw(st.integers(1, 3)) for _ in range(d))
    D = tuple(draw(st.integers(1, 2)) for _ in range(d))
    S = tuple(draw(st.integers(1, 2)) for _ in range(d))
    P = tuple(draw(st.integers(0, dl * (k - 1))) for k, dl in zip(K, D, strict=True))
    if draw(st.booleans()):
        P, S = "same", (1,) * d
    pads = (0,) * d if P == "same" else P
    low = [max(1, dl * (k - 1) + 1 - 2 * p) for k, p, dl in zip(K, pads, D, strict=True)]
    sizes = tuple(draw(st.integers(lo, lo + (2 if d == 3 else 5))) for lo in low)
    return dict(
        d=d,
        C=draw(st.integers(8, 10)),
        F=draw(st.integers(1, 5)),
        K=K,
        S=S,
        P=P,
        D=D,
        I=sizes,
        N=draw(st.integers(1, 3)),
    )


def _pads(cfg):
    if cfg["P"] == "same":
        return [(dl * (k - 1) // 2, dl * (k - 1) - dl * (k - 1) // 2) for k, dl in zip(cfg["K"], cfg["D"], strict=True)]
    return cfg["P"]


def _values_and_grads(cfg, x, W, b):
    inputs = [tm.tensor(a, requires_grad=True) for a in (x, W, b)]
    y = CONV[cfg["d"]](*inputs, cfg["S"], cfg["P"], cfg["D"])
    gy = numpy.cos(numpy.arange(y.numel())).reshape(y.shape)
    y.backward(tm.tensor(gy))
    return y.numpy(), [t.grad.numpy() for t in inputs]


@given(cfg=wide_configs(), chunk_bytes=st.sampled_from([1, 300, 5000]))
@settings(max_examples=20, deadline=None)
def test_pixel_major_chunks_match_the_slide_loops(cfg, chunk_bytes):
    """Forward (against the slide's loops), gx (the flipped-kernel convolution, or col2im for a stride) and gW
    by pixel-major chunks (against the reference im2col path)."""
    rng = numpy.random.default_rng(31)
    x = rng.standard_normal((cfg["N"], cfg["C"], *cfg["I"]))
    W, b = rng.standard_normal((cfg["F"], cfg["C"], *cfg["K"])), rng.standard_normal(cfg["F"])
    saved = conv_cpu._CHUNKED_MIN_BYTES, conv_cpu._CHUNK_BYTES
    conv_cpu._CHUNKED_MIN_BYTES, conv_cpu._CHUNK_BYTES = 0, chunk_bytes
    try:
        assert conv_cpu.pixel_major(x, 1)
        y, grads = _values_and_grads(cfg, x, W, b)
    finally:
        conv_cpu._CHUNKED_MIN_BYTES, conv_cpu._CHUNK_BYTES = saved
    with tm.reference_mode():  # the slide's im2col, one GEMM, col2im (held to the loops by test_conv.py)
        _, reference_grads = _values_and_grads(cfg, x, W, b)
    assert_close(y, reference.conv_nd(x, W, b, cfg["S"], _pads(cfg), cfg["D"]), rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, reference_grads, strict=True):
        assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_im2row_is_im2col_transposed(d):
    """row[(n, o), (k, c)] = col[(c, k), (n, o)], with stride, dilation and uneven padding."""
    rng = numpy.random.default_rng(32)
    I, K = (7, 6, 5)[:d], (3, 2, 3)[:d]
    geometry = Geometry(K, (2, 1, 1)[:d], (1, 2, 1)[:d], ((1, 2), (0, 1), (2, 0))[:d], I, None)
    O = tuple(
        (i + lo + hi - dl * (k - 1) - 1) // s + 1
        for i, (lo, hi), dl, k, s in zip(I, geometry.P, geometry.dil, K, geometry.S, strict=True)
    )
    geometry = geometry._replace(O=O)
    x = rng.standard_normal((2, 9, *I))
    rows = conv_rows.im2row(x, geometry).copy()
    col = im2col(x, geometry)  # (C * prod K, N * prod O), rows in (c, k) order
    expected = col.reshape(9, math.prod(K), -1).swapaxes(0, 1).reshape(-1, col.shape[1]).T
    numpy.testing.assert_array_equal(rows, expected)


@pytest.mark.parametrize("d, stride0, dil0", [(1, 1, 1), (2, 1, 2), (2, 2, 1), (3, 1, 1)])
def test_row_blocks_are_im2rows_column_blocks(d, stride0, dil0):
    """V_k0 = the columns of im2row's matrix with first kernel offset k0, copied once and shifted (stride 1)."""
    rng = numpy.random.default_rng(36)
    I, K = (9, 6, 5)[:d], (3, 2, 3)[:d]
    S, dil = (stride0, 1, 2)[:d], (dil0, 1, 1)[:d]
    P = ((2, 1), (1, 0), (0, 2))[:d]
    O = tuple((i + lo + hi - dl * (k - 1) - 1) // s + 1 for i, (lo, hi), dl, k, s in zip(I, P, dil, K, S, strict=True))
    geometry = Geometry(K, S, dil, P, I, O)
    x = rng.standard_normal((2, 8, *I))
    full = conv_rows.im2row(x, geometry).copy().reshape(2, math.prod(O), K[0], -1)
    blocks = conv_rows.row_blocks(x, geometry)
    assert len(blocks) == K[0]
    for k0, V in enumerate(blocks):
        numpy.testing.assert_array_equal(V, full[:, :, k0])


def test_weight_rows_and_back():
    """W_rows[(k, c), f] = W[f, c, k]; the gW of the pixel-major path is read back in W's layout."""
    W = numpy.arange(5 * 3 * 2 * 4, dtype=float).reshape(5, 3, 2, 4)
    W_rows = conv_rows.weight_rows(W)
    assert W_rows.shape == (2 * 4 * 3, 5)
    for f, c, k0, k1 in numpy.ndindex(*W.shape):
        assert W_rows[(k0 * 4 + k1) * 3 + c, f] == W[f, c, k0, k1]


def test_every_layer_with_enough_positions_has_a_chunk_per_worker(monkeypatch):
    """Both cores work on a small layer too: its chunks are at least as many as the workers."""
    monkeypatch.setattr(conv_cpu, "_THREADS", 2)
    x = numpy.zeros((1, 16, 32, 32), numpy.float32)
    geometry = Geometry((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (32, 32), (32, 32))
    chunks = list(conv_cpu._chunks(x, geometry))
    assert len(chunks) >= 2
    covered = numpy.zeros(32, int)
    for _, out_rows, _, _ in chunks:
        covered[out_rows] += 1
    assert (covered == 1).all()


def test_split_products_are_matmul_and_always_the_same_sum(monkeypatch):
    """Split over the workers (contracted_product sums its parts in block order): equal to matmul, and bit for
    bit the same every time."""
    monkeypatch.setattr(conv_cpu, "_PARALLEL_MIN_SIZE", 1)
    rng = numpy.random.default_rng(33)
    a, b = rng.standard_normal((3, 7, 1001)).astype(numpy.float32), rng.standard_normal((3, 1001, 5)).astype("f4")
    first = conv_cpu.contracted_product(a, b)
    assert_close(first, numpy.matmul(a.astype(float), b.astype(float)), rtol=1e-4, atol=1e-4)
    for _ in range(5):
        numpy.testing.assert_array_equal(conv_cpu.contracted_product(a, b), first)
    left, right = rng.standard_normal((3, 11, 5)), rng.standard_normal((3, 5, 999))
    assert_close(conv_cpu.columns_product(left, right), numpy.matmul(left, right), rtol=1e-13, atol=1e-13)


@pytest.mark.skipif(not cpu_threads.has_control(), reason="BLAS threads cannot be read without threadpoolctl")
@pytest.mark.parametrize(
    "case",
    ["pointwise", "whole", "pixel-major chunks", "grouped chunks", "strided chunks", "transposed"],
)
def test_every_product_of_the_cpu_convolution_runs_on_one_blas_thread(monkeypatch, case):
    """The CPU convolution never wakes BLAS's own threads (they would spin beside our workers): every
    numpy.matmul in ops/conv_cpu.py and ops/conv_rows.py runs while BLAS is held to one thread."""
    calls = []

    def matmul(*args, **kwargs):
        calls.append(cpu_threads.blas_threads())
        return numpy.matmul(*args, **kwargs)

    proxy = types.SimpleNamespace(**{name: getattr(numpy, name) for name in dir(numpy) if not name.startswith("__")})
    proxy.matmul = matmul
    monkeypatch.setattr(conv_cpu, "numpy", proxy)
    monkeypatch.setattr(conv_rows, "numpy", proxy)
    monkeypatch.setattr(conv_cpu, "_PARALLEL_MIN_SIZE", 1)  # the workers split even these small products
    if case.endswith("chunks"):
        monkeypatch.setattr(conv_cpu, "_CHUNKED_MIN_BYTES", 0)
        monkeypatch.setattr(conv_cpu, "_CHUNK_BYTES", 2000)
    else:
        monkeypatch.setattr(conv_cpu, "_CHUNKED_MIN_BYTES", 1 << 62)
    rng = numpy.random.default_rng(34)
    groups = 2 if case == "grouped chunks" else 1
    K = 1 if case == "pointwise" else 3
    x = tm.tensor(rng.standard_normal((2, 8, 12, 12)).astype("f4"), requires_grad=True)
    if case == "transposed":
        W = tm.tensor(rng.standard_normal((8, 4, 2, 2)).astype("f4"), requires_grad=True)
        y = conv_transpose2d(x, W, stride=2)
    else:
        W = tm.tensor(rng.standard_normal((6, 8 // groups, K, K)).astype("f4"), requires_grad=True)
        y = F.conv2d(x, W, padding=K // 2, stride=2 if case == "strided chunks" else 1, groups=groups)
    y.sum().backward()
    assert calls and all(n == 1 for n in calls), calls


@pytest.mark.parametrize("case", ["pixel-major", "grouped", "strided"])
def test_chunk_sums_do_not_depend_on_which_worker_takes_which_chunk(monkeypatch, case):
    """gW (and a strided gx) sum over chunks: bit for bit the same whatever order the workers draw the
    chunks in (a resumed run must equal the straight one)."""
    monkeypatch.setattr(conv_cpu, "_CHUNKED_MIN_BYTES", 0)
    monkeypatch.setattr(conv_cpu, "_CHUNK_BYTES", 3000)
    rng = numpy.random.default_rng(35)
    groups, stride = (2, 1) if case == "grouped" else (1, 2 if case == "strided" else 1)
    x = rng.standard_normal((3, 8, 17, 13)).astype("f4")
    W = rng.standard_normal((6, 8 // groups, 3, 3)).astype("f4")

    def grads():
        inputs = [tm.tensor(a, requires_grad=True) for a in (x, W)]
        y = F.conv2d(*inputs, padding=1, stride=stride, groups=groups)
        y.backward(tm.tensor(numpy.sin(numpy.arange(y.numel())).reshape(y.shape).astype("f4")))
        return [t.grad.numpy() for t in inputs]

    first = grads()
    shared_queue = conv_cpu._SharedQueue
    monkeypatch.setattr(conv_cpu, "_SharedQueue", lambda items: shared_queue(items[::-1]))  # drawn last first
    for got, want in zip(grads(), first, strict=True):
        numpy.testing.assert_array_equal(got, want)


def test_a_threads_scratch_buffers_go_with_it_and_empty_cache_drops_the_rest():
    """Scratch buffers are per thread: a thread that ran a convolution and ended leaves none behind."""
    import gc
    import threading

    x = numpy.zeros((1, 8, 6, 6))
    geometry = Geometry((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (6, 6), (6, 6))
    conv_rows.im2row(x, geometry)
    assert conv_rows._SCRATCH.buffers  # this thread's
    living = len(conv_rows._SCRATCH_SETS)
    seen = []
    thread = threading.Thread(target=lambda: (conv_rows.im2row(x, geometry), seen.append(len(conv_rows._SCRATCH_SETS))))
    thread.start()
    thread.join()
    del thread
    gc.collect()
    assert seen == [living + 1]  # the thread had its own while it ran ...
    assert len(conv_rows._SCRATCH_SETS) == living  # ... and they went with it
    conv_cpu.empty_cache()
    assert not any(conv_rows._SCRATCH_SETS)
