"""The ``tgm`` command (also ``python -m tinygrad_med``).

tgm gradcheck [--device cpu|emulated|cuda] [--op NAME]   gradient check of every op, as a table
tgm train MODEL --data DATASET ...                        the main job (tinygrad_med/train.py)
tgm eval / tgm predict                                    see tinygrad_med/train.py
tgm bench [--device ...] [--ops ...] [--size ...]         CPU vs GPU benchmarks (benchmarks/)
"""

import argparse
import json
import sys

from . import cpu_memory

__all__ = ["main", "build_parser"]


def build_parser():
    """The argparse parser with one subcommand per job."""
    parser = argparse.ArgumentParser(prog="tgm", description="tinygrad_med: teach, check, benchmark and train.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("gradcheck", help="gradient-check every op on every available device")
    check.add_argument(
        "--device",
        action="append",
        choices=["cpu", "emulated", "cuda"],
        help="device(s) to check (default: all available)",
    )
    check.add_argument("--op", action="append", help="only ops whose name contains this (repeatable)")
    check.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    check.set_defaults(run=_gradcheck)

    for add_commands in _command_providers():
        add_commands(sub)
    return parser


def _command_providers():
    """Subcommands defined next to the code they run (train.py, bench.py), when present."""
    providers = []
    try:
        from .train import add_train_commands

        providers.append(add_train_commands)
    except ImportError:
        pass
    try:
        from .bench import add_bench_commands

        providers.append(add_bench_commands)
    except ImportError:
        pass
    return providers


def _gradcheck(args):
    from .gradcheck_suite import available_devices, run_suite

    devices = args.device or available_devices()
    unavailable = [d for d in devices if d not in available_devices()]
    if unavailable:
        from . import backend

        print(
            f"tgm gradcheck: device {unavailable[0]} is not available: "
            f"{backend.cuda_unavailable_reason() if unavailable[0] == 'cuda' else 'g++ not found'}"
        )
        return 2
    print(f"{'op':28s} {'device':9s} {'max abs err':>12s} {'max rel err':>12s}  status")

    def show(row):
        abs_err = "-" if row["max_abs_err"] is None else f"{row['max_abs_err']:.2e}"
        rel_err = "-" if row["max_rel_err"] is None else f"{row['max_rel_err']:.2e}"
        print(f"{row['op']:28s} {row['device']:9s} {abs_err:>12s} {rel_err:>12s}  {row['status']}", flush=True)

    rows = run_suite(devices, only=args.op, progress=show)
    failed = [r for r in rows if r["status"] != "pass"]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 1 if failed else 0


def main(argv=None):
    """Entry point of the ``tgm`` console script."""
    args = build_parser().parse_args(argv)
    cpu_memory.reuse_freed_memory()  # freed host buffers are reused, as CuPy's pool does on the GPU
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
