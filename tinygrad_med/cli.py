"""The ``tgm`` command (also ``python -m tinygrad_med``).

tgm gradcheck [--device cpu|emulated|cuda] [--op NAME] [--reference]   gradient check of every op, as a table
tgm train MODEL --data DATASET ...                        the main job (tinygrad_med/training/loop.py)
tgm eval / tgm predict                                    see tinygrad_med/training/cli.py
tgm bench [--device ...] [--ops ...] [--size ...]         CPU vs GPU benchmarks (benchmarks/)
tgm exercise list | start NAME | check NAME               an op's exercise, checked against the reference

Every subcommand exits 0 only when it did what was asked (EXIT_STATUS below); any other end is
one line on stderr naming the problem, never a traceback unless --debug is given.
"""

import argparse
import json
import sys

from . import cpu_memory, errors
from .data import MissingPackageError
from .reference import is_reference_mode, reference_mode

__all__ = ["main", "build_parser", "EXIT_STATUS"]

EXIT_STATUS = (
    "exit status: 0 done; 1 a check ran and found failures (gradcheck, bench, exercise check); 2 refused or failed, "
    "with one line on stderr naming the problem (--debug shows the traceback instead); 130 interrupted (Ctrl-C)"
)
_KNOWN = (ValueError, OSError, MissingPackageError, errors.DeviceError, errors.KernelError, errors.DTypeError)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is one --help away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argparse parser with one subcommand per job."""
    parser = _Parser(prog="tgm", description="tinygrad_med: teach, check, benchmark and train.", epilog=EXIT_STATUS)
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
    check.add_argument("--reference", action="store_true", help="CPU rows through each op's reference (no fast paths)")
    check.set_defaults(run=_gradcheck)

    for add_commands in _command_providers():
        add_commands(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help="show the traceback of an error")
        command.epilog = "\n".join(filter(None, [command.epilog, EXIT_STATUS]))
    return parser


def _command_providers():
    """Subcommands defined next to the code they run (training/cli.py, bench/), when present."""
    providers = []
    try:
        from .training.cli import add_commands as add_train_commands

        providers.append(add_train_commands)
    except ImportError:
        pass
    try:
        from .bench import add_bench_commands

        providers.append(add_bench_commands)
    except ImportError:
        pass
    from .exercises.cli import add_commands as add_exercise_commands

    providers.append(add_exercise_commands)
    return providers


def _gradcheck(args):
    from .gradcheck.suite import available_devices, cases, run_suite

    devices = args.device or available_devices()
    unavailable = [d for d in devices if d not in available_devices()]
    if unavailable:
        from . import backend

        reason = backend.cuda_unavailable_reason() if unavailable[0] == "cuda" else "g++ not found"
        raise errors.DeviceError(errors.fmt("tgm gradcheck", f"device {unavailable[0]} is not available: {reason}"))
    names = [name for name, _, _ in cases()]
    unmatched = [word for word in args.op or [] if not any(word in name for name in names)]
    if unmatched:
        problem = f"--op {unmatched[0]!r} matches no op; the ops: {', '.join(names)}"
        raise ValueError(errors.fmt("tgm gradcheck", problem))
    print(f"{'op':28s} {'device':9s} {'max abs err':>12s} {'max rel err':>12s}  status")

    def show(row):
        abs_err = "-" if row["max_abs_err"] is None else f"{row['max_abs_err']:.2e}"
        rel_err = "-" if row["max_rel_err"] is None else f"{row['max_rel_err']:.2e}"
        print(f"{row['op']:28s} {row['device']:9s} {abs_err:>12s} {rel_err:>12s}  {row['status']}", flush=True)

    with reference_mode(args.reference or is_reference_mode()):  # tm.reference_mode(): see reference.py
        rows = run_suite(devices, only=args.op, progress=show)
    failed = [r for r in rows if r["status"] != "pass"]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    if failed:
        shown = ", ".join(f"{row['op']} ({row['device']})" for row in failed[:5])
        print(f"tgm gradcheck: {len(failed)} of {len(rows)} checks failed: {shown}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    """Entry point of the ``tgm`` console script; returns the exit status (EXIT_STATUS)."""
    args = build_parser().parse_args(argv)
    cpu_memory.apply_policy()  # freed host buffers are reused (on at import; TGM_REUSE_HOST_MEMORY=0 keeps glibc's)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        print(_one_line(args.command, str(interrupt) or "interrupted (Ctrl-C)"), file=sys.stderr)
        return 130
    except Exception as error:  # every failure ends as one line; --debug shows the traceback
        if args.debug:
            raise
        print(_one_line(args.command, _describe(error)), file=sys.stderr)
        return 2


def _describe(error):
    """The message of an error: its own words for bad input, its class too for what looks like a bug."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    if isinstance(error, _KNOWN):
        return str(error)
    return f"unexpected {type(error).__name__}: {error} (a bug; --debug shows the traceback)"


def _one_line(command, message):
    """``tgm COMMAND: message`` on one line (most messages already start with 'tgm ...', as errors.fmt words them)."""
    message = " ".join(message.split("\n"))
    if message.startswith("tgm: "):  # shared by train, eval and predict: name the one that ran
        return f"tgm {command}: {message[5:]}"
    return message if message.startswith("tgm") else f"tgm {command}: {message}"


if __name__ == "__main__":
    sys.exit(main())
