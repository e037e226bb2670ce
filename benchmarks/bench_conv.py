"""Convolution on the CPU: tinygrad_med's im2col + GEMM against NumPy's SGEMM and PyTorch.

Issue targets (float32, forward + backward):
    W1 conv2d 3x3 pad 1, N=16, 64->64 channels, 32x32: >= 60% of NumPy's own SGEMM throughput
       on the same three matrix shapes, and within 2x of PyTorch CPU;
       peak memory (tracemalloc) <= 3x its im2col buffer.
    W3 conv3d 3x3x3 pad 1, N=2, 16->16 channels, 32^3: within 3x of PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py [--repeat 15] [--out FILE]
    python benchmarks/bench_conv.py --device cuda     # our kernels + cuBLAS vs PyTorch/cuDNN on a GPU

All timings are medians over ``--repeat`` runs, measured in blocks taken in turn (ours, SGEMM, PyTorch,
ours, ...) so that all figures of one workload share the machine's state; the ratios are from one run.
A second pass times every contender on one thread by CPU time, steady when other work shares
the machine (the load average is recorded).  The SGEMM reference times the three products of
one step (y = W col, gW = gy col^T, gcol = W^T gy) on contiguous float32 matrices.  No asserts: this script reports.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy

import tinygrad_med as tm
from tinygrad_med.bench.timing import machine_info
from tinygrad_med.ops import conv as conv_ops
from tinygrad_med.ops import conv_cpu
from tinygrad_med.ops.conv import conv2d, conv3d

WORKLOADS = {
    "W1": dict(op="conv2d", N=16, C=64, F=64, size=(32, 32), kernel=(3, 3), padding=1, torch_ratio_target=2.0),
    "W3": dict(op="conv3d", N=2, C=16, F=16, size=(32, 32, 32), kernel=(3, 3, 3), padding=1, torch_ratio_target=3.0),
}


def ours_step(spec, rng):
    """A closure running one forward + backward of our conv, and the im2col buffer size in bytes."""
    x = tm.tensor(rng.standard_normal((spec["N"], spec["C"], *spec["size"])).astype(numpy.float32), requires_grad=True)
    W = tm.tensor(rng.standard_normal((spec["F"], spec["C"], *spec["kernel"])).astype(numpy.float32) * 0.05)
    W.requires_grad_(True)
    b = tm.tensor(numpy.zeros(spec["F"], numpy.float32), requires_grad=True)
    op = conv2d if spec["op"] == "conv2d" else conv3d
    gy = tm.tensor(rng.standard_normal((spec["N"], spec["F"], *spec["size"])).astype(numpy.float32))

    def step():
        x.grad = W.grad = b.grad = None
        op(x, W, b, padding=spec["padding"]).backward(gy)

    col_bytes = spec["C"] * math.prod(spec["kernel"]) * spec["N"] * math.prod(spec["size"]) * 4
    return step, col_bytes


def sgemm_step(spec, rng):
    """NumPy's SGEMM on the three matrix shapes of one step; returns the closure and the FLOPs."""
    CK, M, F = spec["C"] * math.prod(spec["kernel"]), spec["N"] * math.prod(spec["size"]), spec["F"]
    W = rng.standard_normal((F, CK)).astype(numpy.float32)
    col = rng.standard_normal((CK, M)).astype(numpy.float32)
    gy = rng.standard_normal((F, M)).astype(numpy.float32)
    gy_t, W_t = numpy.ascontiguousarray(gy.T), numpy.ascontiguousarray(W.T)
    out_y, out_gW, out_gcol = numpy.empty((F, M), "f4"), numpy.empty((CK, F), "f4"), numpy.empty((CK, M), "f4")

    def step():
        numpy.matmul(W, col, out=out_y)  # (F, CK) @ (CK, M)
        numpy.matmul(col, gy_t, out=out_gW)  # (CK, M) @ (M, F)
        numpy.matmul(W_t, gy, out=out_gcol)  # (CK, F) @ (F, M)

    return step, 3 * 2 * F * CK * M


def torch_step(spec, rng):
    try:
        import torch
    except ImportError:
        return None
    x = torch.tensor(rng.standard_normal((spec["N"], spec["C"], *spec["size"])).astype(numpy.float32))
    W = torch.tensor(rng.standard_normal((spec["F"], spec["C"], *spec["kernel"])).astype(numpy.float32) * 0.05)
    b = torch.zeros(spec["F"])
    for t in (x, W, b):
        t.requires_grad_(True)
    op = getattr(torch.nn.functional, spec["op"])
    gy = torch.tensor(rng.standard_normal((spec["N"], spec["F"], *spec["size"])).astype(numpy.float32))

    def step():
        x.grad = W.grad = b.grad = None
        op(x, W, b, padding=spec["padding"]).backward(gy)

    return step


def timed(fn, clock=time.perf_counter):
    begin = clock()
    fn()
    return clock() - begin


def round_robin(contenders, repeat, clock=time.perf_counter, rounds=3):
    """Median and minimum ms of each contender over ``repeat`` runs, taken in blocks, in turn.

    Blocks, not single runs in turn: OpenBLAS and OpenMP threads spin for a while after their work,
    so a contender timed right after another one would pay for the other's spinning threads.
    """
    times = {k: [] for k in contenders}
    per_block = max(1, repeat // rounds)
    for _ in range(rounds):
        for key, fn in contenders.items():
            fn(), fn()  # warm up: wake this contender's threads, fault in its buffers
            times[key].extend(timed(fn, clock) for _ in range(per_block))
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}, {k: min(v) * 1e3 for k, v in times.items()}


def single_thread_cpu_times(contenders, repeat):
    """Every contender on one thread (BLAS, our channel blocks, PyTorch), timed by process CPU time.

    On a machine shared with other work, wall-clock times swing with the load; the CPU time that one
    thread spends is a steadier measure of the work each implementation does.
    """
    from threadpoolctl import threadpool_limits

    saved = conv_cpu._THREADS
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch else None
    conv_cpu._THREADS = 1
    if torch:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            return round_robin(contenders, repeat, time.process_time)[0]
    finally:
        conv_cpu._THREADS = saved
        if torch:
            torch.set_num_threads(torch_threads)


def peak_memory(step):
    """Peak bytes allocated (tracemalloc sees NumPy's buffers) during one step, above what existed before.

    The column-buffer cache is emptied first, so that the step allocates its im2col buffer itself.
    """
    conv_ops.empty_cache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak


def stage_times(spec, rng, repeat):
    """Median time of each stage of our step, to see where the time goes."""
    x = rng.standard_normal((spec["N"], spec["C"], *spec["size"])).astype(numpy.float32)
    W = rng.standard_normal((spec["F"], spec["C"], *spec["kernel"])).astype(numpy.float32)
    gy = rng.standard_normal((spec["N"], spec["F"], *spec["size"])).astype(numpy.float32)
    geometry = conv_ops.make_geometry(
        spec["op"], len(spec["size"]), x, W, spec["kernel"], (1,) * len(spec["size"]), (1,) * len(spec["size"]),
        ((spec["padding"],) * 2,) * len(spec["size"]),
    )  # fmt: skip
    col = conv_ops.im2col(x, geometry)
    gy_t = conv_ops.channels_first(gy, 1)
    stages = {
        "im2col": lambda: conv_ops.im2col(x, geometry),
        "forward GEMM + layout": lambda: conv_ops.conv_by_im2col(x, W, geometry, 1),
        "gy layout": lambda: conv_ops.channels_first(gy, 1),
        "gW GEMM": lambda: conv_ops.weight_grad(col, gy_t),
        "gx GEMM + col2im": lambda: conv_ops.conv_transpose_by_col2im(gy_t, W, geometry, x.shape, out=col),
        "col2im": lambda: conv_ops.col2im(col, x.shape, geometry),
    }
    return {name: statistics.median(timed(fn) for _ in range(repeat)) * 1e3 for name, fn in stages.items()}


def run_workload(name, spec, repeat):
    rng = numpy.random.default_rng(0)
    ours, col_bytes = ours_step(spec, rng)
    sgemm, flops = sgemm_step(spec, rng)
    theirs = torch_step(spec, rng)
    contenders = {"ours": ours, "sgemm": sgemm} | ({"torch": theirs} if theirs else {})
    median, minimum = round_robin(contenders, repeat)
    cpu = single_thread_cpu_times(contenders, max(3, repeat // 2))
    result = {
        "workload": name,
        "spec": {k: v for k, v in spec.items() if k != "torch_ratio_target"},
        "median_ms": median,
        "min_ms": minimum,
        "single_thread_cpu_median_ms": cpu,
        "single_thread_fraction_of_sgemm": cpu["sgemm"] / cpu["ours"],
        "gemm_flops": flops,
        "ours_gflops": flops / median["ours"] / 1e6,
        "sgemm_gflops": flops / median["sgemm"] / 1e6,
        "fraction_of_sgemm_throughput": median["sgemm"] / median["ours"],
        "im2col_buffer_bytes": col_bytes,
        "peak_bytes": peak_memory(ours),
        "stages_ms": stage_times(spec, rng, max(3, repeat // 3)),
    }
    result["peak_over_im2col_buffer"] = result["peak_bytes"] / col_bytes
    if "torch" in median:
        result["ours_over_torch"] = median["ours"] / median["torch"]
        result["single_thread_ours_over_torch"] = cpu["ours"] / cpu["torch"]
        result["torch_ratio_target"] = spec["torch_ratio_target"]
    return result


def gpu_workload(name, spec, repeat):
    """GPU: our kernels + cuBLAS against PyTorch (cuDNN), forward + backward, synchronised medians."""
    import torch

    from tinygrad_med import backend

    rng = numpy.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(numpy.float32) for s in ((spec["N"], spec["C"], *spec["size"]),
              (spec["F"], spec["C"], *spec["kernel"]), (spec["N"], spec["F"], *spec["size"]))]  # fmt: skip
    x, W = (tm.tensor(a, device="cuda", requires_grad=True) for a in arrays[:2])
    gy, op = tm.tensor(arrays[2], device="cuda"), conv2d if spec["op"] == "conv2d" else conv3d
    xt, Wt = (torch.tensor(a, device="cuda", requires_grad=True) for a in arrays[:2])
    gyt, op_t = torch.tensor(arrays[2], device="cuda"), getattr(torch.nn.functional, spec["op"])

    def ours():
        x.grad = W.grad = None
        op(x, W, padding=spec["padding"]).backward(gy)
        backend.synchronize()

    def theirs():
        xt.grad = Wt.grad = None
        op_t(xt, Wt, padding=spec["padding"]).backward(gyt)
        torch.cuda.synchronize()

    times = {"ours": [], "torch": []}
    for _ in range(3):
        ours(), theirs()
    for _ in range(repeat):
        times["ours"].append(timed(ours))
        times["torch"].append(timed(theirs))
    median = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    gx_diff = float(numpy.abs(x.grad.numpy() - xt.grad.cpu().numpy()).max())  # PyTorch's cuDNN may use TF32
    return {"workload": name, "device": torch.cuda.get_device_name(), "median_ms": median,
            "ours_over_torch": median["ours"] / median["torch"], "max_abs_gx_difference": gx_diff}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--workloads", default="W1,W3")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/cpu-conv-<date>.json)")
    parser.add_argument("--threads", type=int, default=None, help="im2col/col2im threads (default: all cores)")
    parser.add_argument("--no-reuse", action="store_true", help="allocate a fresh column buffer every step")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: our GPU path vs cuDNN")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc)
    if args.device == "cuda":
        results = [gpu_workload(w, WORKLOADS[w], args.repeat) for w in args.workloads.split(",")]
        print("\n".join(json.dumps(r) for r in results))
        out = Path(args.out or Path(__file__).parent / "results" / f"gpu-conv-{stamp:%Y%m%d-%H%M}.json")
        out.write_text(json.dumps({"date": stamp.isoformat(), "machine": machine_info(), "results": results}, indent=2))
        return
    if args.threads is not None:
        conv_cpu._THREADS = args.threads
    conv_cpu.spare_buffers.enabled = not args.no_reuse
    results = [run_workload(w, WORKLOADS[w], args.repeat) for w in args.workloads.split(",")]
    for r in results:
        m = r["median_ms"]
        torch_part = f", torch {m['torch']:.1f} ms (ours/torch {r['ours_over_torch']:.2f}x)" if "torch" in m else ""
        print(f"{r['workload']}: ours {m['ours']:.1f} ms, sgemm {m['sgemm']:.1f} ms "
              f"({100 * r['fraction_of_sgemm_throughput']:.0f}% of SGEMM throughput){torch_part}; "
              f"peak {r['peak_bytes'] / 2**20:.1f} MiB = {r['peak_over_im2col_buffer']:.2f}x im2col")  # fmt: skip
        c = r["single_thread_cpu_median_ms"]
        torch_cpu = (
            f", torch {c['torch']:.1f} (ours/torch {r['single_thread_ours_over_torch']:.2f}x)" if "torch" in c else ""
        )
        print(f"    one thread, CPU time: ours {c['ours']:.1f} ms, sgemm {c['sgemm']:.1f} "
              f"({100 * r['single_thread_fraction_of_sgemm']:.0f}%){torch_cpu}")  # fmt: skip
        print("    stages (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items()))
    out = Path(args.out or Path(__file__).parent / "results" / f"cpu-conv-{stamp:%Y%m%d-%H%M}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"repeat": args.repeat, "conv_threads": conv_cpu._THREADS, "reuse_column_buffer": not args.no_reuse}
    settings["load_average_1_5_15min"] = os.getloadavg()  # other processes on the machine during the run
    report = {"date": stamp.isoformat(), "machine": machine_info(), "settings": settings, "results": results}
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
