"""Winograd conv2d 3x3 on the CPU (ops/conv_winograd.py): float32 error per layer size, and speed against
im2col and PyTorch.

    python benchmarks/bench_winograd.py --error [--out benchmarks/results/winograd-error-DATE.json]
    python benchmarks/bench_winograd.py [--repeat 15] [--blocks 2] [--only W1] [--out ...winograd-DATE.json]

--error: for every layer, the largest |z - z64| / max |z64| of y, gx and gW against a float64 im2col
(``tm.reference_mode()``), for float32 im2col, F(2x2, 3x3) and F(4x4, 3x3), and each Winograd error as
a multiple of im2col's (what tile_for's choice must keep within about 4x).

Timing: forward + backward (gx, gW, gb) of conv2d padding 1, float32, default threads.  Each contender runs
in its own block of ``--repeat`` timed steps (after 2 untimed), blocks in turn A B C A B C ... (``--blocks``
rounds): PyTorch 2.13 CPU, ours before (the im2col fast path, Winograd switched off), ours with F(2x2, 3x3)
and with F(4x4, 3x3); "after" is the one of these that the shipped dispatch (tile_for) picks.  Reported: the
median of every block, the median over all blocks, each over PyTorch and after / before as ratios of
medians, and the load average before and after each workload.  A second pass (one_thread_cpu_times) times the
same blocks by process CPU time on one thread per framework: the work per step, steady under load.
No asserts: this script reports.
"""

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import numpy

import tinygrad_med as tm
from tinygrad_med.bench.timing import machine_info
from tinygrad_med.ops import conv_winograd
from tinygrad_med.ops.conv import conv2d

# (N, C, F, size): the U-Net's 3x3 layers at batch 4 (models/unet.py, base width 16, 128x128 input) and W1.
LAYERS = {
    "unet 1->16 @128": (4, 1, 16, 128),
    "unet 16->16 @128": (4, 16, 16, 128),
    "unet 16->32 @64": (4, 16, 32, 64),
    "unet 32->64 @32": (4, 32, 64, 32),
    "unet 64->64 @32": (4, 64, 64, 32),
    "W1 16x64x32x32->64": (16, 64, 64, 32),
}
VARIANTS = {"im2col": None, "F(2x2,3x3)": 2, "F(4x4,3x3)": 4, "F(4x4,3x3) Lavin's points": "lavin"}


def with_tile(tile, fn):
    """Run fn() with conv_winograd.tile_for forced to ``tile`` (None: im2col; 2 or 4; 'shipped': unchanged)."""
    shipped = conv_winograd.tile_for
    if tile != "shipped":
        conv_winograd.tile_for = lambda x, W, geometry, groups: None if tile is None else tile
    try:
        return fn()
    finally:
        conv_winograd.tile_for = shipped


def arrays(N, C, F, size, seed=0):
    """float64 x, W (He-scaled), b and gy of one layer."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, size, size))
    W = rng.standard_normal((F, C, 3, 3)) * numpy.sqrt(2.0 / (9 * C))
    return x, W, rng.standard_normal(F), rng.standard_normal((N, F, size, size))


def ours(x, W, b, gy):
    """(y, gx, gW) of conv2d padding 1 in x's dtype."""
    xs, Ws, bs = (tm.Tensor(a, requires_grad=True) for a in (x, W, b))
    y = conv2d(xs, Ws, bs, padding=1)
    y.backward(tm.Tensor(gy))
    return y.numpy(), xs.grad.numpy(), Ws.grad.numpy()


def lavin(x, W, b, gy):
    """ours() by F(4x4, 3x3) with Lavin and Gray's points 0, +-1, +-2."""
    shipped = conv_winograd.MATRICES[4]
    conv_winograd.MATRICES[4] = conv_winograd.matrices(conv_winograd.LAVIN_POINTS_F4, 4)
    try:
        return with_tile(4, lambda: ours(x, W, b, gy))
    finally:
        conv_winograd.MATRICES[4] = shipped


def measure_error():
    """{layer: {variant: {y, gx, gW: relative max error}, and Winograd's errors as multiples of im2col's}}."""
    result = {}
    for name, (N, C, F, size) in LAYERS.items():
        x, W, b, gy = arrays(N, C, F, size)
        with tm.reference_mode():
            want = ours(x, W, b, gy)
        x32, W32, b32, gy32 = (a.astype(numpy.float32) for a in (x, W, b, gy))
        row = {}
        for variant, tile in VARIANTS.items():
            inputs = (x32, W32, b32, gy32)
            got = lavin(*inputs) if tile == "lavin" else with_tile(tile, lambda inputs=inputs: ours(*inputs))
            row[variant] = {k: float(abs(g - w).max() / abs(w).max()) for k, g, w in zip(("y", "gx", "gW"), got, want)}
        for variant in list(VARIANTS)[1:]:
            row[variant + " / im2col"] = {k: row[variant][k] / row["im2col"][k] for k in ("y", "gx", "gW")}
        result[name] = row
        print(name, json.dumps(row), flush=True)
    return result


def torch_step(x, W, b, gy):
    import torch

    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    gt = torch.tensor(gy)

    def step():
        xt.grad = Wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, Wt, bt, padding=1).backward(gt)

    return step


def ours_step(x, W, b, gy, tile):
    xs, Ws, bs = (tm.Tensor(a, requires_grad=True) for a in (x, W, b))
    g = tm.Tensor(gy)

    def step():
        xs.grad = Ws.grad = bs.grad = None
        with_tile(tile, lambda: conv2d(xs, Ws, bs, padding=1).backward(g))

    return step


def block(step, repeat, clock=time.perf_counter):
    """Times (ms) of ``repeat`` steps after 2 untimed ones, by ``clock``."""
    step(), step()
    times = []
    for _ in range(repeat):
        t = clock()
        step()
        times.append((clock() - t) * 1e3)
    return times


def rounds(steps, repeat, blocks, clock=time.perf_counter):
    """{contender: [block times]}: ``blocks`` rounds of one block per contender, in turn."""
    times = {k: [] for k in steps}
    for _ in range(blocks):
        for k, step in steps.items():
            times[k].append(block(step, repeat, clock))
    return times


def one_thread_cpu_times(steps, repeat, blocks):
    """rounds() by process CPU time with BLAS and PyTorch held to one thread: the work each step does, steady when
    other jobs share the machine (wall time then measures the queue for the cores).  Our per-position threads
    block, never spin, so their CPU time is work too."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return rounds(steps, repeat, blocks, time.process_time)
    finally:
        torch.set_num_threads(threads)


def time_layer(name, repeat, blocks):
    """ABAB blocks of PyTorch, ours before (im2col), F(2x2, 3x3) and F(4x4, 3x3) forced, on one layer;
    "after" is whichever of these the shipped tile_for picks for the layer."""
    N, C, F, size = LAYERS[name]
    x, W, b, gy = (a.astype(numpy.float32) for a in arrays(N, C, F, size))
    steps = {"torch": torch_step(x, W, b, gy), "before": ours_step(x, W, b, gy, None)}
    steps.update({"F2": ours_step(x, W, b, gy, 2), "F4": ours_step(x, W, b, gy, 4)})
    load_before = open("/proc/loadavg").read().split()[:3]
    times = rounds(steps, repeat, blocks)
    tile = conv_winograd.tile_for(x, W, _geometry(size), 1)
    after = {None: "before", 2: "F2", 4: "F4"}[tile]
    med = {k: statistics.median(t for b in v for t in b) for k, v in times.items()}
    med["after"] = med[after]
    cpu = one_thread_cpu_times(steps, repeat, blocks)
    cpu_med = {k: statistics.median(t for b in v for t in b) for k, v in cpu.items()}
    cpu_med["after"] = cpu_med[after]
    row = {
        "shape": {"N": N, "C": C, "F": F, "H": size, "W": size},
        "tile_after": tile,
        "median_ms": {k: round(v, 2) for k, v in med.items()},
        "block_medians_ms": {k: [round(statistics.median(b), 2) for b in v] for k, v in times.items()},
        "over_torch": {k: round(v / med["torch"], 3) for k, v in med.items()},
        "after_over_before": round(med["after"] / med["before"], 3),
        "one_thread_cpu_ms": {k: round(v, 2) for k, v in cpu_med.items()},
        "one_thread_cpu_over_torch": {k: round(v / cpu_med["torch"], 3) for k, v in cpu_med.items()},
        "loadavg_before": load_before,
        "loadavg_after": open("/proc/loadavg").read().split()[:3],
    }
    print(name, json.dumps(row), flush=True)
    return row


def _geometry(size):
    from tinygrad_med.ops.conv_args import Geometry

    return Geometry((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (size, size), (size, size))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--error", action="store_true", help="measure the float32 error instead of the time")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--blocks", type=int, default=2, help="rounds of A B C blocks")
    parser.add_argument("--only", action="append", help="layer names (repeatable); default all")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    date = datetime.date.today().isoformat()
    result = {"date": date, "machine": machine_info(), "numpy": numpy.__version__}
    if args.error:
        result["method"] = "max |z - z64| / max |z64|, z64 by float64 im2col (tm.reference_mode()); padding 1"
        result["layers"] = measure_error()
        out = args.out or Path(f"benchmarks/results/winograd-error-{date}.json")
    else:
        import torch

        result["torch"] = torch.__version__
        result["threads"] = {"torch": torch.get_num_threads()}
        result["method"] = f"fwd+bwd, {args.blocks} rounds of blocks torch/before/F2/F4, {args.repeat} steps each"
        result["layers"] = {name: time_layer(name, args.repeat, args.blocks) for name in args.only or LAYERS}
        out = args.out or Path(f"benchmarks/results/winograd-{date}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
