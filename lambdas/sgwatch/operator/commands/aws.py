"""What the commands that call AWS share: `--regions` and `--profile`, and boto3 clients from the standard AWS
environment."""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

from sgwatch.operator.commands.common import require

#: The extra that brings what these commands import.
EXTRA = "aws"


def aws_options(default_regions: str) -> argparse.ArgumentParser:
    """The parent parser of every command that calls AWS. default_regions is "all" or "" (the current region)."""
    default = "all" if default_regions == "all" else "the current region"
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--regions",
        "--region",
        dest="regions",
        default=default_regions,
        help=f"all (the account's enabled regions) or a comma list (default {default})",
    )
    parent.add_argument(
        "--profile",
        help="the named AWS profile to use (default: the environment's, as the AWS CLI chooses it)",
    )
    return parent


class Clients:
    """boto3 clients from the standard AWS environment (profiles, AWS_REGION, AWS_ENDPOINT_URL), one per service and
    region, built once and shared by the worker threads."""

    def __init__(self, session: Any = None, profile: str | None = None) -> None:
        import boto3  # noqa: PLC0415 - the AWS commands' own dependency (the aws extra), not classify's
        from botocore.config import Config  # noqa: PLC0415

        self._session = session or boto3.session.Session(profile_name=profile)
        self._config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
        self._lookup_config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)
        # A scan reads every page of an account: throttling is waited out, paced by botocore's adaptive mode.
        self._scan_config = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=5, read_timeout=60)
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], object] = {}
        # AWS_REGION is what the AWS CLI and SDKs v2 read; boto3 reads AWS_DEFAULT_REGION: honour both.
        self.default_region = self._session.region_name or os.environ.get("AWS_REGION") or "us-east-1"

    def in_account(self, account: str, role: str) -> Clients:
        """Clients in a member account, through its audit role (credentials from sts:AssumeRole)."""
        import boto3  # noqa: PLC0415

        from sgwatch.runtime.aws import assumed_role_keys  # noqa: PLC0415

        sts = self("sts", self.default_region)
        identity = sts.get_caller_identity()  # type: ignore[attr-defined]
        partition = identity["Arn"].split(":")[1]
        keys = assumed_role_keys(sts, f"arn:{partition}:iam::{account}:role/{role}", "sgwatch-audit")
        return Clients(boto3.session.Session(region_name=self.default_region, **keys))

    def __call__(self, service: str, region: str) -> object:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                # LookupEvents retries are sgwatch's own: they must wait for the rate limiter.
                config = {"cloudtrail-lookup": self._lookup_config, "ec2-scan": self._scan_config}.get(
                    service, self._config
                )
                name = {"cloudtrail-lookup": "cloudtrail", "ec2-scan": "ec2"}.get(service, service)
                self._clients[key] = self._session.client(name, region_name=region, config=config)
            return self._clients[key]


def require_sdk(command: str) -> None:
    """MissingDependency, saying what to install, when the AWS SDK is not."""
    require(command, EXTRA, "boto3", "botocore")


def clients_for(args: argparse.Namespace) -> Clients:
    """The clients the command's options ask for (--profile)."""
    return Clients(profile=args.profile)


def regions(text: str, clients: Clients, default_all: bool) -> list[str]:
    """--regions read: "all" (the enabled regions), a comma list, or empty (default_all, else the current region)."""
    from sgwatch.operator.audit import enabled_regions  # noqa: PLC0415

    if text == "all" or (not text and default_all):
        return enabled_regions(clients, clients.default_region)
    return [region.strip() for region in (text or clients.default_region).split(",") if region.strip()]
