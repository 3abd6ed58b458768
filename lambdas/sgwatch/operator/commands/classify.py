"""`sgwatch classify`: CloudTrail records from files, directories or stdin, one result per security-group record."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from datetime import UTC, datetime
from typing import TextIO

from sgwatch.core.asff import security_hub_finding
from sgwatch.core.errors import PolicyError
from sgwatch.core.ocsf import detection_finding
from sgwatch.core.text import json_line
from sgwatch.operator.commands.common import (
    ASFF,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    JSON,
    OCSF,
    Subcommands,
    classified,
    load_policy,
    notes_to,
    output_options,
    own_resources,
    stack_option,
    summary,
)
from sgwatch.operator.render import render_text
from sgwatch.operator.sources import (
    DEFAULT_MAX_SIZE,
    LIMIT_OPTION,
    SLOW_READER_NOTICE,
    fast_reader_installed,
    read_paths,
)

_SIZE = re.compile(r"\s*(\d+)\s*([a-z]*)\s*", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3, "m": 1 << 20, "mib": 1 << 20, "mb": 10**6,
    "g": 1 << 30, "gib": 1 << 30, "gb": 10**9,
}  # fmt: skip


def parse_size(text: str) -> int:
    """ "2GiB", "64MiB", "512K", "1000000": a positive number of bytes (K, M, G and KiB, MiB, GiB are powers of 1024;
    KB, MB, GB of 1000)."""
    match = _SIZE.fullmatch(text)
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 2GiB, 64MiB or a number of bytes")
    return int(match.group(1)) * unit


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "classify",
        parents=[output_options(JSON, extra=(OCSF, ASFF)), stack_option()],
        help="classify CloudTrail records from files, directories or stdin",
        description="Classify CloudTrail records: raw records, EventBridge events, CloudTrail log files (plain or"
        " gzip), JSON lines, SNS or SQS deliveries, `aws cloudtrail lookup-events` output. A directory is read"
        " recursively (each real directory once; FIFOs and devices are not opened); - reads stdin. Prints one"
        " result per security-group record, in input order; what cannot be read is an error line and the rest is"
        " still read; a count of what was skipped goes to stderr."
        " Exit status: 0 when every record was read, 1 when any could not be, 2 on usage errors.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for stdin")
    parser.add_argument(
        "--all", action="store_true", help="print every record; the ones that are not security-group changes as NONE"
    )
    parser.add_argument("--policy", metavar="FILE", help="apply a policy file (see sgwatch policy check)")
    parser.add_argument(
        LIMIT_OPTION,
        type=parse_size,
        default=DEFAULT_MAX_SIZE,
        metavar="SIZE",
        help="the most bytes one input may hold, gzip decompressed (default 2GiB; e.g. 512MiB): a larger input is"
        " an error line, and memory stays bounded",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    counts: Counter[str] = Counter()
    try:
        policy = load_policy(args.policy)
    except PolicyError as error:
        err.write(f"sgwatch classify: {error}\n")
        return EXIT_USAGE
    if not fast_reader_installed():
        err.write(f"sgwatch classify: {SLOW_READER_NOTICE}\n")
    items = read_paths(args.paths, keep_all=args.all, max_size=args.max_decompressed_size)
    now = datetime.now(UTC)  # the findings' UpdatedAt, and their time when a record has none
    following = "-" in args.paths  # JSON lines on stdin are judged as they come: each result is shown at once
    for result in classified(items, counts, policy, notes=notes_to(err, "classify"), own=own_resources(args)):
        if not result.watched and not result.error and not args.all:
            continue
        if args.format == JSON:
            out.write(json_line(result.to_dict()) + "\n")
        elif args.format in (OCSF, ASFF) and result.error and not result.event_name:  # input, not a record
            err.write(f"sgwatch classify: {result.error}\n")
        elif args.format == OCSF:  # one OCSF Detection Finding a line (docs/cli.md)
            out.write(json_line(detection_finding(result, now=now)) + "\n")
        elif args.format == ASFF:  # one Security Hub finding a line (docs/cli.md)
            try:
                out.write(json_line(security_hub_finding(result, updated_at=now)) + "\n")
            except ValueError as error:
                counts["unreadable"] += 0 if result.error else 1  # an unreadable record is counted already
                err.write(f"sgwatch classify: {error}\n")
        else:
            out.write(render_text(result))
        if following:
            out.flush()
    err.write(summary(counts) + "\n")
    return EXIT_UNREADABLE if counts["unreadable"] else EXIT_OK
