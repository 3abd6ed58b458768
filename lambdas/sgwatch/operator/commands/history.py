"""`sgwatch history`: security-group changes looked back at with CloudTrail LookupEvents, classified."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from sgwatch.core.classify import DEFAULT_SETTINGS
from sgwatch.core.events import monitored_event_names
from sgwatch.core.policy import apply_policy
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import tamper_event_names
from sgwatch.core.text import clean, json_line
from sgwatch.operator.commands import aws
from sgwatch.operator.commands.common import (
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    JSON,
    TEXT,
    Subcommands,
    load_policy,
    output_options,
    own_resources,
    progress,
    stack_option,
)


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "history",
        parents=[output_options(TEXT), aws.aws_options(default_regions=""), stack_option()],
        help="look back at security-group changes with CloudTrail LookupEvents (up to 90 days), classified",
        description="LookupEvents for each monitored event name, every page, regions in parallel, at most 2 requests"
        " per second per region, throttling retried with backoff; every record classified as the Lambda would,"
        " most severe first.",
    )
    parser.add_argument("--since", default="7d", help="7d, 12h, 30m or an ISO date (default 7d; at most 90d)")
    parser.add_argument("--min-severity", default="LOW", help="lowest severity shown (default LOW)")
    parser.add_argument("--policy", metavar="FILE", help="apply a policy file")
    parser.add_argument(
        "--tamper",
        action="store_true",
        help="also the calls that can blind the monitor (a trail stopped, sgwatch's rule disabled, ...): about four"
        " times the LookupEvents requests",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sgwatch.operator import history  # noqa: PLC0415 - loaded by the command that uses it

    now = datetime.now(UTC)
    try:
        start = history.parse_since(args.since, now)
        minimum = Severity.parse(args.min_severity)
        policy = load_policy(args.policy)
    except ValueError as error:
        err.write(f"sgwatch history: {error}\n")
        return EXIT_USAGE
    aws.require_sdk("history")
    try:
        clients = aws.clients_for(args)
        regions = aws.regions(args.regions, clients, default_all=False)
    except Exception as error:  # no credentials, no network, no such profile: the look-up could not run
        err.write(f"sgwatch history: {clean(str(error), 2000)}\n")
        return EXIT_USAGE
    results, per_region = history.run_history(
        regions,
        lambda region: clients("cloudtrail-lookup", region),
        start,
        now,
        progress=progress(err, "history", len(regions)),
        settings=replace(policy.settings if policy else DEFAULT_SETTINGS, own=own_resources(args)),
        names=[*monitored_event_names(), *(tamper_event_names() if args.tamper else [])],
    )
    if policy is not None:
        results = [apply_policy(result, policy) for result in results]
        results.sort(key=lambda result: (result.severity, result.event_time), reverse=True)
    if err.isatty():
        err.write("\n")
    shown = [r for r in results if r.error or (r.watched and r.severity >= minimum)]
    if args.format == JSON:
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
