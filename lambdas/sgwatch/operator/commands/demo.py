"""`sgwatch demo`: the bundled real CloudTrail records through the whole pipeline on an emulated account."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TextIO

from sgwatch.core.errors import PolicyError
from sgwatch.operator.commands.common import (
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    Subcommands,
    classified,
    load_policy,
    notes_to,
    require,
    summary,
)
from sgwatch.operator.render import render_report
from sgwatch.operator.sources import read_paths

#: The real CloudTrail records the demo replays: package data, with their provenance (PROVENANCE.md).
BUNDLED_RECORDS = Path(__file__).resolve().parents[2] / "emulation" / "records"

#: What the emulated pipeline imports beyond the standard library: the demo extra brings them.
EMULATION_MODULES = ("boto3", "moto", "aws_lambda_powertools")


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "demo",
        help="replay the bundled real CloudTrail records through the whole pipeline, emulated (no AWS account needed)",
        description="Replay the real, published CloudTrail records bundled with sgwatch (or the PATHs given) through"
        " the deployed pipeline on an emulated AWS account (moto, in process): the EventBridge rule, the buffer, the"
        " handler in Lambda-shaped batches, the SNS topic. Prints the inbox, the most severe alert and the metrics."
        " --classify-only prints a classification report instead (a table by severity, the most severe findings).",
    )
    parser.add_argument(
        "--classify-only", action="store_true", help="only classify the records and print a report (no emulation)"
    )
    parser.add_argument("--policy", metavar="FILE", help="run the pipeline with a policy file")
    parser.add_argument(
        "--remediate",
        action="store_true",
        help="also run the function with remediation (CRITICAL, enforce) and show it revoke a world-SSH rule by its id",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="records to replay instead of the bundled ones")
    parser.add_argument(
        "--top", type=int, default=3, help="with --classify-only: how many of the most severe findings to show in full"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.paths and not BUNDLED_RECORDS.is_dir():
        err.write(
            f"sgwatch demo: the bundled records are not at {BUNDLED_RECORDS}; name files or directories to replay\n"
        )
        return EXIT_USAGE
    paths = args.paths or [str(BUNDLED_RECORDS)]
    if not args.classify_only:
        require("demo", "demo", *EMULATION_MODULES)
        from sgwatch.operator import demo  # noqa: PLC0415 - the emulation's dependencies; the report does not need them

        try:
            load_policy(args.policy)
        except PolicyError as error:
            err.write(f"sgwatch demo: {error}\n")
            return EXIT_USAGE
        return demo.main(paths, out, BUNDLED_RECORDS, args.policy or "", remediate=args.remediate)
    counts: Counter[str] = Counter()
    results = list(classified(read_paths(paths), counts, notes=notes_to(err, "demo")))
    out.write(render_report(results, detail_count=args.top))
    err.write(summary(counts) + "\n")
    return EXIT_UNREADABLE if counts["unreadable"] else EXIT_OK
