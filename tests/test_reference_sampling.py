"""grid_sample, roi_align and roi_pool: reference == fast CPU path == kernel, values and gradients.

The reference (ops/sample.py::_grid_sample_fwd_cpu / _bwd_cpu, ops/detection.py::_roi_align_fwd_cpu /
_bwd_cpu) runs under tm.reference_mode(); the fast path (ops/sample_fast.py, ops/detection_fast.py)
outside it; the kernels (kernels/sample.cu, kernels/detection.cu) on the emulated device (and cuda
where present).  All three must agree on y and on every input's gradient.
"""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.ops import detection_fast, sample_fast


def _run(fn, arrays, device=None):
    """y and the gradient of sum(y * cos(index)) for every input, as float64 numpy arrays."""
    make = (lambda a, **k: tm.tensor(a, **k)) if device is None else device.tensor
    inputs = [make(a, requires_grad=True) for a in arrays]
    y = fn(*inputs)
    weights = numpy.cos(numpy.arange(y.numel())).reshape(y.shape).astype(arrays[0].dtype)
    (y * make(weights)).sum().backward()
    to_numpy = (lambda t: t.numpy()) if device is None else device.numpy
    return [numpy.asarray(to_numpy(t), numpy.float64) for t in [y] + [t.grad for t in inputs]]


def _three_ways(fn, arrays, device, calls, rtol, atol, fn_cpu=None):
    """Reference, fast path and the device's kernels on the same inputs; ``calls`` counts fast-path calls."""
    with backend.use_emulator(False):
        with tm.reference_mode():
            reference = _run(fn_cpu or fn, arrays)
        assert calls == [], "the fast path ran under tm.reference_mode()"
        fast = _run(fn_cpu or fn, arrays)
        assert calls, "the fast path did not run outside tm.reference_mode()"
    kernel = _run(fn, arrays, device)
    for r, f, k in zip(reference, fast, kernel, strict=True):
        assert_close(f, r, rtol=1e-12, atol=1e-12)  # same float64 math, two orders of summation
        assert_close(k, r, rtol=rtol, atol=atol)  # the kernel: float64 too, its own order of atomic adds


def _spy(monkeypatch, module, names):
    calls = []
    for name in names:
        original = getattr(module, name)

        def spy(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return calls


KERNEL_DEVICES = pytest.mark.parametrize(
    "device", ["emulated", pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True
)  # the devices that run the kernels (conftest's device fixture)


@KERNEL_DEVICES
@pytest.mark.parametrize(
    "mode, padding_mode, align_corners, nd",
    [
        ("bilinear", "zeros", False, 2),
        ("bilinear", "reflection", True, 2),
        ("nearest", "border", False, 2),
        ("bicubic", "zeros", True, 2),
        ("bilinear", "border", True, 3),
    ],
)
def test_grid_sample_reference_fast_and_kernel_agree(device, monkeypatch, mode, padding_mode, align_corners, nd):
    calls = _spy(monkeypatch, sample_fast, ["grid_sample_fwd", "grid_sample_bwd"])
    rng = numpy.random.default_rng(131)
    x = rng.standard_normal((2, 3, *(3, 4, 5)[3 - nd :]))
    grid = rng.uniform(-1.25, 1.25, (2, *(2, 3, 4)[3 - nd :], nd))  # some points outside the input

    def fn(x, grid):
        return tm.nn.functional.grid_sample(x, grid, mode, padding_mode, align_corners)

    _three_ways(fn, (x, grid), device, calls, rtol=1e-9, atol=1e-9)


@KERNEL_DEVICES
@pytest.mark.parametrize("aligned, sampling_ratio", [(False, -1), (True, 2), (False, 1)])
def test_roi_align_reference_fast_and_kernel_agree(device, monkeypatch, aligned, sampling_ratio):
    calls = _spy(monkeypatch, detection_fast, ["roi_align_fwd", "roi_align_bwd"])
    rng = numpy.random.default_rng(132)
    x = rng.standard_normal((2, 3, 6, 7))
    rois = numpy.array([[0, 0.5, 1.0, 4.5, 6.0], [1, -1.0, 2.0, 3.0, 5.5], [1, 2.2, 0.3, 9.0, 3.1]])  # one past W

    def fn(x):
        return tm.ops.detection.roi_align(x, device.tensor(rois), (2, 3), 0.8, sampling_ratio, aligned)

    def fn_cpu(x):  # the CPU runs keep the boxes on the CPU
        return tm.ops.detection.roi_align(x, tm.tensor(rois), (2, 3), 0.8, sampling_ratio, aligned)

    _three_ways(fn, (x,), device, calls, rtol=1e-9, atol=1e-9, fn_cpu=fn_cpu)


@KERNEL_DEVICES
def test_roi_pool_reference_fast_and_kernel_agree(device, monkeypatch):
    calls = _spy(monkeypatch, detection_fast, ["roi_pool_fwd"])
    x = numpy.random.default_rng(133).permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7) / 7.0  # no ties
    rois = numpy.array([[0, 0.5, 1.0, 4.5, 6.0], [1, -1.0, 2.0, 3.0, 5.5], [1, 2.2, 0.3, 9.0, 3.1], [0, 9, 9, 12, 12]])

    def fn(x):
        return tm.ops.detection.roi_pool(x, device.tensor(rois), (2, 3), 0.8)

    def fn_cpu(x):
        return tm.ops.detection.roi_pool(x, tm.tensor(rois), (2, 3), 0.8)

    _three_ways(fn, (x,), device, calls, rtol=1e-12, atol=1e-12, fn_cpu=fn_cpu)


def test_roi_pool_reference_and_fast_path_agree_on_ties_nan_and_empty_bins():
    """Ties pick the first maximum in row-major order; nan and -inf never win (torchvision's strict ">");
    a bin past the map is empty (0, argmax -1)."""
    from tinygrad_med.ops import detection

    x = numpy.zeros((1, 2, 5, 5))
    x[0, 0, 1:3, 1:3] = numpy.nan
    x[0, 1, :2, :2] = -numpy.inf
    x[0, 1, 3, 3] = 2.0
    rois = numpy.array([[0, 0, 0, 4, 4], [0, 1, 1, 2, 2], [0, 0, 0, 1, 1], [0, 6, 6, 9, 9]], numpy.float64)
    with tm.reference_mode():
        reference = detection._roi_pool_fwd_cpu(x, rois, (2, 2), 1.0)
    fast = detection_fast.roi_pool_fwd(x, rois, (2, 2), 1.0)
    for r, f in zip(reference, fast, strict=True):
        numpy.testing.assert_array_equal(numpy.asarray(f), r)
    assert (reference[1][3] == -1).all() and (reference[0][1, 0] == detection_fast.LOWEST).all()


def test_the_references_are_short_and_named_in_the_docstrings():
    """The slide's version stays readable: each forward/backward pair at most ~40 lines, named where the op says."""
    import inspect

    from tinygrad_med.ops import detection, sample

    pairs = [
        (sample, "_grid_sample_fwd_cpu", "_grid_sample_bwd_cpu", sample.grid_sample),
        (detection, "_roi_align_fwd_cpu", "_roi_align_bwd_cpu", detection.roi_align),
        (detection, "_roi_pool_fwd_cpu", "_roi_pool_bwd_cpu", detection.roi_pool),
    ]
    for module, fwd, bwd, op in pairs:
        lines = sum(len(inspect.getsource(getattr(module, name)).splitlines()) for name in (fwd, bwd))
        assert lines <= 40, (fwd, lines)
        assert fwd in op.__doc__ or fwd.replace("_fwd_cpu", "") in op.__doc__, fwd
