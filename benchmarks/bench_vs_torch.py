"""tinygrad_med against PyTorch CPU as a library user meets them: each framework in its own process and block.

    python benchmarks/bench_vs_torch.py [--repeat 15] [--blocks 2] [--only unet_functional,lstm]
        [--out benchmarks/results/cpu-vs-torch-DATE.json]
    python benchmarks/bench_vs_torch.py --scaling [--sizes 64,128,256,512] [--repeat 5] [--blocks 1]
        [--out benchmarks/results/unet-scaling-DATE.json]   (also writes the .png beside it)
    --threads 1: a secondary figure, both frameworks on one thread (OMP/OPENBLAS/MKL_NUM_THREADS set for
        both processes alike): what each does per core, apart from how its threads meet other load.

Method (issue 15): a block is one fresh Python process that imports one framework and times one
workload: warm-up calls first (not counted), then ``--repeat`` timed calls, their median.  For each
workload the blocks run in the order tinygrad_med, torch, tinygrad_med, torch, ... (ABAB), so that a
change of machine load hits both alike (the blocks of a pair are seconds apart).  Default threads
for both: the script sets no thread count, no allocator option and nothing the README's example
does not do (it never calls ``cpu_memory.reuse_freed_memory()``, which the ``tgm`` command used to
set for itself; the library now applies its host-memory policy at import, for every user).  The JSON
holds every block's median, the ratio of the medians over blocks (ours / PyTorch), the spread of
the block medians of each framework, the ratio in each pair of blocks, and the load average
(/proc/loadavg) before each block.  No asserts: this script reports.

The workloads mirror the table of issue 15; both frameworks run the same code through the same
names (``tm.nn`` follows ``torch.nn``): conv2d 3x3 16x64x32x32, conv3d 3x3x3 2x16x32^3, max_pool2d
2x2 and train-mode batch_norm on 16x64x32x32 (fwd+bwd), an LSTM T32 B32 128->256 (fwd+bwd), and
one U-Net training step (16-32-64, conv-BN-ReLU, 2x2 transposed-conv up-sampling, cross-entropy,
Adam lr 1e-3) on 4x1x128x128, written once with ``nn.functional`` and once with ``nn`` modules.

--scaling: the U-Net step (module form) at batch 4 and each of --sizes, one process per framework
and size, so that the peak resident set size (``ru_maxrss``) is that of the one size.  Reported:
median step time and the peak RSS above the RSS just before the first step (the model, data and
imports excluded), and the total peak.
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

WORKLOADS = ("conv2d", "conv3d", "max_pool2d", "batch_norm", "lstm", "unet_functional", "unet_module")
WIDTHS = (16, 32, 64)
THREADS = []  # --threads N: [N]; empty: each library's default threads (the primary figure)


# ----------------------------------------------------------------------------- the workloads (child process)


def framework(name):
    """(module, nn, tensor(array, requires_grad)) of one framework; the rest of the code is shared."""
    if name == "torch":
        import torch

        return torch, torch.nn, lambda a, grad=False: torch.tensor(a, requires_grad=grad)
    import tinygrad_med as tm

    return tm, tm.nn, lambda a, grad=False: tm.tensor(a, requires_grad=grad)


def fwd_bwd(fw, make_out, x, leaves):
    """A call: clear the grads, y = make_out(x), y.backward(gy) with a fixed gy."""
    xt = fw[2](x, True)
    gy = []

    def run():
        for leaf in [xt, *leaves]:
            leaf.grad = None
        y = make_out(xt)
        if not gy:
            gy.append(fw[2](_rng().standard_normal(tuple(y.shape)).astype("float32")))
        y.backward(gy[0])

    return run


def _rng():
    import numpy

    return numpy.random.default_rng(0)


def make_workload(name, fw, size=128):
    """The zero-argument call to time for workload ``name`` in framework ``fw``."""
    mod, nn, tensor = fw
    F, rng = nn.functional, _rng()
    if name == "conv2d":
        w = tensor((0.05 * rng.standard_normal((64, 64, 3, 3))).astype("float32"), True)
        return fwd_bwd(fw, lambda x: F.conv2d(x, w, padding=1), rng.standard_normal((16, 64, 32, 32), "float32"), [w])
    if name == "conv3d":
        w = tensor((0.05 * rng.standard_normal((16, 16, 3, 3, 3))).astype("float32"), True)
        return fwd_bwd(
            fw, lambda x: F.conv3d(x, w, padding=1), rng.standard_normal((2, 16, 32, 32, 32), "float32"), [w]
        )
    if name == "max_pool2d":
        return fwd_bwd(fw, lambda x: F.max_pool2d(x, 2), rng.standard_normal((16, 64, 32, 32), "float32"), [])
    if name == "batch_norm":
        layer = nn.BatchNorm2d(64)
        layer.train()
        return fwd_bwd(fw, layer, rng.standard_normal((16, 64, 32, 32), "float32"), list(layer.parameters()))
    if name == "lstm":
        layer, x = nn.LSTM(128, 256), tensor(rng.standard_normal((32, 32, 128), "float32"))

        def run():
            layer.zero_grad()
            out, _ = layer(x)
            out.sum().backward()

        return run
    if name in ("unet_functional", "unet_module"):
        mod.manual_seed(0)
        model = (functional_unet if name == "unet_functional" else module_unet)(fw)
        opt = mod.optim.Adam(model.parameters(), lr=1e-3)
        x = tensor(rng.standard_normal((4, 1, size, size), "float32"))
        y = tensor(rng.integers(0, 2, (4, size, size)))

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step
    raise ValueError(f"unknown workload {name!r}; expected one of {WORKLOADS}")


def module_unet(fw):
    """The U-Net 16-32-64 of benchmarks/bench_unet.py, written with ``nn`` modules (the same code for both)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from unet_nets import torch_unet

    return torch_unet(fw[0], WIDTHS)


class _FunctionalUNet:
    """The same U-Net as plain parameter tensors and ``nn.functional`` calls (no modules)."""

    def __init__(self, fw):
        import numpy

        self.fw, rng, w = fw, _rng(), WIDTHS
        self.params, self.stats = {}, {}
        for name, a, b in (
            ("e0", 1, w[0]),
            ("e1", w[0], w[1]),
            ("mid", w[1], w[2]),
            ("d1", 2 * w[1], w[1]),
            ("d0", 2 * w[0], w[0]),
        ):
            for i, (cin, cout) in enumerate(((a, b), (b, b))):
                self._param(f"{name}.conv{i}", rng.standard_normal((cout, cin, 3, 3)) * (2 / (9 * cin)) ** 0.5)
                self._param(f"{name}.gamma{i}", numpy.ones(cout))
                self._param(f"{name}.beta{i}", numpy.zeros(cout))
                self.stats[f"{name}.{i}"] = (fw[2](numpy.zeros(cout, "float32")), fw[2](numpy.ones(cout, "float32")))
        for name, cin, cout in (("u1", w[2], w[1]), ("u0", w[1], w[0])):
            self._param(f"{name}.w", rng.standard_normal((cin, cout, 2, 2)) * (1 / (4 * cin)) ** 0.5)
            self._param(f"{name}.b", numpy.zeros(cout))
        self._param("head.w", rng.standard_normal((2, w[0], 1, 1)) * (1 / w[0]) ** 0.5)
        self._param("head.b", numpy.zeros(2))

    def _param(self, name, array):
        self.params[name] = self.fw[2](array.astype("float32"), True)

    def parameters(self):
        return list(self.params.values())

    def block(self, name, x):
        F, p = self.fw[1].functional, self.params
        for i in range(2):
            x = F.conv2d(x, p[f"{name}.conv{i}"], padding=1)
            mean, var = self.stats[f"{name}.{i}"]
            x = F.relu(F.batch_norm(x, mean, var, p[f"{name}.gamma{i}"], p[f"{name}.beta{i}"], training=True))
        return x

    def __call__(self, x):
        F, p, cat = self.fw[1].functional, self.params, self.fw[0].cat
        a = self.block("e0", x)
        b = self.block("e1", F.max_pool2d(a, 2))
        c = self.block("mid", F.max_pool2d(b, 2))
        d = self.block("d1", cat([F.conv_transpose2d(c, p["u1.w"], p["u1.b"], stride=2), b], 1))
        e = self.block("d0", cat([F.conv_transpose2d(d, p["u0.w"], p["u0.b"], stride=2), a], 1))
        return F.conv2d(e, p["head.w"], p["head.b"])


def functional_unet(fw):
    return _FunctionalUNet(fw)


def _rss_bytes():
    """Resident set size of this process now (Linux /proc; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def child(fw_name, names, repeat, warmup, size):
    """Time each workload of ``names`` in this process; print one JSON line."""
    import resource

    fw = framework(fw_name)
    out = {"framework": fw_name, "module": fw[0].__file__, "times_ms": {}}
    if fw_name == "torch":
        out["torch_threads"] = fw[0].get_num_threads()
    for name in names:
        fn = make_workload(name, fw, size)
        rss_before = _rss_bytes()
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            begin = time.perf_counter()
            fn()
            times.append((time.perf_counter() - begin) * 1e3)
        out["times_ms"][name] = times
        out.setdefault("rss_before_bytes", {})[name] = rss_before
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the driver


def run_block(fw_name, names, repeat, warmup, size=128):
    """One fresh process for ``fw_name``; returns its per-workload medians, times and the load before it."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    here = Path(__file__).resolve()
    command = [sys.executable, str(here), "--child", fw_name, "--only", ",".join(names)]
    command += ["--repeat", str(repeat), "--warmup", str(warmup), "--size", str(size)]
    env = dict(os.environ)
    if THREADS:  # --threads: the same thread count for both, through the variables each library reads at start
        env.update({name: str(THREADS[0]) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    text = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    block = json.loads(text.strip().splitlines()[-1])
    block["loadavg_before"] = load
    block["median_ms"] = {k: statistics.median(v) for k, v in block["times_ms"].items()}
    return block


def summarise(blocks, names):
    """Per workload: block medians of each framework, ratio of the medians over blocks, spreads, pair ratios."""
    table = {}
    for name in names:
        per = {
            f: [b["median_ms"][name] for b in blocks if b["framework"] == f and name in b["median_ms"]]
            for f in ("tinygrad_med", "torch")
        }
        mid = {f: statistics.median(v) for f, v in per.items()}
        table[name] = {
            "tinygrad_med_block_medians_ms": per["tinygrad_med"],
            "torch_block_medians_ms": per["torch"],
            "ratio": mid["tinygrad_med"] / mid["torch"],
            "ratio_per_pair": [a / b for a, b in zip(per["tinygrad_med"], per["torch"], strict=False)],
            "spread_pct": {f: 100 * (max(v) - min(v)) / mid[f] for f, v in per.items()},
        }
    return table


def machine():
    """CPU model, cores, versions and NumPy's BLAS (threadpoolctl), as bench_before_after.py reports it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_before_after import machine as describe

    info = describe()
    try:
        import torch

        info["torch"], info["torch_threads"] = torch.__version__, torch.get_num_threads()
    except ImportError:
        pass
    return info


def compare(args):
    names = args.only.split(",") if args.only else list(WORKLOADS)
    blocks = []
    for name in names:  # the blocks of one workload follow each other: a pair sees nearly the same load
        for _ in range(args.blocks):
            for fw_name in ("tinygrad_med", "torch"):
                blocks.append(run_block(fw_name, [name], args.repeat, args.warmup))
                load = " ".join(blocks[-1]["loadavg_before"])
                print(f"{name:16s} {fw_name:12s} {blocks[-1]['median_ms'][name]:9.2f} ms  load {load}", flush=True)
    table = summarise(blocks, names)
    for name, row in table.items():
        pairs = "/".join(f"{r:.2f}" for r in row["ratio_per_pair"])
        spread = ", ".join(f"{k} {v:.0f}%" for k, v in row["spread_pct"].items())
        print(f"{name:16s} ratio {row['ratio']:.2f}x (pairs {pairs}; block spread {spread})")
    return {
        "method": "ABAB blocks, one process each, default threads",
        "repeat": args.repeat,
        "warmup": args.warmup,
        "blocks": blocks,
        "workloads": table,
    }


def scaling(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        for _ in range(args.blocks):
            for fw_name in ("tinygrad_med", "torch"):
                block = run_block(fw_name, ["unet_module"], args.repeat, args.warmup, size)
                row = {
                    "framework": fw_name,
                    "size": size,
                    "median_ms": block["median_ms"]["unet_module"],
                    "times_ms": block["times_ms"]["unet_module"],
                    "peak_rss_mib": block["peak_rss_bytes"] / 2**20,
                    "peak_above_start_mib": (block["peak_rss_bytes"] - block["rss_before_bytes"]["unet_module"])
                    / 2**20,
                    "loadavg_before": block["loadavg_before"],
                }
                rows.append(row)
                print(
                    f"{size:4d}^2 {fw_name:12s} {row['median_ms']:9.1f} ms"
                    f"  peak +{row['peak_above_start_mib']:7.1f} MiB "
                    f"(total {row['peak_rss_mib']:.0f} MiB) load {' '.join(row['loadavg_before'])}",
                    flush=True,
                )
    summary = {}
    for size in sizes:
        med = {
            f: statistics.median(r["median_ms"] for r in rows if r["size"] == size and r["framework"] == f)
            for f in ("tinygrad_med", "torch")
        }
        mem = {
            f: statistics.median(r["peak_above_start_mib"] for r in rows if r["size"] == size and r["framework"] == f)
            for f in ("tinygrad_med", "torch")
        }
        summary[size] = {
            "median_ms": med,
            "peak_above_start_mib": mem,
            "time_ratio": med["tinygrad_med"] / med["torch"],
            "memory_ratio": mem["tinygrad_med"] / mem["torch"],
        }
        print(
            f"{size:4d}^2 time ratio {summary[size]['time_ratio']:.2f}x,"
            f" peak memory ratio {summary[size]['memory_ratio']:.2f}x"
        )
    return {
        "method": "one process per framework and size, U-Net (module form) batch 4",
        "repeat": args.repeat,
        "warmup": args.warmup,
        "rows": rows,
        "summary": summary,
    }


def plot(result, path):
    """Step time and peak memory against pixels, both frameworks, log-log (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no plot")
        return
    sizes = sorted(int(s) for s in result["summary"])
    pixels = [s * s for s in sizes]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, label in (
        ("median_ms", axes[0], "step time (ms)"),
        ("peak_above_start_mib", axes[1], "peak RSS above start (MiB)"),
    ):
        for fw_name in ("tinygrad_med", "torch"):
            ax.loglog(pixels, [result["summary"][s][key][fw_name] for s in sizes], "o-", label=fw_name)
        first = result["summary"][sizes[0]][key]["torch"]
        ax.loglog(pixels, [first * p / pixels[0] for p in pixels], "k:", label="linear in pixels")
        ax.set_xlabel("pixels per image (batch 4)")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"U-Net 16-32-64 train step, Adam, CPU ({result['date_utc']}, load {result['loadavg_after'][0]})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per workload and block")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before them")
    parser.add_argument("--blocks", type=int, default=2, help="blocks per framework, taken in turn (ABAB)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--scaling", action="store_true", help="U-Net step time and peak memory against the size")
    parser.add_argument("--sizes", default="64,128,256,512")
    parser.add_argument("--size", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("tinygrad_med", "torch"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads", type=int, default=0, help="secondary figure: N threads for both (OMP/OPENBLAS/MKL_NUM_THREADS)"
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.threads:
        THREADS.append(args.threads)
    if args.child:
        child(args.child, args.only.split(","), args.repeat, args.warmup, args.size)
        return
    day = time.strftime("%Y-%m-%d")
    result = scaling(args) if args.scaling else compare(args)
    result["threads"] = args.threads or "default"
    result.update(
        machine=machine(),
        date_utc=time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        loadavg_after=Path("/proc/loadavg").read_text().split()[:3],
        platform=platform.platform(),
    )
    out = Path(
        args.out
        or Path(__file__).resolve().parent
        / "results"
        / f"{'unet-scaling' if args.scaling else 'cpu-vs-torch'}-{day}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    if args.scaling:
        plot(result, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
