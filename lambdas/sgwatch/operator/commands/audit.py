"""`sgwatch audit`: are security-group changes monitored (CloudTrail, AWS Config, sgwatch), per region."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TextIO

from sgwatch.core.text import clean
from sgwatch.operator.commands import aws
from sgwatch.operator.commands.common import EXIT_USAGE, JSON, TEXT, Subcommands, output_options, progress


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "audit",
        parents=[output_options(TEXT), aws.aws_options(default_regions="all")],
        help="check that security-group changes are monitored: CloudTrail, AWS Config and sgwatch, per region",
        description="For each region: a trail that covers it is logging management write events; AWS Config records"
        " AWS::EC2::SecurityGroup and has a delivery channel; sgwatch's rule is deployed, enabled and reaches its"
        " function (or forwards to the home bus) and nothing waits in its dead-letter queues; and the account has a"
        " multi-region trail. Each check is PASS, FAIL (with the fix) or UNKNOWN (naming the permission that was"
        " denied). Exit status: 0 all pass, 1 any fails, 2 could not run (or only UNKNOWN).",
    )
    parser.add_argument(
        "--accounts", default="", help="member accounts to audit (comma list), through --role (organization mode)"
    )
    parser.add_argument("--role", default="sgwatch-audit", help="the role to assume in each member account")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sgwatch.operator import audit  # noqa: PLC0415 - loaded by the command that uses it

    aws.require_sdk("audit")
    try:
        clients = aws.clients_for(args)
        regions = aws.regions(args.regions, clients, default_all=True)
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
        checks = audit.run_audit(regions, clients, progress=progress(err, "audit", len(regions)))
    if err.isatty():
        err.write("\n")
    if args.format == JSON:
        out.write(json.dumps([check.to_dict() for check in checks], indent=2) + "\n")
    else:
        out.write(audit.render_table(checks))
    return audit.exit_status(checks)
