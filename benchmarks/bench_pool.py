"""Pooling and resampling on the CPU against PyTorch CPU (issue W4: max_pool2d 2x2 on 16x64x32x32).

Target: max_pool2d 2x2 (stride 2) forward+backward, float32, N=16, C=64, 32x32, within 2x of
PyTorch CPU.  Also timed, without a target: forward alone and backward alone of that workload,
avg_pool2d 2x2, max_pool2d 3x3 stride 2 padding 1 (the ResNet stem), global average pooling
(adaptive_avg_pool2d to 1), bilinear x2 upsampling and reflect padding by 1.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_pool.py \
        [--repeat 30] [--out benchmarks/results/bench_pool.json]

Ours and PyTorch's calls (its default threads, and 1 thread) are interleaved call by call, so
all see the same machine state; medians over ``--repeat`` calls, all ratios from this one run on
this machine, the load average recorded beside them; no asserts.
"""

import argparse
import os
import time
from pathlib import Path

import numpy

import tinygrad_med as tm
from tinygrad_med.bench.timing import machine_info, save_json, summarize

SHAPE = (16, 64, 32, 32)
CASES = {  # name: (function of (nn.functional module, x)); the same call works on both libraries
    "max_pool2d 2x2": lambda F, x: F.max_pool2d(x, 2),
    "avg_pool2d 2x2": lambda F, x: F.avg_pool2d(x, 2),
    "max_pool2d 3x3 s2 p1": lambda F, x: F.max_pool2d(x, 3, 2, 1),
    "global avg pool": lambda F, x: F.adaptive_avg_pool2d(x, 1),
    "bilinear x2": lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
    "reflect pad 1": lambda F, x: F.pad(x, (1, 1, 1, 1), mode="reflect"),
}
TARGET = "max_pool2d 2x2"


def closures(library, op, x, gy):
    """{'forward+backward', 'forward', 'backward'}: closures running op in ``library`` ('ours' or a torch module)."""
    if library == "ours":
        xt, F = tm.tensor(x, requires_grad=True), tm.nn.functional
        gyt = tm.tensor(gy(op(F, tm.tensor(x)).shape))
    else:
        xt, F = library.tensor(x, requires_grad=True), library.nn.functional
        gyt = library.tensor(gy(tuple(op(F, library.tensor(x)).shape)))
    kept = {}

    def forward_backward():
        xt.grad = None
        op(F, xt).backward(gyt)

    def forward():
        kept["y"] = op(F, xt)

    def backward():  # times backward only: the forward is redone outside the timed part
        kept["y"].backward(gyt, retain_graph=True)

    return {"forward+backward": forward_backward, "forward": forward, "backward": backward}


def interleaved(fns, repeat, warmup=3):
    """{name: (wall times, process CPU times) in seconds}: the closures called in turn, ``repeat`` rounds.

    CPU time (all threads of this process) is less sensitive than wall time to other processes
    sharing the machine; for single-threaded code it is the time the work itself took.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: ([], []) for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


def with_threads(torch, threads, fn):
    """fn run with PyTorch limited to ``threads`` intra-op threads, the default restored after."""
    default = torch.get_num_threads()

    def run():
        torch.set_num_threads(threads)
        try:
            fn()
        finally:
            torch.set_num_threads(default)

    return run


def time_stages(ours, theirs, torch, stages, repeat):
    """{stage: medians(...)} for each pass in ``stages``: ours against PyTorch's default threads and 1 thread.

    ``ours`` and ``theirs`` map 'forward+backward', 'forward' and 'backward' to closures (theirs is {}
    without PyTorch); a 'backward' stage first runs each library's 'forward' once (retain_graph keeps it).
    """
    result = {}
    for stage in stages:
        fns = {"tinygrad_med": ours[stage]}
        if stage in theirs:
            fns["torch"], fns["torch_1thread"] = theirs[stage], with_threads(torch, 1, theirs[stage])
        if stage == "backward":  # a graph to differentiate, made once; retain_graph keeps it
            for library in (ours, theirs):
                if library:
                    library["forward"]()
        result[stage] = medians(interleaved(fns, repeat))
    return result


def medians(times):
    """Wall-time medians (ms), their spread and process CPU-time medians of interleaved()'s {name: (wall, cpu)}.

    Read the wall times: the CPU time of a process counts all its threads, and PyTorch's OpenMP threads
    keep spinning for a while after each of its calls, into the next timed call of either library.
    """
    stats = {k: summarize(wall) for k, (wall, _) in times.items()}
    return {"median_ms": {k: s["median_s"] * 1e3 for k, s in stats.items()},
            "iqr_rel": {k: round(s["iqr_rel"], 3) for k, s in stats.items()},
            "cpu_median_ms": {k: summarize(cpu)["median_s"] * 1e3 for k, (_, cpu) in times.items()}}  # fmt: skip


def run_case(name, torch, x, gy_of, repeat):
    """Medians (ms) of ours and PyTorch's (default threads and 1 thread), and the ratios, per pass of one case.

    PyTorch with 1 thread is timed too: on a shared 2-core machine its default 2 threads can lose
    more to waiting for each other than they gain, so the ratio against the faster is the fair one.
    """
    ours = closures("ours", CASES[name], x, gy_of)
    theirs = closures(torch, CASES[name], x, gy_of) if torch is not None else {}
    passes = ("forward+backward", "forward", "backward") if name == TARGET else ("forward+backward",)
    result = time_stages(ours, theirs, torch, passes, repeat)
    for stage, entry in result.items():
        ms = entry["median_ms"]
        if "torch" in ms:
            entry["ratio_vs_torch"] = ms["tinygrad_med"] / ms["torch"]
            entry["ratio_vs_torch_best"] = ms["tinygrad_med"] / min(ms["torch"], ms["torch_1thread"])
        ratio = f", ratio {entry['ratio_vs_torch_best']:.2f}x vs the faster torch" if "torch" in ms else ""
        timing = ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items())
        print(f"{name:22s} {stage:16s}: {timing}{ratio}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_pool.json"))
    parser.add_argument("--cases", nargs="*", default=list(CASES), help=f"subset of {list(CASES)}")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=numpy.float32)

    def gy_of(shape):
        return numpy.random.default_rng(1).standard_normal(shape, dtype=numpy.float32)

    load_before = os.getloadavg()
    cases = {name: run_case(name, torch, x, gy_of, args.repeat) for name in args.cases}
    result = {
        "workload": f"{SHAPE} float32, medians of {args.repeat} interleaved calls",
        "target": f"{TARGET} forward+backward within 2x of PyTorch CPU (issue W4): ratio_vs_torch_best <= 2",
        "cases": cases,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "machine": machine_info(),
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},  # other processes' share
    }
    save_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
