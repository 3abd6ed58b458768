"""The `sgwatch` command line: an adapter over the pure domain."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from sgwatch import __version__
from sgwatch.classify import Classification, classify
from sgwatch.envelopes import Item
from sgwatch.render import render_report, render_text
from sgwatch.severity import Severity
from sgwatch.sources import read_paths

EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE = 0, 1, 2

#: The real CloudTrail records the demo replays, kept with their provenance beside the tests.
BUNDLED_RECORDS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "cloudtrail"


def _results(items: Iterable[Item], counts: Counter[str]) -> Iterable[Classification]:
    for item in items:
        if item.skipped:
            counts["skipped"] += item.skipped
            continue
        if item.error:
            counts["unreadable"] += 1
            yield Classification(Severity.NONE, error=item.error, location=item.location)
            continue
        result = classify(item.record, location=item.location, account=item.account, region=item.region)
        if result.error:
            counts["unreadable"] += 1
        elif result.record is None:
            counts["skipped"] += 1
        else:
            counts[result.severity.name] += 1
        yield result


def _summary(counts: Counter[str]) -> str:
    changes = sum(counts[severity.name] for severity in Severity)
    by_severity = ", ".join(
        f"{counts[severity.name]} {severity.name}"
        for severity in sorted(Severity, reverse=True)
        if counts[severity.name]
    )
    detail = f" ({by_severity})" if by_severity else ""
    return (
        f"sgwatch: {changes} security-group records{detail}; {counts['skipped']} other records skipped;"
        f" {counts['unreadable']} unreadable"
    )


def command_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    counts: Counter[str] = Counter()
    for result in _results(read_paths(args.paths, keep_all=args.all), counts):
        if result.record is None and not result.error and not args.all:
            continue
        if args.format == "json":
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        else:
            out.write(render_text(result))
    err.write(_summary(counts) + "\n")
    return EXIT_UNREADABLE if counts["unreadable"] else EXIT_OK


def command_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.paths and not BUNDLED_RECORDS.is_dir():
        err.write(
            f"sgwatch demo: the bundled records are not at {BUNDLED_RECORDS}; name files or directories to replay\n"
        )
        return EXIT_USAGE
    paths = args.paths or [str(BUNDLED_RECORDS)]
    if not args.classify_only:
        from sgwatch import demo  # noqa: PLC0415 - needs the development install (moto); the report does not

        return demo.main(paths, out, BUNDLED_RECORDS)
    counts: Counter[str] = Counter()
    results = list(_results(read_paths(paths), counts))
    out.write(render_report(results, detail_count=args.top))
    err.write(_summary(counts) + "\n")
    return EXIT_UNREADABLE if counts["unreadable"] else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgwatch", description="Watch AWS security-group changes: which change matters, and why."
    )
    parser.add_argument("--version", action="version", version=f"sgwatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify_parser = commands.add_parser(
        "classify",
        help="classify CloudTrail records from files, directories or stdin",
        description="Classify CloudTrail records: raw records, EventBridge events, CloudTrail log files (plain or"
        " gzip), JSON lines, SNS or SQS deliveries. A directory is read recursively; - reads stdin. Prints one"
        " result per security-group record, in input order; a count of what was skipped goes to stderr."
        " Exit status: 0 when every record was read, 1 when any could not be, 2 on usage errors.",
    )
    classify_parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for stdin")
    classify_parser.add_argument(
        "--format", choices=("json", "text"), default="json", help="output form (default json)"
    )
    classify_parser.add_argument(
        "--all", action="store_true", help="print every record; the ones that are not security-group changes as NONE"
    )
    classify_parser.set_defaults(handler=command_classify)

    demo_parser = commands.add_parser(
        "demo",
        help="replay the bundled real CloudTrail records through the whole pipeline, emulated (no AWS account needed)",
        description="Replay the real, published CloudTrail records bundled with sgwatch (or the PATHs given) through"
        " the deployed pipeline on an emulated AWS account (moto, in process): the EventBridge rule, the buffer, the"
        " handler in Lambda-shaped batches, the SNS topic. Prints the inbox, the most severe alert and the metrics."
        " --classify-only prints a classification report instead (a table by severity, the most severe findings).",
    )
    demo_parser.add_argument(
        "--classify-only", action="store_true", help="only classify the records and print a report (no emulation)"
    )
    demo_parser.add_argument("paths", nargs="*", metavar="PATH", help="records to replay instead of the bundled ones")
    demo_parser.add_argument(
        "--top", type=int, default=3, help="with --classify-only: how many of the most severe findings to show in full"
    )
    demo_parser.set_defaults(handler=command_demo)
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
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        return EXIT_OK
    except KeyboardInterrupt:
        err.write("sgwatch: interrupted\n")
        return 130
    return status


def entry_point() -> None:
    sys.exit(main())
