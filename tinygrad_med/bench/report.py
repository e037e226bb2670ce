"""Tables, JSON, plots and comparisons for ``tgm bench`` results."""

import json

__all__ = ["print_row", "speedups", "write_json", "plot", "plot_roofline", "plot_family", "family_style", "compare"]

HEADER = (
    f"{'op':26s} {'size':6s} {'device':6s} {'pass':17s} {'median':>10s} {'spread':>7s} "
    f"{'GFLOP/s':>9s} {'GB/s':>8s} {'roofline':>8s} {'vs torch':>8s}  status"
)


def _ms(seconds):
    return f"{seconds * 1e3:9.3f}ms" if seconds < 10 else f"{seconds:9.2f}s "


def print_row(row):
    """One line of the terminal table."""
    if "median_s" not in row:
        print(
            f"{row['op']:26s} {row['size']:6s} {row['device']:6s} {row['pass']:17s} {'':>10s} {'':>7s} "
            f"{'':>9s} {'':>8s} {'':>8s} {'':>8s}  {row['status']}",
            flush=True,
        )
        return
    torch = f"{row['vs_torch']:7.2f}x" if "vs_torch" in row else f"{'-':>8s}"
    print(
        f"{row['op']:26s} {row['size']:6s} {row['device']:6s} {row['pass']:17s} {_ms(row['median_s'])} "
        f"{row['iqr_rel'] * 100:6.1f}% {row['gflops']:9.1f} {row['gbs']:8.1f} "
        f"{row['roofline_share'] * 100:7.1f}% {torch}  {row['status']}",
        flush=True,
    )


def speedups(rows):
    """GPU-over-CPU speedup per (op, pass, size) measured at identical params, and the crossover size.

    Returns:
        {op + pass: {"speedup": {size: cpu/gpu}, "gpu_wins_from": first size where gpu is faster or None}}
    """
    timed = {(r["op"], r["pass"], r["size"], r["device"]): r for r in rows if "median_s" in r}
    result = {}
    for (op, kind, size, device), row in timed.items():
        gpu = timed.get((op, kind, size, "cuda"))
        if device != "cpu" or gpu is None or gpu["params"] != row["params"]:
            continue
        entry = result.setdefault(f"{op} [{kind}]", {"speedup": {}, "gpu_wins_from": None})
        entry["speedup"][size] = row["median_s"] / gpu["median_s"]
    for entry in result.values():
        for size in ("small", "medium", "large"):
            if entry["speedup"].get(size, 0) > 1:
                entry["gpu_wins_from"] = size
                break
    return result


def write_json(path, machine, peaks, rows):
    """The machine, the measured ceilings, every row and the GPU/CPU speedups, as JSON."""
    with open(path, "w") as handle:
        json.dump(
            {"machine": machine, "peaks": peaks, "rows": rows, "speedups": speedups(rows)},
            handle,
            indent=1,
            default=str,
        )


# One colour and marker per op family, fixed so that every plot and every page agrees.
FAMILY_STYLE = {
    "conv": ("tab:blue", "o"),
    "matmul": ("tab:orange", "s"),
    "elementwise": ("tab:green", "^"),
    "loss": ("tab:red", "v"),
    "pool": ("tab:purple", "D"),
    "norm": ("tab:brown", "P"),
    "dropout": ("tab:pink", "X"),
    "resample": ("tab:gray", "<"),
    "sample": ("tab:olive", ">"),
    "detection": ("tab:cyan", "h"),
    "graph": ("gold", "*"),
    "optim": ("black", "p"),
    "model": ("navy", "d"),
}

# The ops labelled on the roofline: the lecture's headline kernels.
HEADLINE_OPS = (
    "conv2d 3x3",
    "matmul (cuBLAS/BLAS)",
    "max_pool2d 2x2",
    "batch_norm (train)",
    "cross_entropy",
    "adam step",
    "spmm mesh (ours)",
    "roi_align 7x7 (ours)",
)

_SIZE_ORDER = {"small": 0, "medium": 1, "large": 2}


def family_style(family):
    """(colour, marker) of an op family in every bench plot."""
    return FAMILY_STYLE.get(family, ("tab:gray", "."))


def plot(rows, peaks, prefix):
    """The roofline of every device on one plot, and one PNG per op family.

    Writes ``<prefix>-roofline.png`` and ``<prefix>-family-<family>.png`` (see plot_family).
    Returns the list of files written.
    """
    plt = _pyplot()
    timed = [r for r in rows if "median_s" in r]
    written = [plot_roofline(timed, peaks, f"{prefix}-roofline.png", plt=plt)]
    for family in sorted({r.get("family", "?") for r in timed}):
        written.append(plot_family(timed, family, f"{prefix}-family-{family}.png", plt=plt))
    return written


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roofline(rows, peaks, path, plt=None):
    """Every device's measured roofline, min(GEMM peak, intensity x copy bandwidth), and each row as a point.

    One colour and marker per op family (legend), filled for the CPU and hollow for the GPU; the
    headline ops (HEADLINE_OPS) are labelled at their largest measured size.
    """
    plt = plt or _pyplot()
    timed = [r for r in rows if "median_s" in r and r.get("intensity", 0) > 0 and r.get("gflops", 0) > 0]
    fig, ax = plt.subplots(figsize=(9, 6))
    xs = [10 ** (e / 10) for e in range(-20, 31)]
    for device, peak in sorted(peaks.items()):
        line = "-" if device == "cpu" else "--"
        roof = [min(peak["gemm_gflops"], x * peak["copy_gbs"]) for x in xs]
        label = f"{device} roofline (GEMM {peak['gemm_gflops']:.0f} GFLOP/s, copy {peak['copy_gbs']:.0f} GB/s)"
        ax.plot(xs, roof, "k" + line, lw=1, label=label)
    for family in sorted({r["family"] for r in timed}):
        colour, marker = family_style(family)
        for device in ("cpu", "cuda"):
            points = [r for r in timed if r["family"] == family and r["device"] == device]
            if points:
                face = colour if device == "cpu" else "none"
                ax.scatter(
                    [r["intensity"] for r in points],
                    [r["gflops"] for r in points],
                    marker=marker,
                    s=28,
                    facecolors=face,
                    edgecolors=colour,
                    label=f"{family} ({device})",
                )
    for row in _headline_points(timed):
        ax.annotate(
            f"{row['op']} {row['size']}",
            (row["intensity"], row["gflops"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("roofline: filled = CPU, hollow = GPU")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(plt, fig, path)


def _headline_points(rows):
    """Per headline op and device, the row at its largest size (forward+backward before forward)."""
    best = {}
    for row in rows:
        if row["op"] not in HEADLINE_OPS:
            continue
        rank = (_SIZE_ORDER.get(row["size"], 0), row["pass"] != "forward")
        key = (row["op"], row["device"])
        if key not in best or rank > best[key][0]:
            best[key] = (rank, row)
    return [row for _, row in best.values()]


def plot_family(rows, family, path, plt=None):
    """Three panels for one op family, one bar per (op, size, pass): what a reader asks of a benchmark.

    Left: our time over PyTorch's on the same device (< 1: we are faster). Middle: GPU speedup over
    the CPU (CPU time / GPU time) where both devices ran. Right: the share of the roofline reached.
    """
    plt = plt or _pyplot()
    timed = [r for r in rows if "median_s" in r and r.get("family") == family]
    keys = sorted({(r["op"], _SIZE_ORDER.get(r["size"], 0), r["size"], r["pass"]) for r in timed})
    labels = [f"{op} {size} {kind}" for op, _, size, kind in keys]
    by_key = {(r["op"], r["size"], r["pass"], r["device"]): r for r in timed}
    colour, _ = family_style(family)
    fig, axes = plt.subplots(1, 3, figsize=(13, 1.2 + 0.28 * max(len(keys), 1)), sharey=True)
    ys = list(range(len(keys)))
    devices = sorted({r["device"] for r in timed})
    height = 0.8 / max(len(devices), 1)
    for k, device in enumerate(devices):
        alpha = 1.0 if device == "cpu" else 0.5
        get = [by_key.get((op, size, kind, device), {}) for op, _, size, kind in keys]
        offset = [y + k * height for y in ys]
        axes[0].barh(offset, [r.get("vs_torch", 0) for r in get], height, color=colour, alpha=alpha, label=device)
        axes[2].barh(
            offset, [100 * r.get("roofline_share", 0) for r in get], height, color=colour, alpha=alpha, label=device
        )
    speedup = []
    for op, _, size, kind in keys:
        cpu, gpu = by_key.get((op, size, kind, "cpu")), by_key.get((op, size, kind, "cuda"))
        same = cpu and gpu and cpu.get("params") == gpu.get("params")  # the GPU's 'large' may be larger
        speedup.append(cpu["median_s"] / gpu["median_s"] if same else 0)
    axes[1].barh(ys, speedup, 0.8, color=colour)
    for ax, values in ((axes[0], [r.get("vs_torch", 0) for r in timed]), (axes[1], speedup)):
        if any(v > 0 for v in values):
            ax.set_xscale("log")  # ratios: 0.5x and 2x lie the same distance from 1
    axes[0].axvline(1, color="k", lw=0.8)
    axes[1].axvline(1, color="k", lw=0.8)
    axes[0].set_title("ours / PyTorch (time ratio, < 1 faster)")
    axes[1].set_title("GPU speedup over CPU" + ("" if any(speedup) else " (only one device ran)"))
    axes[2].set_title("roofline share (%)")
    axes[0].set_yticks(ys, labels, fontsize=7)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{family}")
    return _save(plt, fig, path)


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compare(rows, old_path):
    """Print new median / old median for the rows both runs have."""
    with open(old_path) as handle:
        old = {(r["op"], r["size"], r["device"], r["pass"]): r for r in json.load(handle)["rows"] if "median_s" in r}
    print(f"\nchange against {old_path} (new time / old time; < 1 is faster)")
    for r in rows:
        key = (r["op"], r["size"], r["device"], r["pass"])
        if "median_s" in r and key in old:
            print(
                f"{r['op']:26s} {r['size']:6s} {r['device']:6s} {r['pass']:17s} "
                f"{r['median_s'] / old[key]['median_s']:6.2f}x"
            )
