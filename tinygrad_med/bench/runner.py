"""Run the workloads: check each against the CPU float64 result, then time it.

A row is one (workload, size, device, pass) with the median time, the spread, the
achieved GFLOP/s and GB/s, the share of the roofline measured in the same run, and
PyTorch's time for the same call where torch is importable: a block of ours, a block of
PyTorch's, again ours, again PyTorch's (ABAB, warm-up excluded), the ratio of the medians over
the blocks with the ratio of each pair (benchmarks/bench_vs_torch.py also puts each framework in
its own process).
"""

import statistics

import numpy

from .. import backend
from ..function import no_grad
from ..tensor import Tensor
from .timing import measure, summarize
from .workloads import WORKLOADS

__all__ = ["run_benchmarks", "TOLERANCE"]

TOLERANCE = 1e-3  # relative L2 error of a float32 result against float64 (float32 lands far under)


def _tensors(items, device, dtype):
    out = []
    for value, requires_grad in items:
        if isinstance(value, str):  # integer labels come as ("int", array)
            continue
        out.append(Tensor(value.astype(dtype), requires_grad=requires_grad and dtype.kind == "f", device=device))
    return out


def _with_labels(items, tensors, device):
    """Put integer label arrays back in their places among the float tensors."""
    result, floats = [], iter(tensors)
    for value, extra in items:
        result.append(Tensor(numpy.asarray(extra), device=device) if isinstance(value, str) else next(floats))
    return result


def _relative_error(out, ref):
    out, ref = backend.to_numpy(out).astype(numpy.float64), backend.to_numpy(ref)
    return float(numpy.linalg.norm(out - ref) / max(numpy.linalg.norm(ref), 1e-30))


def _adam_case(items, device, dtype):
    import tinygrad_med as tm

    ((value, _),) = items
    param = Tensor(value.astype(dtype), requires_grad=True, device=device)
    param.grad = Tensor(backend.to_device((value * 0.5).astype(dtype), device))
    opt = tm.optim.Adam([param], lr=1e-3)
    return param, opt


def _time_adam(items, device, repeat, warmup):
    param64, opt64 = _adam_case(items, "cpu", numpy.dtype(numpy.float64))
    param, opt = _adam_case(items, device, numpy.dtype(numpy.float32))
    opt64.step()
    opt.step()
    error = _relative_error(param.data, param64.data)
    times = measure(opt.step, device, repeat, warmup)
    return error, times, None


def _time_op(work, items, device, repeat, warmup, backward):
    import tinygrad_med as tm

    tm.manual_seed(0)  # random ops (dropout) draw the same numbers for the reference and the check
    ref = work.run(tm, *_with_labels(items, _tensors(items, "cpu", numpy.dtype(numpy.float64)), "cpu"))
    tensors = _with_labels(items, _tensors(items, device, numpy.dtype(numpy.float32)), device)
    tm.manual_seed(0)
    if not backward:
        with no_grad():
            out = work.run(tm, *tensors)
        error = _relative_error(out.data, ref.data)

        def forward():
            with no_grad():
                work.run(tm, *tensors)

        return error, measure(forward, device, repeat, warmup), tensors
    out = work.run(tm, *tensors)
    error = _relative_error(out.data, ref.data)
    gy = Tensor(backend.to_device(numpy.ones(out.shape, dtype=numpy.float32), device))

    def forward_backward():
        for t in tensors:
            t.grad = None
        y = work.run(tm, *tensors)
        y.backward(gy if y.data.size > 1 else None)

    return error, measure(forward_backward, device, repeat, warmup), tensors


def _time_torch(work, items, device, repeat, warmup, backward):
    """PyTorch's median time for the same call; None without torch, the workload's torch_run or torch's CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if work.torch_run is None or (device == "cuda" and not torch.cuda.is_available()):
        return None
    # Strict float32 on both sides: PyTorch's default lets cuDNN convolutions use TF32 tensor cores
    # (10-bit mantissa), which our float32 kernels and cuBLAS SGEMM do not.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    target = "cuda" if device == "cuda" else "cpu"
    step = _torch_step(torch, work, _torch_tensors(torch, items, target, backward), target, backward)
    return _median_seconds(step, repeat, warmup)


def _torch_tensors(torch, items, target, backward):
    """The workload's inputs as float32 torch tensors on ``target`` (integer labels as they come)."""
    tensors = []
    for value, extra in items:
        if isinstance(value, str):
            tensors.append(torch.as_tensor(extra, device=target))
        else:
            tensors.append(torch.tensor(value.astype(numpy.float32), device=target, requires_grad=extra and backward))
    return tensors


def _torch_step(torch, work, tensors, target, backward):
    """One timed step: the forward under no_grad, or forward + backward; synchronised on the GPU."""

    def call():
        if not backward:
            with torch.no_grad():
                work.torch_run(torch, *tensors)
            return
        y = work.torch_run(torch, *tensors)
        y.backward(torch.ones_like(y) if y.numel() > 1 else None)

    def synced():
        call()
        if target == "cuda":
            torch.cuda.synchronize()

    return synced


def _median_seconds(step, repeat, warmup):
    """Median wall time of ``repeat`` calls of ``step`` after ``warmup`` untimed ones."""
    import time

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        step()
        times.append(time.perf_counter() - begin)
    return summarize(times)["median_s"]


def _roofline(flops, moved, seconds, peak):
    gflops = flops / seconds / 1e9 if flops else 0.0
    gbs = moved / seconds / 1e9
    ridge = peak["gemm_gflops"] / peak["copy_gbs"]  # FLOP per byte where the two ceilings meet
    intensity = flops / moved if moved else 0.0
    if intensity >= ridge:
        bound, share = "compute", gflops / peak["gemm_gflops"]
    else:
        bound, share = "memory", gbs / peak["copy_gbs"]
    return {"gflops": gflops, "gbs": gbs, "intensity": intensity, "bound": bound, "roofline_share": share}


def _run_model(name, size, device, repeat, warmup):
    from .model_steps import MODEL_STEPS, build_step

    sizes = MODEL_STEPS[name]
    params = sizes["gpu_large"] if size == "large" and device == "cuda" and "gpu_large" in sizes else sizes[size]
    row = {"op": name, "family": "model", "size": size, "params": params, "device": device, "pass": "train step"}
    _, reference = build_step(name, params, "cpu", numpy.dtype(numpy.float64))
    step, first = build_step(name, params, device, numpy.dtype(numpy.float32))
    error = abs(first - reference) / max(abs(reference), 1e-30)
    row.update(
        summarize(measure(step, device, repeat, warmup)),
        rel_error=error,
        status="ok" if error < TOLERANCE else "WRONG",
        gflops=0.0,
        gbs=0.0,
        intensity=0.0,
        bound="-",
        roofline_share=0.0,
    )
    return row


def run_benchmarks(
    devices, sizes, families=None, repeat=10, warmup=2, peaks_by_device=None, torch=True, progress=None, skip=()
):
    """Benchmark every selected workload (but those named in ``skip``); returns a list of row dicts."""
    rows = []
    if not families or "model" in families:
        from .model_steps import MODEL_STEPS

        for name in (n for n in MODEL_STEPS if n not in skip):
            for size in sizes:
                for device in devices:
                    rows.append(_run_model(name, size, device, repeat, warmup))
                    if progress:
                        progress(rows[-1])
    for work in WORKLOADS:
        if (families and work.family not in families) or work.name in skip:
            continue
        for size in sizes:
            for device in devices:
                for backward in (False, True) if work.backward else (False,):
                    row = _run_one(work, size, device, repeat, warmup, backward, peaks_by_device[device], torch)
                    rows.append(row)
                    if progress:
                        progress(row)
    return rows


def _run_one(work, size, device, repeat, warmup, backward, peak, with_torch):
    params = work.params(size, device)
    items = work.inputs(params, numpy.random.default_rng(0))
    flops_fwd, bytes_fwd, flops_fb, bytes_fb = work.cost(params)
    row = {
        "op": work.name,
        "family": work.family,
        "size": size,
        "params": params,
        "device": device,
        "pass": "forward+backward" if backward else "forward",
    }
    try:
        if work.run is None:
            error, times, _ = _time_adam(items, device, repeat, warmup)
            row["pass"] = "step"
        else:
            error, times, _ = _time_op(work, items, device, repeat, warmup, backward)
    except (AttributeError, ImportError, NotImplementedError) as missing:
        row["status"] = f"missing: {missing}"
        return row
    stats = summarize(times)
    row.update(stats, rel_error=error, status="ok" if error < TOLERANCE else "WRONG")
    flops, moved = (flops_fb, bytes_fb) if backward else (flops_fwd, bytes_fwd)
    row.update(_roofline(flops, moved, stats["median_s"], peak))
    if with_torch and work.run is not None:
        torch_s = _time_torch(work, items, device, repeat, warmup, backward)
        if torch_s:  # ABAB: a second block of each, so that a change of machine load hits both alike
            ours_again = summarize(_time_op(work, items, device, repeat, warmup, backward)[1])["median_s"]
            torch_again = _time_torch(work, items, device, repeat, warmup, backward)
            ours_blocks, torch_blocks = [stats["median_s"], ours_again], [torch_s, torch_again]
            row.update(
                torch_s=statistics.median(torch_blocks),
                vs_torch=statistics.median(ours_blocks) / statistics.median(torch_blocks),
                vs_torch_per_pair=[a / b for a, b in zip(ours_blocks, torch_blocks, strict=True)],
                block_medians_s={"tinygrad_med": ours_blocks, "torch": torch_blocks},
            )
    return row
