"""Each op's reference (the slide's formula, what tm.reference_mode() runs) equals its fast CPU path.

For every op family with a fast CPU path: forward and every gradient agree over random valid
configurations, and under reference_mode the fast module is not called at all (it is patched
to raise).  The CUDA kernels' agreement with the same reference is in each family's test file
(the ``device`` fixture: emulated, and cuda where present).
"""

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import conv_configs, make, run_conv

import tinygrad_med as tm
from tinygrad_med.ops import conv_cpu
from tinygrad_med.ops.conv import conv2d
from tinygrad_med.ops.conv_transpose import conv_transpose2d


def forward_and_grads(fn, arrays):
    """y and the gradient of sum(y * cos(index)) for every input (a gy with no symmetry to hide errors)."""
    inputs = [tm.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*inputs)
    (y * tm.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape))).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in inputs]


def assert_reference_equals_fast(fn, arrays, rtol=1e-12, atol=1e-12):
    with tm.reference_mode():
        reference = forward_and_grads(fn, arrays)
    fast = forward_and_grads(fn, arrays)
    for r, f in zip(reference, fast, strict=True):
        assert_close(f, r, rtol=rtol, atol=atol)


def _refuse(*args, **kwargs):
    raise AssertionError("the fast path ran under tm.reference_mode()")


# ----------------------------------------------------------------------------- convolution


@given(cfg=conv_configs(), chunk_bytes=st.sampled_from([None, 1, 300]), threads=st.booleans())
@settings(max_examples=30, deadline=None)
def test_conv_reference_equals_fast_path(cfg, chunk_bytes, threads):
    """Whole, chunked (forced on tiny inputs) and threaded fast paths against im2col + one GEMM + col2im."""
    x, W, b = make(cfg, numpy.random.default_rng(31))
    with pytest.MonkeyPatch.context() as patch:
        if chunk_bytes is not None and conv_cpu.ThreadpoolController is not None:
            patch.setattr(conv_cpu, "_CHUNKED_MIN_BYTES", 0)
            patch.setattr(conv_cpu, "_CHUNK_BYTES", chunk_bytes)
        if threads:
            patch.setattr(conv_cpu, "_PARALLEL_MIN_SIZE", 0)
            patch.setattr(conv_cpu, "_THREADS", 2)
        assert_reference_equals_fast(lambda x, W, b: run_conv(cfg, x, W, b), (x, W, b))


def test_conv_pointwise_and_empty_batch_reference_equals_fast_path():
    rng = numpy.random.default_rng(32)
    x, W, b = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((6, 2, 1, 1)), rng.standard_normal(6)
    assert_reference_equals_fast(lambda x, W, b: conv2d(x, W, b, groups=2), (x, W, b))  # the 1x1 shortcut
    x0 = numpy.zeros((0, 4, 3, 5))
    assert_reference_equals_fast(lambda x, W, b: conv2d(x, W, b, padding=1), (x0, rng.standard_normal((6, 4, 3, 3)), b))


def test_conv_reference_mode_never_calls_the_fast_module(monkeypatch):
    rng = numpy.random.default_rng(33)
    x, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    calls = []
    monkeypatch.setattr(conv_cpu, "conv_forward", lambda *a: calls.append(a) or _refuse())
    with pytest.raises(AssertionError, match="fast path ran"):  # outside the mode the fast path is taken
        conv2d(tm.tensor(x), tm.tensor(W))
    for name in ("conv_forward", "conv_backward", "im2col", "col2im"):
        monkeypatch.setattr(conv_cpu, name, _refuse)
    with tm.reference_mode():
        got = forward_and_grads(lambda x, W: conv2d(x, W, padding=1, stride=(2, 1)), (x, W))
        got_t = forward_and_grads(lambda x, W: conv_transpose2d(x, W, stride=2), (x, W.swapaxes(0, 1)))
    assert got[0].shape == (2, 4, 3, 6) and got_t[0].shape == (2, 4, 13, 10) and calls


# ----------------------------------------------------------------------------- batch norm and max pooling


@given(
    N=st.integers(1, 3),
    C=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    training=st.booleans(),
    affine=st.booleans(),
)
@settings(max_examples=25, deadline=None)
def test_batch_norm_reference_equals_fast_path(N, C, spatial, training, affine):
    """Algorithm 1 / 2 and the compact chain rule as written (norm.py) against ops/norm_fast.py."""
    if training and N * numpy.prod(spatial, dtype=int) < 2:
        N = 2  # training needs more than one value per channel
    rng = numpy.random.default_rng(34)
    x = rng.standard_normal((N, C, *spatial)) * 3 + 1
    stats = rng.standard_normal(C), rng.random(C) + 0.5

    def fn(x, *params):
        running = [tm.tensor(s.copy()) for s in stats]
        return tm.nn.functional.batch_norm(x, *running, *params, training=training)

    params = (rng.standard_normal(C), rng.standard_normal(C)) if affine else ()
    assert_reference_equals_fast(fn, (x, *params))


def test_batch_norm_reference_mode_never_calls_the_fast_module(monkeypatch):
    from tinygrad_med.ops import norm_fast

    monkeypatch.setattr(norm_fast, "PATHS", (_refuse, _refuse, _refuse))
    x = numpy.random.default_rng(35).standard_normal((4, 3, 5))
    with pytest.raises(AssertionError, match="fast path ran"):
        forward_and_grads(lambda x: tm.nn.functional.batch_norm(x, None, None, training=True), (x,))
    with tm.reference_mode():
        y, gx = forward_and_grads(lambda x: tm.nn.functional.batch_norm(x, None, None, training=True), (x,))
    assert_close(y.mean(axis=(0, 2)), numpy.zeros(3), atol=1e-12) and abs(gx).sum() > 0


def test_reference_equals_kernels(device):
    """Under reference_mode the CPU runs the references; the device (emulated / cuda) runs the kernels."""
    rng = numpy.random.default_rng(36)
    x, W = rng.standard_normal((2, 3, 7, 6)).astype("float32"), rng.standard_normal((4, 3, 3, 2)).astype("float32")
    grid = rng.uniform(-1.2, 1.2, (2, 3, 4, 2)).astype("float32")
    rois = numpy.array([[0, 0.5, 1.0, 4.5, 6.0], [1, -1.0, 2.0, 3.0, 5.5]], "float32")
    ops = {
        "conv2d": (lambda x, W: conv2d(x, W, padding=1, stride=(2, 1)), (x, W)),
        "max_pool2d": (lambda x: tm.nn.functional.max_pool2d(x, 3, stride=2, padding=1), (x,)),
        "batch_norm": (lambda x: tm.nn.functional.batch_norm(x, None, None, training=True), (x,)),
        "grid_sample": (lambda x, g: tm.nn.functional.grid_sample(x, g, padding_mode="border"), (x, grid)),
        "roi_align": (lambda x: tm.ops.detection.roi_align(x, device.tensor(rois), (2, 3), 0.8, 2), (x,)),
    }
    for name, (fn, arrays) in ops.items():
        with tm.reference_mode():
            expected = forward_and_grads(fn, arrays)
            inputs = [device.tensor(a, requires_grad=True) for a in arrays]
            y = fn(*inputs)
            (y * device.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape).astype("float32"))).sum().backward()
        for got, want in zip([y] + [t.grad for t in inputs], expected, strict=True):
            assert_close(device.numpy(got), want, rtol=1e-4, atol=1e-5), name


# ----------------------------------------------------------------------------- Adam / AdamW


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adam_reference_equals_fast_path(cls, weight_decay, amsgrad, dtype):
    """Six steps of the slide's five lines (adam.py::_adam_step_cpu) against optim/adam_fast.py, a 0-d param too."""
    rng = numpy.random.default_rng(37)
    start = [rng.standard_normal(s).astype(dtype) for s in ((3, 4), (), (5,))]
    grads = [[rng.standard_normal(w.shape).astype(dtype) for w in start] for _ in range(6)]

    def run():
        params = [tm.tensor(w.copy(), requires_grad=True) for w in start]
        opt = getattr(tm.optim, cls)(params, lr=0.05, weight_decay=weight_decay, amsgrad=amsgrad)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = tm.tensor(g)
            opt.step()
        return [p.numpy() for p in params] + [opt.state[p][k] for p in params for k in ("exp_avg", "exp_avg_sq")]

    with tm.reference_mode():
        reference = run()
    fast = run()
    tol = 1e-12 if dtype == "float64" else 1e-6
    for r, f in zip(reference, fast, strict=True):
        assert f.dtype == r.dtype == numpy.dtype(dtype)
        assert_close(f, r, rtol=tol, atol=tol)
    assert not numpy.allclose(reference[0], start[0])  # the steps moved the weights


def test_adam_reference_mode_never_calls_the_fast_module(monkeypatch):
    from tinygrad_med.optim import adam_fast

    monkeypatch.setattr(adam_fast, "adam_step", _refuse)
    w = tm.tensor(numpy.ones(3), requires_grad=True)
    opt = tm.optim.Adam([w], lr=0.1)
    w.grad = tm.tensor(numpy.array([1.0, -2.0, 0.5]))
    with tm.reference_mode():
        opt.step()
    assert_close(w.numpy(), [0.9, 1.1, 0.9], rtol=1e-6)  # step 1: m^ = g, v^ = g^2, so w - lr sign(g)
    with pytest.raises(AssertionError, match="fast path ran"):
        opt.step()


# ----------------------------------------------------------------------------- tgm gradcheck --reference


def test_gradcheck_table_passes_through_the_references(monkeypatch, capsys):
    """`tgm gradcheck --reference` runs the whole CPU table with every fast path patched to raise."""
    from tinygrad_med import cli
    from tinygrad_med.ops import norm_fast

    for name in ("conv_forward", "conv_backward", "im2col", "col2im"):
        monkeypatch.setattr(conv_cpu, name, _refuse)
    monkeypatch.setattr(norm_fast, "PATHS", (_refuse, _refuse, _refuse))
    from tinygrad_med.ops import detection_fast, sample_fast

    for module, name in (
        (sample_fast, "grid_sample_fwd"),
        (detection_fast, "roi_align_bwd"),
        (detection_fast, "roi_pool_fwd"),
    ):
        monkeypatch.setattr(module, name, _refuse)
    assert cli.main(["gradcheck", "--device", "cpu", "--reference"]) == 0
    assert ", 0 failed" in capsys.readouterr().out and not tm.is_reference_mode()
    assert cli.main(["gradcheck", "--device", "cpu", "--op", "conv2d", "--op", "batch_norm"]) == 1  # fast paths ran


# ----------------------------------------------------------------------------- grid_sample and roi_align


@given(
    nd=st.sampled_from([2, 3]),
    mode=st.sampled_from(["bilinear", "nearest", "bicubic"]),
    padding_mode=st.sampled_from(["zeros", "border", "reflection"]),
    align_corners=st.booleans(),
    N=st.integers(1, 2),
    C=st.integers(1, 3),
)
@settings(max_examples=30, deadline=None)
def test_grid_sample_reference_equals_fast_path(nd, mode, padding_mode, align_corners, N, C):
    """The taps gathered by fancy indexing and scattered by add.at against the sparse-matrix products."""
    if mode == "bicubic":
        nd = 2  # bicubic takes 4-D input only, as PyTorch
    rng = numpy.random.default_rng(38)
    x = rng.standard_normal((N, C, *(3, 4, 5)[3 - nd :]))
    grid = rng.uniform(-1.3, 1.3, (N, *(2, 3, 4)[3 - nd :], nd))  # some points outside the image

    def fn(x, grid):
        return tm.nn.functional.grid_sample(x, grid, mode, padding_mode, align_corners)

    assert_reference_equals_fast(fn, (x, grid))


@given(
    aligned=st.booleans(),
    sampling_ratio=st.sampled_from([-1, 1, 2]),
    K=st.integers(1, 4),
    out=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
@settings(max_examples=25, deadline=None)
def test_roi_align_reference_equals_fast_path(aligned, sampling_ratio, K, out):
    """y[k] = A_k x[b_k] B_k^T and its add.at adjoint against the one sparse matrix, RoIs partly outside the map."""
    rng = numpy.random.default_rng(39)
    x = rng.standard_normal((2, 3, 6, 7))
    corners = numpy.sort(rng.uniform(-2, 9, (K, 2, 2)), axis=1)  # (x1, y1) <= (x2, y2)
    rois = numpy.column_stack([rng.integers(0, 2, K), corners[:, 0], corners[:, 1]])  # (b, x1, y1, x2, y2)

    def fn(x):
        return tm.ops.detection.roi_align(x, tm.tensor(rois), out, 0.8, sampling_ratio, aligned)

    assert_reference_equals_fast(fn, (x,))


def test_reference_mode_never_calls_the_sparse_paths(monkeypatch):
    from tinygrad_med.ops import detection, detection_fast, sample_fast

    for name in ("grid_sample_fwd", "grid_sample_bwd"):
        monkeypatch.setattr(sample_fast, name, _refuse)
    for name in ("roi_align_fwd", "roi_align_bwd"):
        monkeypatch.setattr(detection_fast, name, _refuse)
    x, grid = numpy.random.default_rng(40).standard_normal((1, 2, 4, 5)), numpy.zeros((1, 2, 3, 2))
    rois = tm.tensor(numpy.array([[0, 0.5, 0.5, 3.0, 2.5]]))
    with pytest.raises(AssertionError, match="fast path ran"):
        forward_and_grads(lambda x: detection.roi_align(x, rois, (2, 2)), (x,))
    with tm.reference_mode():
        y, _, g_grid = forward_and_grads(lambda x, g: tm.nn.functional.grid_sample(x, g, align_corners=True), (x, grid))
        y_roi, gx = forward_and_grads(lambda x: detection.roi_align(x, rois, (2, 2)), (x,))
    assert_close(y[0, :, 0, 0], x[0, :, 1:3, 2].mean(axis=1), rtol=1e-12)  # g = 0: the centre, rows 1.5, column 2
    assert y_roi.shape == (1, 2, 2, 2) and abs(gx).sum() > 0
