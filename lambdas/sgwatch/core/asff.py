"""A judged record as an AWS Security Finding Format (ASFF) finding, for Security Hub's BatchImportFindings under the
account's default product. Pure data. The record's text is untrusted, so each field is made inert and cut to
Security Hub's limit; the Id depends only on the record, so an import sent again updates its finding and never
duplicates it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sgwatch.core.alerts import REGION_NAME, event_url, group_url
from sgwatch.core.classify import Classification, reported_severity
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.parse import parse_time
from sgwatch.core.rules import Family
from sgwatch.core.severity import Severity
from sgwatch.core.text import clean

SCHEMA_VERSION = "2018-10-08"
#: Security Hub's limits (AwsSecurityFinding in the Security Hub API Reference; BatchImportFindings).
MAX_ID, MAX_TITLE, MAX_DESCRIPTION, MAX_RECOMMENDATION = 512, 256, 1024, 512
MAX_RESOURCES, MAX_PRODUCT_FIELDS, MAX_PRODUCT_FIELD_VALUE, MAX_URL = 32, 50, 2048, 2048
MAX_FINDING_BYTES = 240 * 1024
MAX_FINDINGS_PER_REQUEST = 100
SEVERITY_LABELS = {
    Severity.INFO: "INFORMATIONAL",
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}
_REACHABILITY = "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
_PRACTICES = "Software and Configuration Checks/AWS Security Best Practices"
#: The ASFF type of each rule family, and why: Security Hub groups and filters findings by these.
FAMILY_TYPES: dict[Family, tuple[str, str]] = {
    Family.EXPOSURE: (_REACHABILITY, "an inbound rule added: who can now reach what"),
    Family.PREFIX_LIST: (_REACHABILITY, "a prefix list's entries reach every rule that references it"),
    Family.HYGIENE: (_REACHABILITY, "a default group with inbound rules, or an open group put in front of hosts"),
    Family.CHANGE: (_PRACTICES, "a rule revoked, changed or outbound: worth knowing, not an opening"),
    Family.RECORD: (_PRACTICES, "a group created, deleted or attached"),
    Family.OUTCOME: (_PRACTICES, "a call that was denied, failed, or could not be read"),
    Family.TAMPER: ("TTPs/Defense Evasion", "a call that blinds the monitoring (MITRE ATT&CK T1562, impair defenses)"),
    Family.TAMPER_OUTCOME: ("TTPs/Defense Evasion", "an attempt to blind the monitoring that was denied or failed"),
}


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def product_arn(account: str, region: str) -> str:
    """The account's default product: findings an account imports about itself."""
    return f"arn:{partition_of(region)}:securityhub:{region}:{account}:product/{account}/default"


def finding_id(result: Classification) -> str:
    """Stable for a record: its event id (unique per account and region, where the finding lives)."""
    return clean(f"sgwatch/{result.region}/{result.event_id or result.location}", MAX_ID)


def security_hub_finding(
    result: Classification,
    *,
    updated_at: datetime,
    domain: str = "console.aws.amazon.com",
    groups: Mapping[str, GroupFacts] | None = None,
) -> dict[str, Any]:
    """The ASFF finding of one judged record; `groups`, what EC2 said of its groups (the function's), fills in their
    details. Needs the record's account and a region name (Security Hub keys the finding to them): raises ValueError
    without them."""
    region, account = result.region, result.account
    if not REGION_NAME.match(region) or not (account.isdigit() and len(account) == 12):
        raise ValueError(f"{result.event_id or result.location}: no account and region to file a finding under")
    severity = reported_severity(result)
    label = SEVERITY_LABELS.get(severity, "INFORMATIONAL")
    verdicts = sorted(result.verdicts, key=lambda verdict: verdict.severity, reverse=True)
    types = list(dict.fromkeys(FAMILY_TYPES[verdict.rule.family][0] for verdict in verdicts)) or [_PRACTICES]
    partition = partition_of(region)
    observed = _iso(result.event_time) or _stamp(updated_at)
    if result.error:
        title, description, generator = f"unreadable record {result.event_name}", result.error, "unreadable-record"
    else:
        title = verdicts[0].summary if verdicts else result.event_name
        description = "\n".join(result.reasons) or title
        generator = verdicts[0].rule.id if verdicts else result.event_name
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(result),
        "ProductArn": product_arn(account, region),
        "ProductName": "sgwatch",
        "CompanyName": "sgwatch",
        "GeneratorId": clean(f"sgwatch/{generator}", MAX_ID),
        "AwsAccountId": account,
        "Region": region,
        "Types": types,
        "FirstObservedAt": observed,
        "CreatedAt": observed,
        "UpdatedAt": _stamp(updated_at),
        "Severity": {"Label": label, "Original": severity.name},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": severity.name}, "Types": types},
        "Title": clean(title, MAX_TITLE),
        "Description": clean(description, MAX_DESCRIPTION),
        "ProductFields": _product_fields(result),
        "Resources": _resources(result, partition, groups or {}),
    }
    advice = next((verdict.advice for verdict in verdicts if verdict.advice), "")
    if advice:
        recommendation: dict[str, str] = {"Text": clean(advice, MAX_RECOMMENDATION)}
        if result.group_ids:
            recommendation["Url"] = group_url(region, result.group_ids[0], domain)[:MAX_URL]
        finding["Remediation"] = {"Recommendation": recommendation}
    if result.event_id:
        finding["SourceUrl"] = event_url(region, result.event_id, domain)[:MAX_URL]
    return finding


def _product_fields(result: Classification) -> dict[str, str]:
    fields = {
        "sgwatch/eventID": result.event_id,
        "sgwatch/eventName": result.event_name,
        "sgwatch/eventTime": result.event_time,
        "sgwatch/actor": result.actor,
        "sgwatch/via": result.via,
        "sgwatch/outcome": "" if result.error else result.outcome,
        "sgwatch/rules": ",".join(dict.fromkeys(verdict.rule.id for verdict in result.verdicts)),
        "sgwatch/loweredBy": ",".join(result.lowered_by),
    }
    return {key: clean(value, MAX_PRODUCT_FIELD_VALUE) for key, value in fields.items() if value}


def _resources(result: Classification, partition: str, groups: Mapping[str, GroupFacts]) -> list[dict[str, Any]]:
    region, account = result.region, result.account
    resources: list[dict[str, Any]] = []
    for group in result.group_ids[:MAX_RESOURCES]:
        resource: dict[str, Any] = {
            "Type": "AwsEc2SecurityGroup",
            "Id": clean(f"arn:{partition}:ec2:{region}:{account}:security-group/{group}", MAX_ID),
            "Partition": partition,
            "Region": region,
        }
        facts = groups.get(group)
        if facts is not None and not facts.error:
            details = {"GroupId": group, "GroupName": facts.name, "VpcId": facts.vpc_id, "OwnerId": account}
            resource["Details"] = {
                "AwsEc2SecurityGroup": {key: clean(value, 256) for key, value in details.items() if value}
            }
            if facts.tags:
                resource["Tags"] = {clean(k, 128): clean(v, 256) for k, v in list(facts.tags.items())[:50] if k}
        resources.append(resource)
    if result.tamper is not None and len(resources) < MAX_RESOURCES:
        touched = result.tamper.to_dict()
        resources.append(
            {
                "Type": "Other",
                "Id": clean(touched["name"] or result.event_name, MAX_ID),
                "Partition": partition,
                "Region": region,
                "Details": {"Other": {"sgwatch/type": clean(str(touched["type"]), 128)}},
            }
        )
    # Security Hub wants at least one resource: a record that names none is about the account
    return resources or [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}", "Partition": partition}]


def _iso(event_time: str) -> str:
    moment = parse_time(event_time)
    return _stamp(moment) if moment is not None else ""


def _stamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Security Hub writes its own times."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
