"""`sgwatch demo`: replay real CloudTrail records through the whole pipeline on the emulated account, and report
what came out: the inbox, the most severe alert as its email reads, the metrics the dashboard will show."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sgwatch.core import names
from sgwatch.core.heartbeat import alarm_period_minutes
from sgwatch.core.severity import Severity
from sgwatch.emulation.account import EMAIL_MIN, DemoResult, run_pipeline
from sgwatch.operator.sources import read_paths

HEARTBEAT_MINUTES = 30  # the stack's default (heartbeatMinutes)


def _results_carry(alert: dict[str, Any], key: str) -> bool:
    """Whether one of an alert's JSON results has `key`: `resource` for a call that can blind the monitor,
    `prefixList` for an edited prefix list."""
    return any(key in result for result in json.loads(alert["Message"]).get("results", []))


def _between_rules(text: str) -> str:
    return "-" * 100 + "\n" + text + "\n" + "-" * 100 + "\n"


def _queued(alert: dict[str, Any], lines: int = 60) -> str:
    """The JSON document a queue subscriber receives (SNS's envelope: its "Message"), indented, its first `lines`."""
    shown = json.dumps(json.loads(alert["Message"]), indent=2).splitlines()
    more = f"\n... ({len(shown) - lines} more lines)" if len(shown) > lines else ""
    return _between_rules("\n".join(shown[:lines]) + more)


def _rank(alert: dict[str, Any]) -> int:
    return int(alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY_RANK]["Value"])


def _by_dimension(result: DemoResult, metric: str, dimension: str) -> Counter[str]:
    """A dimensioned metric's total for each value of its dimension."""
    counts: Counter[str] = Counter()
    for dims, value in result.metrics.get(metric, []):
        counts[dims[dimension]] += int(value)
    return counts


def render(result: DemoResult, out: TextIO) -> None:
    write = out.write
    write("sgwatch demo: the deployed pipeline, in process, on an emulated AWS account (moto); no AWS account needed\n")
    write(f"  {result.setup}\n")
    write(
        "  EventBridge rules (the stack's detection and guard patterns) -> buffer queue -> sgwatch handler in"
        " Lambda-shaped batches\n"
    )
    write(f"  -> SNS topic -> inbox; the email subscription's filter passes {EMAIL_MIN.name} and up\n")
    real = result.replayed - len(result.made)
    write(
        f"  replayed {real} real CloudTrail records (groups mapped onto the demo account's, times set to now)"
        + "".join(f", and {call}" for call in result.made)
        + "\n\n"
    )
    write(f"rule:    {result.delivered} of {result.replayed} records delivered to the buffer\n")
    if result.undelivered_changes:
        write(
            f"         not delivered here: {', '.join(result.undelivered_changes)} (their groups sit inside lists of"
            " objects, where moto cannot match; EventBridge in AWS does)\n"
        )
    write(
        f"handler: {result.batches} batches, {result.failed_messages} failed messages,"
        f" {result.log_lines} JSON log lines (as CloudWatch Logs would receive them)\n\n"
    )
    if result.heartbeat_regions:
        beats = _by_dimension(result, names.METRIC_HEARTBEATS, names.REGION_DIMENSION)
        window = alarm_period_minutes(HEARTBEAT_MINUTES)
        write(f"heartbeat: a canary per watched region every {HEARTBEAT_MINUTES} minutes; its alarm fires when none")
        write(f" arrives within {window} minutes\n")
        for region in result.heartbeat_regions:
            if beats[region]:
                write(f"           {region:<12} {beats[region]} arrived (counted, not alerted): OK\n")
            else:
                write(
                    f"           {region:<12} none arrived: ALARM, 'no sgwatch heartbeat from {region} for {window}"
                    " minutes' (this replay leaves its forwarder out, as if it were broken)\n"
                )
        write("\n")
    write(f"Inbox: {len(result.alerts)} alerts (* = emailed)\n")
    for alert in sorted(result.alerts, key=_rank, reverse=True):
        mark = "*" if alert["MessageId"] in result.emailed else " "
        write(f" {mark} {alert['Subject']}\n")

    def email(alert: dict[str, Any]) -> str:
        """An alert's text as its email reads, between rules."""
        return _between_rules(result.emails[alert["MessageId"]].text)

    if result.alerts:
        # The most severe; among equals, the one that groups the most records shows the most.
        worst = max(result.alerts, key=lambda alert: (_rank(alert), len(json.loads(alert["Message"])["results"])))
        write("\nThe most severe alert, as its email reads:\n")
        write(email(worst))
    for key, heading in (
        ("prefixList", "A prefix list opens a group (the call names no security group; the function finds the rules"
                       " that reference the list):"),
        ("resource", "Someone blinds the monitor (a call that can blind it is alerted like a change):"),
    ):  # fmt: skip
        carrying = [alert for alert in result.alerts if _results_carry(alert, key)]
        if carrying:
            write(f"\n{heading}\n")
            write(email(max(carrying, key=_rank)))
    _render_document(result, write)
    _render_findings(result, write)
    _render_chat(result, write)
    write("\nMetrics (namespace sgwatch), as the dashboard will show them:\n")
    counts = _by_dimension(result, names.METRIC_CHANGES, names.SEVERITY_DIMENSION)
    shown = ", ".join(
        f"{severity.name} {counts[severity.name]}"
        for severity in sorted(Severity, reverse=True)
        if counts[severity.name]
    )
    write(f"  {names.METRIC_CHANGES:<32}{shown}\n")
    for name in names.ALL_METRICS:
        if name in (names.METRIC_CHANGES, names.METRIC_CHANGES_BY_EVENT):
            continue
        values = [value for _, value in result.metrics.get(name, [])]
        if name == names.METRIC_DETECTION_LATENCY and values:
            write(f"  {name:<32}p50 {statistics.median(values):.0f} ms, max {max(values):.0f} ms (in process)\n")
        elif name == names.METRIC_CHANGES_BY_REGION:
            regions = _by_dimension(result, name, names.REGION_DIMENSION)
            write(f"  {name:<32}{', '.join(f'{region} {count}' for region, count in sorted(regions.items()))}\n")
        else:
            write(f"  {name:<32}{sum(values):.0f}\n")


def _render_document(result: DemoResult, write: Callable[[str], object]) -> None:
    """The JSON document a queue subscriber receives for one alert: the shortest of the most severe on a group."""
    if not result.alerts:
        return
    on_groups = [alert for alert in result.alerts if json.loads(alert["Message"])["groupIds"]] or result.alerts
    shown = min(on_groups, key=lambda alert: (-_rank(alert), len(alert["Message"])))
    write(
        "\nWhat a queue, function or HTTPS subscriber receives instead of the text: the alert's JSON document"
        " (schemas/alert.schema.json), each result with its OCSF Detection Finding. For"
        f" '{shown['Subject']}':\n"
    )
    write(_queued(shown))


_LABEL_RANK = {label: rank for rank, label in enumerate(("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"))}


def _render_findings(result: DemoResult, write: Callable[[str], object]) -> None:
    """Security Hub's findings, as its findings list shows them (severity, title, resource)."""
    if not result.findings:
        return
    write(
        f"\nSecurity Hub: {len(result.findings)} findings (changes from MEDIUM up), as its findings list shows them:\n"
    )
    ranked = sorted(result.findings, key=lambda f: _LABEL_RANK.get(f["Severity"]["Label"], 0), reverse=True)
    for finding in ranked:
        resource = finding["Resources"][0]["Id"].rsplit("/", 1)[-1][:22]
        title = finding["Title"] if len(finding["Title"]) <= 90 else finding["Title"][:87] + "..."
        write(f"  {finding['Severity']['Label']:<9} {resource:<22} {title}\n")
    write(f"  (each one's Id is sgwatch/REGION/EVENT_ID, e.g. {ranked[0]['Id']}: a redelivery updates it)\n")


def chat_card(notification: dict[str, Any]) -> str:
    """A chat notification as the channel shows it, in plain text."""
    content = notification["content"]
    lines = [content["title"], *content["description"].splitlines()]
    if content.get("nextSteps"):
        lines += ["Next steps:", *(f"  {step}" for step in content["nextSteps"])]
    if content.get("keywords"):
        lines.append(f"Keywords: {', '.join(content['keywords'])}")
    return "".join(f"  | {line}\n" for line in lines)


def _render_chat(result: DemoResult, write: Callable[[str], object]) -> None:
    if not result.chat:
        return
    worst = max(result.chat, key=lambda card: _LABEL_RANK.get(card["metadata"]["additionalContext"]["severity"], 0))
    write(f"\nChat (Slack or Teams): {len(result.chat)} cards (alerts from HIGH up); the most severe reads:\n")
    write(chat_card(worst))


def main(paths: list[str], out: TextIO, bundled: Path, policy_file: str = "", remediate: bool = False) -> int:
    records = [
        item.record
        for item in read_paths(paths or [str(bundled)], keep_all=True)
        if not item.skipped and isinstance(item.record, dict)
    ]
    result = run_pipeline(records, policy_file, heartbeat=True, prefix_list=True, remediate=remediate)
    if policy_file:
        out.write(f"policy: {policy_file} (lowered changes name the entry that lowered them)\n")
    render(result, out)
    if remediate:
        _render_remediation(result, out.write)
    return 0


def _render_remediation(result: DemoResult, write: Callable[[str], object]) -> None:
    """The change the function remediated, as its email reads, and whether the rule is gone."""
    write(
        "\nRemediation (-c remediate=CRITICAL -c remediateMode=enforce): SSH opened to the world on"
        f" {result.remediated_group} by a real call; the function revoked rule {result.remediated_rule} by its id:\n"
    )
    remediated = [
        alert
        for alert in result.alerts
        if result.remediated_group in json.loads(alert["Message"]).get("groupIds", [])
        and json.loads(alert["Message"]).get("remediation")
    ]
    for alert in remediated:
        write(_between_rules(result.emails[alert["MessageId"]].text))
    state = "still there (NOT revoked)" if result.remediated_rule_left else "gone from the group"
    write(f"  rule {result.remediated_rule} is {state}; the group's other rules are untouched\n")
