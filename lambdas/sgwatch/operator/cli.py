"""The `sgwatch` command line: an adapter over the pure domain. Each command is a module of
`sgwatch.operator.commands` (its options and its run function); this assembles them and runs one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from sgwatch import __version__
from sgwatch.operator.commands import audit, classify, demo, history, policy, scan
from sgwatch.operator.commands.common import EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, MissingDependency

__all__ = ["EXIT_OK", "EXIT_UNREADABLE", "EXIT_USAGE", "build_parser", "entry_point", "main"]

#: The commands in the order `sgwatch --help` lists them.
COMMANDS = (classify, demo, audit, history, scan, policy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgwatch", description="Watch AWS security-group changes: which change matters, and why."
    )
    parser.add_argument("--version", action="version", version=f"sgwatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        status: int = args.handler(args, out, err)
    except MissingDependency as missing:  # an optional dependency the command needs: say what to install
        err.write(f"{missing}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        return EXIT_OK
    except KeyboardInterrupt:
        err.write("sgwatch: interrupted\n")
        return 130
    return status


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
