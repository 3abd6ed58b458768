"""Who made a call and with what tool, read from userIdentity and userAgent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sgwatch.core.fields import Field
from sgwatch.core.model import Actor


@dataclass(frozen=True)
class ClientPattern:
    """A way of calling AWS, recognised from the user agent."""

    name: str
    pattern: re.Pattern[str]  # group "version", when present, is appended to the name


#: First match wins. Kept as data: add a tool here, not a branch in code.
CLIENT_PATTERNS: tuple[ClientPattern, ...] = (
    ClientPattern(
        "console", re.compile(r"^(console\.ec2\.amazonaws\.com|signin\.amazonaws\.com|console\.amazonaws\.com)")
    ),
    ClientPattern("Terraform", re.compile(r"Terraform/(?P<version>[\w.]+)")),
    ClientPattern("Terraform", re.compile(r"terraform-provider-aws/(?P<version>[\w.]+)")),
    ClientPattern("Pulumi", re.compile(r"[Pp]ulumi")),
    ClientPattern("CloudFormation", re.compile(r"cloudformation\.amazonaws\.com")),
    ClientPattern("AWS CDK", re.compile(r"aws-cdk")),
    ClientPattern("AWS CLI", re.compile(r"aws-cli/(?P<version>[\w.]+)")),
    ClientPattern("Stratus Red Team", re.compile(r"stratus-red-team")),
    ClientPattern("boto3", re.compile(r"Boto3/(?P<version>[\w.]+)")),
    ClientPattern("AWS SDK for Go", re.compile(r"aws-sdk-go(?:-v2)?/(?P<version>[\w.]+)")),
    ClientPattern("AWS SDK for JavaScript", re.compile(r"aws-sdk-(?:nodejs|js)/(?P<version>[\w.]+)")),
    ClientPattern("AWS SDK for Java", re.compile(r"aws-sdk-java/(?P<version>[\w.]+)")),
    ClientPattern("AWS internal", re.compile(r"^AWS Internal$")),
)

_MAX_AGENT = 40


def client_name(user_agent: str, from_console: bool = False, invoked_by: str = "") -> str:
    """A short name for the calling tool: "console", "Terraform 1.5.7", or the start of the user agent."""
    for client in CLIENT_PATTERNS:
        match = client.pattern.search(user_agent)
        if match:
            version = match.groupdict().get("version")
            return f"{client.name} {version}" if version else client.name
    if from_console:
        return "console"
    if invoked_by:
        return invoked_by
    agent = user_agent.split(" ", 1)[0]
    return agent if len(agent) <= _MAX_AGENT else agent[: _MAX_AGENT - 3] + "..."


def actor_from(record: Field, fallback_account: str = "") -> Actor:
    """The caller of a record, in the short form a person reads: "assumed-role/Admin/alice"."""
    identity = record.get("userIdentity")
    if identity.value is not None and not isinstance(identity.value, dict):
        identity.get("type")  # raises a RecordError naming userIdentity
    kind = identity.get("type").text("")
    arn = identity.get("arn").text("")
    account = identity.get("accountId").text("") or fallback_account
    invoked_by = identity.get("invokedBy").text("")
    if kind == "Root":
        name = "root"
    elif kind == "AWSService":
        name = invoked_by or "an AWS service"
    elif ":" in arn and "/" in arn:
        # arn:aws:sts::123456789012:assumed-role/Role/session -> assumed-role/Role/session
        name = arn.split(":", 5)[-1]
    else:
        name = identity.get("userName").text("") or identity.get("principalId").text("") or kind or "unknown caller"
    if invoked_by and kind != "AWSService":
        name = f"{name} (through {invoked_by})"
    from_console = record.get("sessionCredentialFromConsole").value in ("true", True)
    user_agent = record.get("userAgent").text("")
    issuer = identity.get("sessionContext")
    issuer_arn = issuer.get("sessionIssuer").get("arn").text("") if isinstance(issuer.value, dict) else ""
    return Actor(
        name=name,
        arn=arn,
        account=account,
        via=client_name(user_agent, from_console, invoked_by),
        source_ip=record.get("sourceIPAddress").text(""),
        user_agent=user_agent,
        issuer_arn=issuer_arn,
    )
