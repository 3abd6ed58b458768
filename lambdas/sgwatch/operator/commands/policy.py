"""`sgwatch policy check`: validate a policy file and explain each entry."""

from __future__ import annotations

import argparse
from typing import TextIO

from sgwatch.core.errors import PolicyError
from sgwatch.operator.commands.common import EXIT_OK, EXIT_USAGE, Subcommands, load_policy


def register(commands: Subcommands) -> None:
    parser = commands.add_parser("policy", help="work with policy files")
    policy_commands = parser.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    check_parser = policy_commands.add_parser(
        "check", help="validate a policy file and explain each entry", description="Exit 0 when valid, 2 when not."
    )
    check_parser.add_argument("file", metavar="FILE")
    check_parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        err.write(f"sgwatch policy check: {error}\n")
        return EXIT_USAGE
    assert policy is not None
    out.write(f"{args.file}: valid\n")
    for line in policy.describe():
        out.write(f"  {line}\n")
    return EXIT_OK
