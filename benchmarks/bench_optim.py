"""Optimizer step time: our in-place NumPy path, a naive out-of-place NumPy Adam, torch.optim,
and (with a GPU) our fused kernels/optim.cu kernels against torch on cuda.

    python benchmarks/bench_optim.py [--device cpu --device cuda] [--repeat 15] [--out FILE.json]

Each row: median seconds per step() over ``repeat`` runs (after 3 warm-up steps), effective
bandwidth (bytes the update must move / median), and the ratio to torch.optim on the same
device in the same run.  Medians only; no asserts on timing.
"""

import argparse
import json
import statistics
import time

import numpy

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.bench.timing import machine_info

# name -> (our class, options, torch name, arrays moved per element: reads + writes)
CASES = {
    "sgd momentum": ("SGD", dict(lr=1e-3, momentum=0.9), "SGD", 5),  # p, g, b read; p, b written
    "adam": ("Adam", dict(lr=1e-3), "Adam", 7),  # p, g, m, v read; p, m, v written
    "adamw amsgrad": ("AdamW", dict(lr=1e-3, amsgrad=True), "AdamW", 9),
    "rmsprop centered": ("RMSprop", dict(lr=1e-3, centered=True), "RMSprop", 7),
}


def naive_adam_step(w, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """The slide's formulas out of place (new arrays at every line): what in-place code saves."""
    state["t"] += 1
    t = state["t"]
    state["m"] = beta1 * state["m"] + (1 - beta1) * g
    state["v"] = beta2 * state["v"] + (1 - beta2) * g**2
    m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
    w[...] = w - lr * m_hat / (numpy.sqrt(v_hat) + eps)


def in_place_vs_naive(repeat, n=2**22):
    """What the in-place updates save over the out-of-place slide formulas (CPU, Adam)."""
    w, g = numpy.ones(n, numpy.float32), numpy.full(n, 0.5, numpy.float32)
    state = {"t": 0, "m": numpy.zeros(n, numpy.float32), "v": numpy.zeros(n, numpy.float32)}
    naive = time_steps(lambda: naive_adam_step(w, g, state), "cpu", repeat)
    mine = time_steps(ours("adam", n, "cpu"), "cpu", repeat)
    print(
        f"cpu    in-place adam / naive out-of-place numpy adam (n={n}): {mine:.2e} / {naive:.2e} s = {mine / naive:.2f}"
    )
    return dict(
        device="cpu", case="adam in-place / naive numpy", n=n, params=1, ours_s=mine, naive_s=naive, ratio=mine / naive
    )


def time_steps(step, device, repeat):
    for _ in range(3):
        step()
    times = []
    for _ in range(repeat):
        backend.synchronize()
        begin = time.perf_counter()
        step()
        backend.synchronize()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def ours(case, n, device, params=1):
    cls, options, _, _ = CASES[case]
    ws = [tm.Tensor(numpy.ones(n // params, numpy.float32), requires_grad=True, device=device) for _ in range(params)]
    for w in ws:
        w.grad = tm.Tensor(numpy.full(n // params, 0.5, numpy.float32), device=device)
    return getattr(tm.optim, cls)(ws, **options).step


def theirs(torch, case, n, device, params=1):
    _, options, name, _ = CASES[case]
    ws = [torch.ones(n // params, device=device, requires_grad=True) for _ in range(params)]
    for w in ws:
        w.grad = torch.full((n // params,), 0.5, device=device)
    return getattr(torch.optim, name)(ws, **options).step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if backend.cuda_available() else ["cpu"])
    try:
        import torch

        torch.set_num_threads(1)  # NumPy's elementwise updates run on one core too
    except ImportError:
        torch = None
    rows = []
    print(
        f"{'device':6} {'case':18} {'n':>9} {'params':>6} {'ours s':>10} {'GB/s':>7} {'torch s':>10} {'ours/torch':>10}"
    )
    for device in devices:
        for case, (_, _, _, arrays) in CASES.items():
            for n, params in ((2**16, 1), (2**20, 1), (2**22, 1), (2**20, 64)):
                mine = time_steps(ours(case, n, device, params), device, args.repeat)
                other = time_steps(theirs(torch, case, n, device, params), device, args.repeat) if torch else None
                row = dict(
                    device=device,
                    case=case,
                    n=n,
                    params=params,
                    ours_s=mine,
                    torch_s=other,
                    gbs=arrays * 4 * n / mine / 1e9,
                    ratio=mine / other if other else None,
                )
                rows.append(row)
                print(
                    f"{device:6} {case:18} {n:9d} {params:6d} {mine:10.2e} {row['gbs']:7.1f} "
                    f"{other or float('nan'):10.2e} {row['ratio'] or float('nan'):10.2f}"
                )
        if device == "cpu":
            rows.append(in_place_vs_naive(args.repeat))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine_info(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
