"""Alerts: changes grouped by actor and group, rendered as SNS publishes them. Pure: data in, text out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sgwatch import names
from sgwatch.classify import Classification, Verdict
from sgwatch.enrich import GroupFacts
from sgwatch.text import clean
from sgwatch.rules import RULE
from sgwatch.severity import Severity

MAX_SUBJECT = 100  # SNS's limit for email subjects
MAX_MESSAGE_BYTES = 240 * 1024  # SNS allows 256 KiB with the attributes; keep headroom for them and the envelope
_JSON_MARKER = "--- JSON ---"


@dataclass(frozen=True)
class Alert:
    """One notification: every change one actor made to one group within a batch, at the highest severity."""

    results: tuple[Classification, ...]
    facts: tuple[GroupFacts, ...] = ()
    raw: Any = None  # the undecodable record, attached to an unreadable-record alert

    @property
    def severity(self) -> Severity:
        if self.is_unreadable:
            return RULE["unreadable-record"].severity
        return max(result.severity for result in self.results)

    @property
    def is_unreadable(self) -> bool:
        return any(result.error for result in self.results)

    @property
    def group_ids(self) -> list[str]:
        return list(dict.fromkeys(group for result in self.results for group in result.group_ids))

    @property
    def first(self) -> Classification:
        return self.results[0]

    @property
    def top(self) -> Verdict:
        """The most severe verdict of all the alert's changes: it sets the subject and the advice."""
        return max((verdict for result in self.results for verdict in result.verdicts), key=lambda v: v.severity)


def group_key(result: Classification) -> tuple[str, ...]:
    """Changes with the same key in one batch become one alert."""
    if result.error:
        return ("error", result.location, result.event_id)
    group = result.group_ids[0] if result.group_ids else (result.record.group_name if result.record else "")
    return (result.account, result.region, result.actor, group)


def group_results(results: Iterable[Classification]) -> list[list[Classification]]:
    """Results grouped by group_key, in order of first appearance; a repeated eventID counts once."""
    groups: dict[tuple[str, ...], list[Classification]] = {}
    seen: set[str] = set()
    for result in results:
        if result.event_id and not result.error:
            if result.event_id in seen:
                continue
            seen.add(result.event_id)
        groups.setdefault(group_key(result), []).append(result)
    return list(groups.values())


def _ascii(text: str) -> str:
    return clean(text, 10_000).encode("ascii", "replace").decode("ascii")


def subject(alert: Alert) -> str:
    """One line of plain ASCII, at most 100 characters, starting with the severity."""
    first = alert.first
    if alert.is_unreadable:
        text = f"{alert.severity.name}: unreadable security-group record {first.event_name or ''}".rstrip()
        return _ascii(text)[:MAX_SUBJECT]
    top = alert.top
    where = ", ".join(alert.group_ids) or (first.record.group_name if first.record else "") or "a security group"
    if top.change is not None:
        change = top.change
        preposition = "to" if change.direction.value == "egress" else "from"
        peer = change.peer.address or "a peer not in the record"
        what = f"{change.action.value} {change.ports_label()} {preposition} {peer}"
    else:
        what = first.event_name
    count = sum(max(1, len(result.verdicts)) for result in alert.results)
    more = f" (+{count - 1} more)" if count > 1 else ""
    text = f"{alert.severity.name}: {what} on {where}{more}"
    text = _ascii(text)
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def _console_links(alert: Alert, domain: str) -> list[str]:
    first = alert.first
    region = first.region or "us-east-1"
    base = f"https://{region}.{domain}"
    links = [f"{base}/ec2/home?region={region}#SecurityGroup:groupId={group}" for group in alert.group_ids[:5]]
    links += [
        f"{base}/cloudtrailv2/home?region={region}#/events/{result.event_id}"
        for result in alert.results[:5]
        if result.event_id
    ]
    return [_ascii(link) for link in links]


def _facts_lines(facts: Sequence[GroupFacts]) -> list[str]:
    lines = []
    for group in facts:
        if group.error:
            lines.append(
                f"  {group.group_id}: not described ({clean(group.error, 200)}); severity is from the record alone"
            )
            continue
        tags = ", ".join(f"{clean(key, 60)}={clean(value, 60)}" for key, value in list(group.tags.items())[:8])
        used = "unknown" if group.interface_count is None else str(group.interface_count)
        lines.append(
            f"  {group.group_id}: name {clean(group.name, 100)!r}, {group.vpc_id or 'no VPC'}"
            f"{', the VPC default group' if group.is_default else ''}, used by {used} network interfaces"
            f"{', tags ' + tags if tags else ''}"
        )
    return lines


def message(alert: Alert, *, published_at: datetime | None = None, domain: str = "console.aws.amazon.com") -> str:
    """The human summary (who, what, where, why, what to do, links), then the full JSON result."""
    first = alert.first
    lines = [subject(alert), ""]
    if alert.is_unreadable:
        lines += [
            f"sgwatch could not read a security-group record: {clean(first.error, 1000)}",
            f"Why it matters: {RULE['unreadable-record'].rationale}.",
            f"What to do: {RULE['unreadable-record'].advice}",
        ]
    else:
        record = first.record
        who = f"{clean(first.actor, 300)} via {clean(first.via or 'an unknown client', 100)}"
        if record is not None and record.actor.source_ip:
            who += f" from {clean(record.actor.source_ip, 100)}"
        events = ", ".join(dict.fromkeys(result.event_name for result in alert.results))
        lines += [
            f"Who:   {who}",
            f"What:  {events} ({len(alert.results)} record{'s' if len(alert.results) > 1 else ''})",
            f"Where: account {first.account or 'unknown'}, region {first.region or 'unknown'},"
            f" {', '.join(alert.group_ids) or 'group not named in the record'}",
            f"When:  {first.event_time or 'unknown'}",
            "",
            "Why it matters:",
        ]
        seen: set[str] = set()
        for result in alert.results:
            for verdict in result.verdicts:
                if verdict.reason not in seen:
                    seen.add(verdict.reason)
                    lines.append(f"  [{verdict.severity.name}] {clean(verdict.reason, 1500)}")
        lines += ["", f"What to do: {alert.top.rule.advice}"]
    if alert.facts:
        lines += ["", "Groups now:", *_facts_lines(alert.facts)]
    lines += ["", "Links:", *(f"  {link}" for link in _console_links(alert, domain))]
    body = "\n".join(lines)
    return _fit(body, _payload(alert, published_at))


def _payload(alert: Alert, published_at: datetime | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "severity": alert.severity.name,
        "groupIds": alert.group_ids,
        "results": [result.to_dict() for result in alert.results],
        "groups": [group.to_dict() for group in alert.facts],
    }
    if published_at is not None:
        payload["publishedAt"] = published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if alert.raw is not None:
        payload["rawRecord"] = alert.raw
    return payload


def _fit(body: str, payload: dict[str, Any]) -> str:
    """Body and JSON within SNS's size limit: the JSON loses its raw record, then results, and says so."""
    text = f"{body}\n\n{_JSON_MARKER}\n{json.dumps(payload, ensure_ascii=True, default=str)}"
    if len(text.encode()) <= MAX_MESSAGE_BYTES:
        return text
    payload = {**payload, "truncated": True}
    payload.pop("rawRecord", None)
    results = payload["results"]
    while True:
        text = (
            f"{body[: MAX_MESSAGE_BYTES // 2]}\n\n{_JSON_MARKER}\n{json.dumps(payload, ensure_ascii=True, default=str)}"
        )
        if len(text.encode()) <= MAX_MESSAGE_BYTES or not results:
            return text[:MAX_MESSAGE_BYTES]
        results = results[: len(results) // 2]
        payload["results"] = results


def attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """SNS message attributes: subscribers filter on severity_rank, event_name, account, region, group_id."""
    first = alert.first

    def string(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": _ascii(value)[:256] or "unknown"}

    return {
        names.ATTRIBUTE_SEVERITY: string(alert.severity.name),
        names.ATTRIBUTE_SEVERITY_RANK: {"DataType": "Number", "StringValue": str(int(alert.severity))},
        names.ATTRIBUTE_EVENT_NAME: string(first.event_name),
        names.ATTRIBUTE_ACCOUNT: string(first.account),
        names.ATTRIBUTE_REGION: string(first.region),
        names.ATTRIBUTE_GROUP_ID: string(alert.group_ids[0] if alert.group_ids else ""),
    }


@dataclass(frozen=True)
class Publication:
    """An alert as SNS receives it."""

    subject: str
    message: str
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)


def publication(
    alert: Alert, *, published_at: datetime | None = None, domain: str = "console.aws.amazon.com"
) -> Publication:
    return Publication(subject(alert), message(alert, published_at=published_at, domain=domain), attributes(alert))
