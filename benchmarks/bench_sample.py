"""grid_sample / affine_grid on the CPU against PyTorch CPU (the spatial transformer's sampler).

Targets: grid_sample bilinear forward+backward on x (8, 16, 64, 64) with a (8, 64, 64, 2) grid,
and trilinear on x (2, 4, 32, 32, 32) with a (2, 32, 32, 32, 3) grid, float32, both within 2x of
PyTorch CPU at the same thread count (our CPU path is single-threaded NumPy: the ratio that counts
is the one against PyTorch with 1 thread).  Input and grid both require grad (a spatial
transformer differentiates both); the grid is a 10-degree rotation with a 0.9 zoom.  Also timed,
without a target: forward alone and backward alone of the two targets, border padding with
align_corners=True, nearest, and affine_grid + grid_sample with theta requiring grad.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sample.py \
        [--repeat 20] [--out benchmarks/results/cpu-sample-<date>.json]

Ours and PyTorch's calls (its default threads, and 1 thread) are interleaved call by call
(benchmarks/bench_pool.py::interleaved), so all see the same machine state; medians over
``--repeat`` calls after warm-up, all ratios from this one run, the load average beside them;
no asserts on timing.
"""

import argparse
import datetime
import os
from pathlib import Path

import numpy
from bench_pool import time_stages

import tinygrad_med as tm
from tinygrad_med.bench.timing import machine_info, save_json

SHAPES = {"2d": (8, 16, 64, 64), "3d": (2, 4, 32, 32, 32)}
CASES = {  # name: (shape key, call of (library's functional module, x, grid or theta), what requires grad)
    "2d bilinear zeros": ("2d", lambda F, x, g: F.grid_sample(x, g, align_corners=False), "grid"),
    "3d trilinear zeros": ("3d", lambda F, x, g: F.grid_sample(x, g, align_corners=False), "grid"),
    "2d bilinear border ac": (
        "2d",
        lambda F, x, g: F.grid_sample(x, g, padding_mode="border", align_corners=True),
        "grid",
    ),
    "2d nearest zeros": ("2d", lambda F, x, g: F.grid_sample(x, g, mode="nearest", align_corners=False), "grid"),
    "2d affine_grid+sample": (
        "2d",
        lambda F, x, t: F.grid_sample(x, F.affine_grid(t, tuple(x.shape), align_corners=False), align_corners=False),
        "theta",
    ),
}
TARGETS = ("2d bilinear zeros", "3d trilinear zeros")


def rotation_theta(N, nd, degrees=10.0, scale=0.9):
    """(N, nd, nd + 1) affine matrices: a rotation in the (x, y) plane and a zoom, no translation."""
    angle = numpy.radians(degrees)
    theta = numpy.zeros((N, nd, nd + 1))
    theta[:, :nd, :nd] = numpy.eye(nd) * scale
    cos, sin = numpy.cos(angle), numpy.sin(angle)
    theta[:, :2, :2] = scale * numpy.array([[cos, -sin], [sin, cos]])
    return theta.astype(numpy.float32)


def inputs(key, rng):
    """x, its rotation grid and theta (float32) for shape key '2d' or '3d'."""
    shape = SHAPES[key]
    x = rng.standard_normal(shape, dtype=numpy.float32)
    theta = rotation_theta(shape[0], len(shape) - 2)
    grid = tm.nn.functional.affine_grid(tm.tensor(theta), shape, align_corners=False).data
    return x, grid, theta


def closures(library, op, x, second, gy):
    """{'forward+backward', 'forward', 'backward'} closures of op in ``library`` ('ours' or the torch module)."""
    make = tm.tensor if library == "ours" else library.tensor
    F = tm.nn.functional if library == "ours" else library.nn.functional
    xt, st, gyt = make(x, requires_grad=True), make(second, requires_grad=True), make(gy)
    kept = {}

    def forward_backward():
        xt.grad = st.grad = None
        op(F, xt, st).backward(gyt)

    def forward():
        kept["y"] = op(F, xt, st)

    def backward():  # times backward only: the forward is redone outside the timed part
        kept["y"].backward(gyt, retain_graph=True)

    return {"forward+backward": forward_backward, "forward": forward, "backward": backward}


def run_case(name, torch, data, repeat):
    """Medians (ms) of ours and PyTorch's (default threads and 1 thread), and the ratios, per pass of one case."""
    key, op, second_name = CASES[name]
    x, grid, theta = data[key]
    second = grid if second_name == "grid" else theta
    gy = numpy.random.default_rng(1).standard_normal((*x.shape[:2], *grid.shape[1:-1]), dtype=numpy.float32)
    ours = closures("ours", op, x, second, gy)
    theirs = closures(torch, op, x, second, gy) if torch is not None else {}
    stages = ("forward+backward", "forward", "backward") if name in TARGETS else ("forward+backward",)
    result = time_stages(ours, theirs, torch, stages, repeat)
    for stage, entry in result.items():
        ms = entry["median_ms"]
        if "torch" in ms:
            entry["ratio_vs_torch"] = ms["tinygrad_med"] / ms["torch"]
            entry["ratio_vs_torch_1thread"] = ms["tinygrad_med"] / ms["torch_1thread"]
        ratio = f", ratio {entry['ratio_vs_torch_1thread']:.2f}x vs torch 1 thread" if "torch" in ms else ""
        print(f"{name:24s} {stage:16s}: {', '.join(f'{k} {v:.2f} ms' for k, v in ms.items())}{ratio}", flush=True)
    return result


def save(out, result, load_before):
    """Write result as JSON with the machine and the 1/5/15-minute load averages before and after the run."""
    result.update(machine=machine_info(), load_average={"before": load_before, "after": os.getloadavg()})
    save_json(out, result)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    today = datetime.date.today().isoformat()
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / f"cpu-sample-{today}.json"))
    parser.add_argument("--cases", nargs="*", default=list(CASES), help=f"subset of {list(CASES)}")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. the commit measured)")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    rng = numpy.random.default_rng(0)
    data = {key: inputs(key, rng) for key in SHAPES}
    load_before = os.getloadavg()
    cases = {name: run_case(name, torch, data, args.repeat) for name in args.cases}
    result = {
        "label": args.label,
        "workload": {key: f"x {shape} float32, rotation grid" for key, shape in SHAPES.items()},
        "repeat": args.repeat,
        "target": f"{TARGETS} forward+backward within 2x of PyTorch CPU, 1 thread: ratio_vs_torch_1thread <= 2",
        "cases": cases,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
    save(args.out, result, load_before)


if __name__ == "__main__":
    main()
