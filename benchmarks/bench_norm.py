"""Batch norm (training) forward+backward on 16x64x32x32 float32 against PyTorch CPU (issue W4).

Target: within 2x of PyTorch CPU.  Also timed, without a target: the same in eval mode, and
dropout / dropout2d forward+backward (the CPU cost is the vectorised Philox stream).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_norm.py \
        [--repeat 30] [--torch-threads K] [--out benchmarks/results/bench_norm.json]

Each case runs a BatchNorm2d layer (weight, bias and input requiring grad, running statistics
updated) and backward with a fixed upstream gradient; ours and PyTorch's take turns of 10
calls so that both see the same machine state.  Medians over ``--repeat`` calls, all figures
from one run on one machine, with the load average beside them; no asserts.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.bench.timing import machine_info, save_json

SHAPE = (16, 64, 32, 32)


def ours_case(kind, x, gy):
    """A closure running forward+backward of ``kind`` in tinygrad_med."""
    layer = {"bn_train": nn.BatchNorm2d(SHAPE[1]), "bn_eval": nn.BatchNorm2d(SHAPE[1]).eval()}.get(kind)
    xt, gyt = tm.tensor(x, requires_grad=True), tm.tensor(gy)

    def run():
        xt.grad = None
        if layer is not None:
            layer.zero_grad()
            y = layer(xt)
        else:
            y = nn.functional.dropout(xt, 0.5) if kind == "dropout" else nn.functional.dropout2d(xt, 0.5)
        y.backward(gyt)

    return run


def torch_case(torch, kind, x, gy):
    """The same in PyTorch (CPU, its default threads)."""
    layer = {"bn_train": torch.nn.BatchNorm2d(SHAPE[1]), "bn_eval": torch.nn.BatchNorm2d(SHAPE[1]).eval()}.get(kind)
    xt, gyt = torch.tensor(x, requires_grad=True), torch.tensor(gy)

    def run():
        xt.grad = None
        if layer is not None:
            layer.zero_grad()
            y = layer(xt)
        else:
            y = torch.nn.functional.dropout(xt, 0.5) if kind == "dropout" else torch.nn.functional.dropout2d(xt, 0.5)
        y.backward(gyt)

    return run


def interleaved(fns, repeat, warmup=3, block=1):
    """{name: median seconds} of each closure over ``repeat`` calls, the closures taking turns.

    Each turn is ``block`` timed calls (1: call by call, as benchmarks/bench_unet.py uses it).
    With block > 1 each turn starts with one untimed call: PyTorch's OpenMP threads spin for a
    while after each call, and a call of ours right after one would pay for their spinning.
    Taking turns lets both sides see the same machine state over the run.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(-(-repeat // block)):
        for name, fn in fns.items():
            if block > 1:
                fn()
            for _ in range(block):
                begin = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: PyTorch's own)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_norm.json"))
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=numpy.float32) * 2 + 1
    gy = rng.standard_normal(SHAPE, dtype=numpy.float32)
    cases = {}
    for kind in ("bn_train", "bn_eval", "dropout", "dropout2d"):
        fns = {"tinygrad_med": ours_case(kind, x, gy)}
        if torch is not None:
            fns["torch"] = torch_case(torch, kind, x, gy)
        medians = interleaved(fns, args.repeat, block=10)
        cases[kind] = {"median_ms": {k: v * 1e3 for k, v in medians.items()}}
        if torch is not None:
            cases[kind]["ratio_vs_torch"] = medians["tinygrad_med"] / medians["torch"]
        ratio = f", ratio {cases[kind]['ratio_vs_torch']:.2f}x" if torch is not None else ""
        line = ", ".join(f"{k} {v:.2f} ms" for k, v in cases[kind]["median_ms"].items())
        print(f"{kind:10s} forward+backward {SHAPE} float32: {line}{ratio}")
    result = {
        "workload": f"forward+backward on {SHAPE} float32, medians of {args.repeat}",
        "target": "bn_train within 2x of PyTorch CPU (issue W4)",
        "cases": cases,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "machine": machine_info(),
        "load_average_1_5_15_min": os.getloadavg(),  # other work on the machine skews both sides
    }
    save_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
