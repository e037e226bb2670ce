"""CPU step times of two checkouts of tinygrad_med, as a library user sees them (public API only).

    python benchmarks/bench_before_after.py BEFORE_TREE AFTER_TREE [--repeat 15] [--blocks 2]
        [--skip unet] [--out benchmarks/results/cpu-before-after-DATE.json]

Each block is one fresh process that imports the package of one tree (PYTHONPATH=tree, cwd=tree)
and times every workload: warm-up calls first (not counted), then ``--repeat`` timed calls; the
block reports the median per workload.  Blocks run in the order before, after, before, after, ...
(never interleaved call by call), default threads.  The JSON holds the medians per block, the
ratio of the after/before medians (median of the block medians), the spread of each tree's block
medians, the load average before each block, and the machine (CPU model, NumPy's BLAS via
threadpoolctl).  No asserts: this script reports.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy
import tinygrad_med as tm
from tinygrad_med import nn
F = nn.functional
REPEAT, SKIP = int(sys.argv[1]), set(sys.argv[2].split(",")) - {""}
rng = numpy.random.default_rng(0)


def chain(n=10_000):
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y + 1.0
    y.backward()


def mlp():
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = tm.optim.SGD(model.parameters(), lr=0.01)
    xt = tm.tensor(rng.standard_normal((128, 784)).astype(numpy.float32))
    yt = tm.tensor(rng.integers(0, 10, 128))

    def run():
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    return run


def fwd_bwd(make_out, shape_x, leaves):
    xt = tm.tensor(rng.standard_normal(shape_x).astype(numpy.float32), requires_grad=True)
    gy = None

    def run():
        nonlocal gy
        for leaf in [xt] + leaves:
            leaf.grad = None
        y = make_out(xt)
        if gy is None:
            gy = tm.tensor(rng.standard_normal(y.shape).astype(numpy.float32))
        y.backward(gy)
    return run


def conv():
    w = tm.tensor((0.05 * rng.standard_normal((64, 64, 3, 3))).astype(numpy.float32), requires_grad=True)
    return fwd_bwd(lambda x: F.conv2d(x, w, padding=1), (16, 64, 32, 32), [w])


def pool():
    return fwd_bwd(lambda x: F.max_pool2d(x, 2), (16, 64, 32, 32), [])


def bnorm():
    layer = nn.BatchNorm2d(64)
    layer.train()
    return fwd_bwd(layer, (16, 64, 32, 32), list(layer.parameters()))


def adam():
    model = nn.Linear(1024, 1024)  # 1,049,600 parameters
    opt = tm.optim.Adam(model.parameters(), lr=1e-3)
    model(tm.tensor(rng.standard_normal((8, 1024)).astype(numpy.float32))).sum().backward()
    return opt.step


def lstm():
    layer = nn.LSTM(128, 256)
    xt = tm.tensor(rng.standard_normal((32, 32, 128)).astype(numpy.float32))

    def run():
        layer.zero_grad()
        out, _ = layer(xt)
        out.sum().backward()
    return run


def unet():
    from tinygrad_med.models import UNet
    tm.manual_seed(0)
    model = UNet(1, 2, base_width=16, depth=2)
    opt = tm.optim.Adam(model.parameters(), lr=1e-3)
    xt = tm.tensor(rng.standard_normal((4, 1, 128, 128)).astype(numpy.float32))
    yt = tm.tensor(rng.integers(0, 2, (4, 128, 128)))

    def run():
        loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return run


CASES = {"chain of adds (us/op)": (lambda: chain, 1e6 / 10_000, 3),
         "mlp 784-256-256-10 b128 step (ms)": (mlp, 1e3, 5),
         "conv2d 3x3 16x64x32x32 fwd+bwd (ms)": (conv, 1e3, 3),
         "max_pool2d 2x2 fwd+bwd (ms)": (pool, 1e3, 3),
         "batch_norm train fwd+bwd (ms)": (bnorm, 1e3, 3),
         "adam step 1.05M params (ms)": (adam, 1e3, 3),
         "lstm T32 B32 128->256 fwd+bwd (ms)": (lstm, 1e3, 2),
         "unet 16-32-64 B4 1x128x128 train step (ms)": (unet, 1e3, 2)}
result = {"module": tm.__file__}
for name, (make, scale, warm) in CASES.items():
    if name.split()[0] in SKIP:
        continue
    fn = make()
    for _ in range(warm):
        fn()
    times = []
    for _ in range(REPEAT):
        begin = time.perf_counter()
        fn()
        times.append((time.perf_counter() - begin) * scale)
    result[name] = float(numpy.median(times))
print(json.dumps(result))
"""


def run_block(tree, label, repeat, skip):
    """One fresh process importing ``tree``'s package; returns its medians and the load average before it."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    env = dict(os.environ, PYTHONPATH=str(tree), TGM_EMULATOR_CACHE=f"/tmp/emucache-bench-{label}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(repeat), ",".join(skip)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    medians = json.loads(out.strip().splitlines()[-1])
    if not medians["module"].startswith(str(Path(tree).resolve())):
        raise RuntimeError(f"block {label} imported {medians['module']}, not the tree {tree}")
    return {"tree": label, "loadavg_before": load, "medians": medians}


def machine():
    """CPU model, cores, Python and NumPy versions, and NumPy's BLAS as threadpoolctl reports it."""
    import numpy
    from threadpoolctl import threadpool_info

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    numpy.ones(2) @ numpy.ones(2)
    blas = [
        {k: v for k, v in lib.items() if k in ("internal_api", "version", "num_threads", "architecture")}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": blas,
    }


def summarise(blocks):
    """Per workload: block medians of each tree, median over blocks, after/before ratio and spreads."""
    names = [k for k in blocks[0]["medians"] if k != "module"]
    table = {}
    for name in names:
        per = {t: [b["medians"][name] for b in blocks if b["tree"] == t] for t in ("before", "after")}
        mid = {t: statistics.median(v) for t, v in per.items()}
        table[name] = {
            "before_blocks": per["before"],
            "after_blocks": per["after"],
            "before_spread_pct": 100 * (max(per["before"]) - min(per["before"])) / mid["before"],
            "after_spread_pct": 100 * (max(per["after"]) - min(per["after"])) / mid["after"],
            "ratio_after_over_before": mid["after"] / mid["before"],
            "loadavg_before_blocks": [b["loadavg_before"] for b in blocks],
        }
    return table


def main():
    """Run the ABAB blocks, print the ratio table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per workload and block")
    parser.add_argument("--blocks", type=int, default=2, help="blocks per tree, taken in turn")
    parser.add_argument("--skip", action="append", default=[], help="first word of a workload to leave out")
    parser.add_argument("--out", default=f"benchmarks/results/cpu-before-after-{time.strftime('%Y-%m-%d')}.json")
    args = parser.parse_args()
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    blocks = []
    for _ in range(args.blocks):
        for label in ("before", "after"):
            blocks.append(run_block(trees[label], label, args.repeat, args.skip))
            print(label, json.dumps(blocks[-1]), flush=True)
    table = summarise(blocks)
    for name, row in table.items():
        print(
            f"{name:48s} ratio {row['ratio_after_over_before']:.3f}  before {row['before_blocks']}"
            f"  after {row['after_blocks']}"
        )
    result = {
        "trees": {k: str(v) for k, v in trees.items()},
        "repeat": args.repeat,
        "blocks": blocks,
        "workloads": table,
        "machine": machine(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
