"""The `sgwatch` command line: an adapter over the pure domain."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sgwatch import __version__
from sgwatch.core.classify import DEFAULT_SETTINGS, Classification, classify
from sgwatch.core.envelopes import Item
from sgwatch.core.errors import PolicyError
from sgwatch.core.policy import Policy, apply_policy, read_policy
from sgwatch.core.severity import Severity
from sgwatch.core.text import clean, json_line
from sgwatch.operator.render import render_report, render_text
from sgwatch.operator.sources import DEFAULT_MAX_SIZE, LIMIT_OPTION, read_paths

EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE = 0, 1, 2

#: The real CloudTrail records the demo replays: package data, with their provenance (PROVENANCE.md).
BUNDLED_RECORDS = Path(__file__).resolve().parents[1] / "emulation" / "records"


def _load_policy(path: str | None) -> Policy | None:
    """The policy at path, validated; PolicyError names the line and field."""
    if not path:
        return None
    return read_policy(path)


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


def _results(
    items: Iterable[Item],
    counts: Counter[str],
    policy: Policy | None = None,
    notes: Callable[[str], object] | None = None,
) -> Iterable[Classification]:
    """Each item classified, in order; errors become results with `error`; notes (inputs passed over) go to notes."""
    settings = policy.settings if policy else DEFAULT_SETTINGS
    for item in items:
        if item.skipped:
            counts["skipped"] += item.skipped
            continue
        if item.note:
            counts["not regular"] += 1
            if notes is not None:
                notes(item.note)
            continue
        if item.error:
            counts["unreadable"] += 1
            yield Classification(error=item.error, location=item.location)
            continue
        try:
            result = classify(
                item.record, location=item.location, account=item.account, region=item.region, settings=settings
            )
        except Exception as error:  # classify() does not raise by contract; one record must not end the run if it does
            problem = "nested too deeply" if isinstance(error, RecursionError) else f"{type(error).__name__}: {error}"
            result = Classification(
                error=f"{item.location}: could not be classified ({problem})", location=item.location
            )
        if policy is not None:
            result = apply_policy(result, policy)
        if result.error:
            counts["unreadable"] += 1
        elif result.record is None:
            counts["skipped"] += 1
        else:
            counts[result.severity.name] += 1
        yield result


def _notes(err: TextIO, command: str) -> Callable[[str], object]:
    return lambda note: err.write(f"sgwatch {command}: {clean(note, 2000)}\n")


def _summary(counts: Counter[str]) -> str:
    changes = sum(counts[severity.name] for severity in Severity)
    by_severity = ", ".join(
        f"{counts[severity.name]} {severity.name}"
        for severity in sorted(Severity, reverse=True)
        if counts[severity.name]
    )
    detail = f" ({by_severity})" if by_severity else ""
    not_regular = f"; {counts['not regular']} inputs skipped (not regular files)" if counts["not regular"] else ""
    return (
        f"sgwatch: {changes} security-group records{detail}; {counts['skipped']} other records skipped;"
        f" {counts['unreadable']} unreadable{not_regular}"
    )


def command_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    counts: Counter[str] = Counter()
    try:
        policy = _load_policy(args.policy)
    except PolicyError as error:
        err.write(f"sgwatch classify: {error}\n")
        return EXIT_USAGE
    items = read_paths(args.paths, keep_all=args.all, max_size=args.max_decompressed_size)
    for result in _results(items, counts, policy, notes=_notes(err, "classify")):
        if result.record is None and not result.error and not args.all:
            continue
        if args.format == "json":
            out.write(json_line(result.to_dict()) + "\n")
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
        from sgwatch.operator import demo  # noqa: PLC0415 - needs the development install (moto); the report does not

        try:
            _load_policy(args.policy)
        except PolicyError as error:
            err.write(f"sgwatch demo: {error}\n")
            return EXIT_USAGE
        return demo.main(paths, out, BUNDLED_RECORDS, args.policy or "")
    counts: Counter[str] = Counter()
    results = list(_results(read_paths(paths), counts, notes=_notes(err, "demo")))
    out.write(render_report(results, detail_count=args.top))
    err.write(_summary(counts) + "\n")
    return EXIT_UNREADABLE if counts["unreadable"] else EXIT_OK


class _Clients:
    """boto3 clients from the standard AWS environment (profiles, AWS_REGION, AWS_ENDPOINT_URL), one per service and
    region, built once and shared by the worker threads."""

    def __init__(self, session: Any = None) -> None:
        import threading  # noqa: PLC0415 - the AWS commands' own needs, not classify's

        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        self._session = session or boto3.session.Session()
        self._config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
        self._lookup_config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], object] = {}
        # AWS_REGION is what the AWS CLI and SDKs v2 read; boto3 reads AWS_DEFAULT_REGION: honour both.
        self.default_region = self._session.region_name or os.environ.get("AWS_REGION") or "us-east-1"

    def in_account(self, account: str, role: str) -> _Clients:
        """Clients in a member account, through its audit role (credentials from sts:AssumeRole)."""
        import boto3  # noqa: PLC0415

        from sgwatch.runtime.aws import assumed_role_keys  # noqa: PLC0415

        sts = self("sts", self.default_region)
        identity = sts.get_caller_identity()  # type: ignore[attr-defined]
        partition = identity["Arn"].split(":")[1]
        keys = assumed_role_keys(sts, f"arn:{partition}:iam::{account}:role/{role}", "sgwatch-audit")
        return _Clients(boto3.session.Session(region_name=self.default_region, **keys))

    def __call__(self, service: str, region: str) -> object:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                # LookupEvents retries are sgwatch's own: they must wait for the rate limiter.
                config = self._lookup_config if service == "cloudtrail-lookup" else self._config
                name = "cloudtrail" if service == "cloudtrail-lookup" else service
                self._clients[key] = self._session.client(name, region_name=region, config=config)
            return self._clients[key]


def _regions(text: str, clients: _Clients, default_all: bool) -> list[str]:
    from sgwatch.operator.audit import enabled_regions  # noqa: PLC0415

    if text == "all" or (not text and default_all):
        return enabled_regions(clients, clients.default_region)
    return [region.strip() for region in (text or clients.default_region).split(",") if region.strip()]


def _progress(err: TextIO, label: str, total: int) -> Callable[..., None] | None:
    if not err.isatty():
        return None
    done: list[str] = []

    def report(region: str, records: int | None = None) -> None:
        if records is None:
            done.append(region)
            err.write(f"\r{label}: {len(done)}/{total} regions")
        else:
            err.write(f"\r{label}: {region}, {records} records so far   ")
        err.flush()

    return report


def command_audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sgwatch.operator import audit  # noqa: PLC0415

    try:
        clients = _Clients()
        regions = _regions(args.regions, clients, default_all=True)
    except Exception as error:  # no credentials, no network: the audit could not run
        err.write(f"sgwatch audit: {clean(str(error), 2000)}\n")
        return EXIT_USAGE
    if args.accounts:
        checks = []
        for account in [a.strip() for a in args.accounts.split(",") if a.strip()]:
            try:
                member = clients.in_account(account, args.role)
            except Exception as error:  # the role cannot be assumed: every check there is unknown
                checks.append(audit.Check(account, "audit role", audit.UNKNOWN, f"cannot assume {args.role}: {error}"))
                continue
            for check in audit.run_audit(regions, member):
                checks.append(dataclasses.replace(check, region=f"{account}/{check.region}"))
    else:
        checks = audit.run_audit(regions, clients, progress=_progress(err, "audit", len(regions)))
    if err.isatty():
        err.write("\n")
    if args.format == "json":
        out.write(json.dumps([check.to_dict() for check in checks], indent=2) + "\n")
    else:
        out.write(audit.render_table(checks))
    return audit.exit_status(checks)


def command_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from sgwatch.operator import history  # noqa: PLC0415

    now = datetime.now(UTC)
    try:
        start = history.parse_since(args.since, now)
        minimum = Severity.parse(args.min_severity)
        policy = _load_policy(args.policy)
    except ValueError as error:
        err.write(f"sgwatch history: {error}\n")
        return EXIT_USAGE
    try:
        clients = _Clients()
        regions = _regions(args.regions, clients, default_all=False)
    except Exception as error:
        err.write(f"sgwatch history: {clean(str(error), 2000)}\n")
        return EXIT_USAGE
    results, per_region = history.run_history(
        regions,
        lambda region: clients("cloudtrail-lookup", region),
        start,
        now,
        progress=_progress(err, "history", len(regions)),
        settings=policy.settings if policy else None,
    )
    if policy is not None:
        results = [apply_policy(result, policy) for result in results]
        results.sort(key=lambda result: (result.severity, result.event_time), reverse=True)
    if err.isatty():
        err.write("\n")
    shown = [r for r in results if r.error or (r.record is not None and r.severity >= minimum)]
    if args.format == "json":
        for result in shown:
            out.write(json_line(result.to_dict()) + "\n")
    else:
        out.write(history.render_table(shown))
    for region_result in per_region:
        if region_result.error:
            err.write(f"sgwatch history: {clean(region_result.error, 2000)}\n")
    requests = sum(r.requests for r in per_region)
    throttled = sum(r.throttled for r in per_region)
    err.write(
        f"sgwatch history: {len(results)} records from {len(regions)} regions since {start:%Y-%m-%d %H:%M} UTC;"
        f" {len(shown)} shown at {minimum.name} and above; {requests} LookupEvents requests, {throttled} throttled\n"
    )
    failed = any(r.error for r in per_region) or any(r.error for r in results)
    return EXIT_UNREADABLE if failed else EXIT_OK


def command_policy_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        policy = _load_policy(args.file)
    except PolicyError as error:
        err.write(f"sgwatch policy check: {error}\n")
        return EXIT_USAGE
    assert policy is not None
    out.write(f"{args.file}: valid\n")
    for line in policy.describe():
        out.write(f"  {line}\n")
    return EXIT_OK


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
        " gzip), JSON lines, SNS or SQS deliveries, `aws cloudtrail lookup-events` output. A directory is read"
        " recursively (each real directory once; FIFOs and devices are not opened); - reads stdin. Prints one"
        " result per security-group record, in input order; what cannot be read is an error line and the rest is"
        " still read; a count of what was skipped goes to stderr."
        " Exit status: 0 when every record was read, 1 when any could not be, 2 on usage errors.",
    )
    classify_parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or - for stdin")
    classify_parser.add_argument(
        "--format", choices=("json", "text"), default="json", help="output form (default json)"
    )
    classify_parser.add_argument(
        "--all", action="store_true", help="print every record; the ones that are not security-group changes as NONE"
    )
    classify_parser.add_argument("--policy", metavar="FILE", help="apply a policy file (see sgwatch policy check)")
    classify_parser.add_argument(
        LIMIT_OPTION,
        type=parse_size,
        default=DEFAULT_MAX_SIZE,
        metavar="SIZE",
        help="the most bytes one input may hold, gzip decompressed (default 2GiB; e.g. 512MiB): a larger input is"
        " an error line, and memory stays bounded",
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
    demo_parser.add_argument("--policy", metavar="FILE", help="run the pipeline with a policy file")
    demo_parser.add_argument("paths", nargs="*", metavar="PATH", help="records to replay instead of the bundled ones")
    demo_parser.add_argument(
        "--top", type=int, default=3, help="with --classify-only: how many of the most severe findings to show in full"
    )
    demo_parser.set_defaults(handler=command_demo)

    audit_parser = commands.add_parser(
        "audit",
        help="check that security-group changes are monitored: CloudTrail, AWS Config and sgwatch, per region",
        description="For each region: a trail that covers it is logging management write events; AWS Config records"
        " AWS::EC2::SecurityGroup and has a delivery channel; sgwatch's rule is deployed, enabled and reaches its"
        " function (or forwards to the home bus) and nothing waits in its dead-letter queues; and the account has a multi-region trail. Each check is PASS, FAIL (with the fix) or UNKNOWN"
        " (naming the permission that was denied). Exit status: 0 all pass, 1 any fails, 2 could not run (or only"
        " UNKNOWN).",
    )
    audit_parser.add_argument("--regions", default="all", help="all (enabled regions, the default) or a comma list")
    audit_parser.add_argument("--format", choices=("table", "json"), default="table")
    audit_parser.add_argument(
        "--accounts", default="", help="member accounts to audit (comma list), through --role (organization mode)"
    )
    audit_parser.add_argument("--role", default="sgwatch-audit", help="the role to assume in each member account")
    audit_parser.set_defaults(handler=command_audit)

    history_parser = commands.add_parser(
        "history",
        help="look back at security-group changes with CloudTrail LookupEvents (up to 90 days), classified",
        description="LookupEvents for each monitored event name, every page, regions in parallel, at most 2 requests"
        " per second per region, throttling retried with backoff; every record classified as the Lambda would,"
        " most severe first.",
    )
    history_parser.add_argument("--since", default="7d", help="7d, 12h, 30m or an ISO date (default 7d; at most 90d)")
    history_parser.add_argument("--regions", default="", help="the current region (default), all, or a comma list")
    history_parser.add_argument("--min-severity", default="LOW", help="lowest severity shown (default LOW)")
    history_parser.add_argument("--format", choices=("table", "json"), default="table")
    history_parser.add_argument("--policy", metavar="FILE", help="apply a policy file")
    history_parser.set_defaults(handler=command_history)

    policy_parser = commands.add_parser("policy", help="work with policy files")
    policy_commands = policy_parser.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    check_parser = policy_commands.add_parser(
        "check", help="validate a policy file and explain each entry", description="Exit 0 when valid, 2 when not."
    )
    check_parser.add_argument("file", metavar="FILE")
    check_parser.set_defaults(handler=command_policy_check)
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
