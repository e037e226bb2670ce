"""``tgm bench``: CPU against GPU for every kernel, against the roofline and against PyTorch.

    tgm bench --device cpu --size small --repeat 5 --out bench-out
    tgm bench --ops conv --ops pool --compare benchmarks/results/old.json
    tgm bench --device cpu --quick        (every op family at the small size, 3 runs)

Writes a table to the terminal and, under --out, a JSON file with the machine and every
row, and PNG plots: the roofline of every device on one plot (one colour and marker per op family),
and per op family our time over PyTorch's, the GPU's speedup over the CPU and the roofline share.
"""

import os
import time

from ..errors import DeviceError, fmt

__all__ = ["add_bench_commands", "main"]


def add_bench_commands(subparsers):
    """Register ``tgm bench`` on the tgm argument parser."""
    from .workloads import families

    bench = subparsers.add_parser("bench", help="benchmark every op on every device (table, JSON, plots)")
    bench.add_argument("--device", action="append", choices=["cpu", "cuda"], help="default: every available")
    bench.add_argument("--ops", action="append", choices=families(), help="op families (default: all)")
    bench.add_argument("--size", action="append", choices=["small", "medium", "large"], help="default: all three")
    bench.add_argument("--repeat", type=int, default=10, help="timed runs per row (median reported)")
    bench.add_argument("--warmup", type=int, default=2)
    bench.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    bench.add_argument("--quick-peaks", action="store_true", help="smaller roofline measurements (for tests)")
    bench.add_argument(
        "--quick",
        action="store_true",
        help="every op family at the small size, 3 runs after 1 warm-up, slow model steps left out (for the plots)",
    )
    bench.add_argument("--out", default="bench-out", help="folder for JSON and PNG files")
    bench.add_argument("--compare", metavar="OLD.json", help="print the change against an earlier run")
    bench.set_defaults(run=main)


def main(args):
    """Run ``tgm bench`` with parsed arguments; returns the exit code (1 if any result was wrong)."""
    from .. import backend
    from .runner import run_benchmarks
    from .timing import machine_info

    devices = args.device or (["cpu", "cuda"] if backend.cuda_available() else ["cpu"])
    if "cuda" in devices and not backend.cuda_available():
        raise DeviceError(fmt("tgm bench", f"cuda is not available: {backend.cuda_unavailable_reason()}"))
    machine = machine_info()
    measured = _measure_peaks(devices, args.quick_peaks)
    prefix = _output_prefix(args.out, machine)
    progress = _progress_writer(prefix, machine, measured)
    sizes, repeat, warmup, skip = _selection(args)
    rows = run_benchmarks(
        devices, sizes, args.ops, repeat, warmup, measured, torch=not args.no_torch, progress=progress, skip=skip
    )
    _finish(rows, machine, measured, prefix, args.compare)
    return 1 if any(r.get("status") == "WRONG" for r in rows) else 0


def _selection(args):
    """(sizes, repeat, warmup, workload names to skip): as asked, or bench/workloads.py's QUICK under --quick."""
    from .workloads import QUICK

    sizes = args.size or ["small", "medium", "large"]
    if not args.quick:
        return sizes, args.repeat, args.warmup, ()
    return (
        args.size or QUICK["sizes"],
        min(args.repeat, QUICK["repeat"]),
        min(args.warmup, QUICK["warmup"]),
        QUICK["skip"],
    )


def _measure_peaks(devices, quick):
    """The roofline of each device, measured now (GEMM GFLOP/s and copy GB/s), printed as it comes."""
    from .timing import peaks

    measured = {d: peaks(d, quick=quick) for d in devices}
    for device, peak in measured.items():
        print(
            f"{device}: GEMM {peak['gemm_gflops']:.1f} GFLOP/s (n={peak['gemm_size']}), "
            f"copy {peak['copy_gbs']:.1f} GB/s  [roofline, measured now]"
        )
    return measured


def _output_prefix(out, machine):
    """out/bench-<gpu or cpu>-<date>: the stem of the JSON and PNG files (the folder is made)."""
    os.makedirs(out, exist_ok=True)
    name = (machine.get("gpu") or "cpu").replace(" ", "-")
    return os.path.join(out, f"bench-{name}-{time.strftime('%Y-%m-%d')}")


def _progress_writer(prefix, machine, measured):
    """Prints the table header; returns the per-row callback, which prints the row and rewrites the JSON
    after every row, so a run cut short keeps what it measured."""
    from . import report

    done = []

    def progress(row):
        done.append(row)
        report.print_row(row)
        report.write_json(prefix + ".json", machine, measured, done)

    print(report.HEADER)
    return progress


def _finish(rows, machine, measured, prefix, compare_with):
    """GPU/CPU speedups, the final JSON and the plots, and the change against an earlier run if asked."""
    from . import report

    for op, entry in report.speedups(rows).items():
        sizes = ", ".join(f"{s} {v:.1f}x" for s, v in entry["speedup"].items())
        print(f"GPU/CPU speedup {op}: {sizes}; GPU wins from: {entry['gpu_wins_from']}")
    report.write_json(prefix + ".json", machine, measured, rows)
    written = [prefix + ".json"] + report.plot(rows, measured, prefix)
    print("wrote " + ", ".join(written))
    if compare_with:
        report.compare(rows, compare_with)
