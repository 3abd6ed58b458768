"""`sgwatch scan`: what is open right now, judged by the rules that judge changes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any, TextIO

from sgwatch.core.severity import Severity
from sgwatch.core.text import clean, json_line
from sgwatch.operator.commands import aws
from sgwatch.operator.commands.common import (
    EXIT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    JSON,
    OCSF,
    TEXT,
    Subcommands,
    load_policy,
    output_options,
)

#: The lowest severity shown, and what sets the exit status, unless --min-severity says otherwise. LOW would list
#: every rule from a private range or another group, which the rules for changes rate LOW: hundreds in an account.
DEFAULT_MIN_SEVERITY = Severity.MEDIUM


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "scan",
        parents=[output_options(TEXT, (OCSF,)), aws.aws_options(default_regions="all")],
        help="judge every security-group rule that stands now, as if it were being added: what is open, how bad",
        description="Reads every security-group rule (DescribeSecurityGroupRules, every page), the groups and the"
        " network interfaces that use them, and the prefix lists the rules reference, regions and accounts in"
        " parallel, throttling waited out. Each inbound rule is rated as if it were being added now, with the rules,"
        " the ports catalogue and the policy that judge changes (approvals and their expiry, mutes), then by what"
        " uses the group: a group no interface uses is a latent risk, one level lower. A VPC's default group with"
        " inbound rules is flagged (CIS). Most severe first, grouped by group, with the command that revokes each"
        " rule by its id. Exit status: 0 nothing at or above --min-severity, 1 something is, 2 could not run (or a"
        " region or account could not be read and nothing was found).",
    )
    parser.add_argument(
        "--accounts", default="", help="member accounts to scan (comma list), through --role (organization mode)"
    )
    parser.add_argument("--role", default="sgwatch-audit", help="the role to assume in each member account")
    parser.add_argument(
        "--min-severity",
        default=DEFAULT_MIN_SEVERITY.name,
        help=f"lowest severity shown and counted for the exit status (default {DEFAULT_MIN_SEVERITY.name}; LOW adds"
        " every rule from a private range or another group)",
    )
    parser.add_argument("--policy", metavar="FILE", help="apply a policy file (approvals, mutes, ports, ranges)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sgwatch.core.ocsf import scan_detection_finding  # noqa: PLC0415 - loaded by the command that uses it
    from sgwatch.core.scan import totals  # noqa: PLC0415
    from sgwatch.operator import scan  # noqa: PLC0415

    now = datetime.now(UTC)
    try:
        minimum = Severity.parse(args.min_severity)
        policy = load_policy(args.policy)
    except ValueError as error:
        err.write(f"sgwatch scan: {error}\n")
        return EXIT_USAGE
    aws.require_sdk("scan")
    errors: list[str] = []
    try:
        home = aws.clients_for(args)
        regions = aws.regions(args.regions, home, default_all=True)
        targets: list[tuple[str, Any]] = []
        if args.accounts:
            accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
            if not accounts:
                raise ValueError(f"--accounts {args.accounts!r} names no account")
            for account in accounts:
                try:
                    targets.append((account, home.in_account(account, args.role)))
                except Exception as error:  # the role cannot be assumed: that account only
                    errors.append(f"{account}: cannot assume {args.role}: {clean(str(error), 1000)}")
        else:
            identity = home("sts", home.default_region).get_caller_identity()  # type: ignore[attr-defined]
            targets.append((str(identity["Account"]), home))
    except Exception as error:  # no credentials, no network, no such profile: the scan could not run
        err.write(f"sgwatch scan: {clean(str(error), 2000)}\n")
        return EXIT_USAGE
    places = [
        (account, region, lambda clients=clients, region=region: clients("ec2-scan", region))
        for account, clients in targets
        for region in regions
    ]
    done: list[str] = []

    def progress(label: str) -> None:
        done.append(label)
        err.write(f"\rsgwatch scan: {len(done)}/{len(places)} regions read ({label})   ")
        err.flush()

    scanned = scan.run_scan(places, policy, now.date(), progress if err.isatty() else None)
    if err.isatty():
        err.write("\n")
    errors += [place.error for place in scanned if place.error]
    for place in scanned:  # read in part: the findings stand, and what they could not take into account is said
        for problem in place.problems:
            err.write(f"sgwatch scan: {place.label}: {clean(problem, 2000)}\n")
    findings = scan.ranked(scanned, minimum)
    if args.format == JSON:
        for found in findings:
            out.write(json_line(found.to_dict()) + "\n")
    elif args.format == OCSF:
        for found in findings:
            out.write(json_line(scan_detection_finding(found, now=now)) + "\n")
    else:
        judged = [found for place in scanned for found in place.findings]
        out.write(scan.render_table(findings, totals(judged, minimum), minimum))
    for problem in errors:
        err.write(f"sgwatch scan: {clean(problem, 2000)}\n")
    calls = sum(sum(place.calls.values()) for place in scanned)
    err.write(
        f"sgwatch scan: {len(findings)} findings at {minimum.name} and above; {len(places)} regions read"
        f" ({len(errors)} could not be) with {calls} EC2 requests\n"
    )
    if findings:
        return EXIT_FOUND
    return EXIT_USAGE if errors else EXIT_OK
