"""Tables, JSON, plots and comparisons for ``tgm bench`` results."""

import json

__all__ = ["print_row", "speedups", "write_json", "plot", "compare"]

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


def plot(rows, peaks, prefix):
    """Two PNGs: per-op median times by device (log scale), and the roofline of each device.

    Returns the list of files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if "median_s" in r]
    devices = sorted({r["device"] for r in timed})
    return [_plot_times(plt, timed, devices, prefix), _plot_roofline(plt, timed, devices, peaks, prefix)]


def _plot_times(plt, timed, devices, prefix):
    """<prefix>-times.png: one bar per (op, pass, size) and device, median ms on a log scale."""
    labels = sorted({(r["op"], r["pass"], r["size"]) for r in timed})
    fig, ax = plt.subplots(figsize=(10, max(4, 0.22 * len(labels))))
    height = 0.8 / max(len(devices), 1)
    for k, device in enumerate(devices):
        times = {(r["op"], r["pass"], r["size"]): r["median_s"] for r in timed if r["device"] == device}
        ys = [i + k * height for i, key in enumerate(labels) if key in times]
        ax.barh(ys, [times[key] * 1e3 for key in labels if key in times], height=height, label=device)
    ax.set_yticks(range(len(labels)), [f"{op} {size} {kind}" for op, kind, size in labels], fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("median time (ms, log scale)")
    ax.legend()
    return _save(plt, fig, f"{prefix}-times.png")


def _plot_roofline(plt, timed, devices, peaks, prefix):
    """<prefix>-roofline.png: per device, min(GEMM peak, intensity x copy bandwidth) and each row's point."""
    fig, axes = plt.subplots(1, len(devices), figsize=(6 * len(devices), 4.5), squeeze=False)
    for ax, device in zip(axes[0], devices):
        peak = peaks[device]
        xs = [10 ** (e / 10) for e in range(-20, 31)]
        ax.plot(xs, [min(peak["gemm_gflops"], x * peak["copy_gbs"]) for x in xs], "k-", label="measured roofline")
        for r in (r for r in timed if r["device"] == device and r["intensity"] > 0):
            ax.plot(r["intensity"], r["gflops"], "o", ms=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP / byte)")
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"{device}: GEMM {peak['gemm_gflops']:.0f} GFLOP/s, copy {peak['copy_gbs']:.0f} GB/s")
        ax.legend(fontsize=7)
    return _save(plt, fig, f"{prefix}-roofline.png")


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
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
