"""``tgm exercise list | start NAME | check NAME`` (the parsers; the work is in exercises/__init__.py)."""

import sys

from . import DEFAULT_DIR, EXERCISES, check, start

__all__ = ["add_commands"]


def add_commands(sub):
    """Add the ``exercise`` subcommand to the ``tgm`` parser's subparsers."""
    parser = sub.add_parser("exercise", help="start an op's exercise and have it checked against the reference")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the exercises and their slides").set_defaults(run=_list)
    for action, run, text in (
        ("start", _start, "write NAME.py with the reference bodies removed into the workspace folder"),
        ("check", _check, "run your NAME.py against the reference and a gradient check (exit 0 pass, 1 fail)"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("name", metavar="NAME", help="the exercise (tgm exercise list)")
        command.add_argument("--dir", default=DEFAULT_DIR, help=f"the workspace folder (default ./{DEFAULT_DIR}/)")
        if action == "start":
            command.add_argument("--force", action="store_true", help="overwrite an existing file")
        command.set_defaults(run=run)
    for command in actions.choices.values():
        command.add_argument("--debug", action="store_true", help="show the traceback of an error")


def _list(args):
    for exercise in EXERCISES:
        print(f"{exercise.name:22s} {exercise.title}  [lecture: {exercise.lecture}]")
    return 0


def _start(args):
    path = start(args.name, args.dir, force=args.force)
    print(f"wrote {path}: fill in the bodies that raise NotImplementedError, then run")
    print(f"    tgm exercise check {args.name}" + (f" --dir {args.dir}" if args.dir != DEFAULT_DIR else ""))
    return 0


def _check(args):
    problems = check(args.name, args.dir)
    if not problems:
        print(f"{args.name}: passed (3 random cases against the reference, gradients and central differences)")
        return 0
    for problem in problems:
        print(f"{args.name}: {problem}")
    print(f"tgm exercise check {args.name}: failed: {problems[0]}", file=sys.stderr)
    return 1
