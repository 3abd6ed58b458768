"""A judged record as an OCSF Detection Finding (class 2004, schema 1.5.0): what a SIEM or Amazon Security Lake
takes in. Pure data, built from the classification; the classification's own JSON form rides along under
`unmapped.sgwatch`, so nothing sgwatch knows is lost in the mapping."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sgwatch import __version__
from sgwatch.core.classify import Classification, reported_severity
from sgwatch.core.parse import parse_time
from sgwatch.core.severity import Severity

if TYPE_CHECKING:  # the function never scans: it must not load the scan's classes at a cold start
    from sgwatch.core.scan import ScanFinding

OCSF_VERSION = "1.5.0"
DETECTION_FINDING = (2004, "Detection Finding")
FINDINGS = (2, "Findings")
CREATE = (1, "Create")  # each finding is new: sgwatch reports a change once
STATUS_NEW = (1, "New")  # the triage state is the team's to set
AWS_ACCOUNT = (10, "AWS Account")
#: sgwatch's scale on OCSF's severity_id: INFO is Informational, the other names are OCSF's own.
SEVERITY_IDS = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
SECURITY_GROUP_TYPE = "AWS::EC2::SecurityGroup"


def _header(severity: Severity, time_ms: int, message: str) -> dict[str, Any]:
    """What every sgwatch Detection Finding opens with: class, activity (Create), severity, status (New), time."""
    severity_id, severity_name = SEVERITY_IDS.get(severity, (0, "Unknown"))
    return {
        "activity_id": CREATE[0],
        "activity_name": CREATE[1],
        "category_uid": FINDINGS[0],
        "category_name": FINDINGS[1],
        "class_uid": DETECTION_FINDING[0],
        "class_name": DETECTION_FINDING[1],
        "type_uid": DETECTION_FINDING[0] * 100 + CREATE[0],
        "type_name": f"{DETECTION_FINDING[1]}: {CREATE[1]}",
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": STATUS_NEW[0],
        "status": STATUS_NEW[1],
        "time": time_ms,
        "message": message,
    }


def _metadata(uid: str, event_code: str) -> dict[str, Any]:
    return {
        "version": OCSF_VERSION,
        "product": {"name": "sgwatch", "vendor_name": "sgwatch", "version": __version__},
        "uid": uid,
        "event_code": event_code,
        "profiles": ["cloud"],
    }


def _cloud(region: str, account: str) -> dict[str, Any]:
    """Where the finding is: AWS, its region and its account, each when known."""
    cloud: dict[str, Any] = {"provider": "AWS", **({"region": region} if region else {})}
    if account:
        cloud["account"] = {"uid": account, "name": account, "type_id": AWS_ACCOUNT[0], "type": AWS_ACCOUNT[1]}
    return cloud


def detection_finding(result: Classification, *, now: datetime | None = None, unmapped: bool = True) -> dict[str, Any]:
    """The OCSF Detection Finding of one judged record (a security-group change, a tamper call, or a record that
    could not be read). Its time is the event's; `now` when the record gives none that can be read. `unmapped`: carry
    the classification's JSON form under unmapped.sgwatch (not where the finding sits beside it already)."""
    severity = reported_severity(result)
    moment = parse_time(result.event_time) or now
    verdicts = sorted(result.verdicts, key=lambda verdict: verdict.severity, reverse=True)
    rules = list(dict.fromkeys(verdict.rule.id for verdict in verdicts))
    if result.error:
        title, desc = f"unreadable record {result.event_name}".strip(), result.error
    else:
        title = verdicts[0].summary if verdicts and verdicts[0].summary else result.event_name
        desc = "\n".join(result.reasons)
    finding: dict[str, Any] = {
        **_header(severity, int(moment.timestamp() * 1000) if moment else 0, title),
        "metadata": _metadata(result.event_id, result.event_name),
        "finding_info": {
            "uid": f"sgwatch:{result.event_id}" if result.event_id else f"sgwatch:{result.location}",
            "title": title,
            "desc": desc,
            "types": rules or (["unreadable-record"] if result.error else []),
            "data_sources": ["AWS CloudTrail"],
        },
        "cloud": _cloud(result.region, result.account),
        "api": {"operation": result.event_name or "unknown"},
        "resources": [
            {"uid": group_id, "type": SECURITY_GROUP_TYPE, **({"region": result.region} if result.region else {})}
            for group_id in result.group_ids
        ],
    }
    if unmapped:
        finding["unmapped"] = {"sgwatch": result.to_dict()}
    advice = [verdict.advice for verdict in verdicts if verdict.advice]
    if advice:
        finding["remediation"] = {"desc": advice[0]}
    return finding


def scan_detection_finding(found: ScanFinding, *, now: datetime) -> dict[str, Any]:
    """A rule that `sgwatch scan` judged, as an OCSF Detection Finding of the moment it was read: its uid names the
    rule, so the same rule found by the next scan is the same finding."""
    verdict = found.verdict
    group, rule = found.group, found.rule
    finding: dict[str, Any] = {
        **_header(found.severity, int(now.timestamp() * 1000), verdict.summary),
        "metadata": _metadata(f"sgwatch-scan:{group.account}:{group.region}:{rule.rule_id}", "scan"),
        "finding_info": {
            "uid": f"sgwatch-scan:{group.account}:{group.region}:{rule.rule_id}",
            "title": verdict.summary,
            "desc": f"{verdict.summary}. Why it matters: {verdict.why}. {found.reach_phrase}.",
            "types": [verdict.rule.id],
            "data_sources": ["Amazon EC2 DescribeSecurityGroupRules"],
        },
        "cloud": _cloud(group.region, group.account),
        "resources": [{"uid": group.group_id, "name": group.name, "type": SECURITY_GROUP_TYPE, "region": group.region}],
        "remediation": {"desc": f"{verdict.rule.advice} To revoke exactly this rule: {found.revoke_command}"},
    }
    return finding
