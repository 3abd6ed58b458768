"""Classify one record: its severity, the rule changes it made, and reasons a person understands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sgwatch.core.addresses import IPNetwork, PeerKind
from sgwatch.core.events import EventKind
from sgwatch.core.fields import RecordError
from sgwatch.core.model import Action, Direction, RuleChange, SecurityGroupRecord
from sgwatch.core.parse import monitored_event, normalise
from sgwatch.core.ports import SENSITIVE_PORTS, WEB_PORTS, SensitivePort, sensitive_ports_covered
from sgwatch.core.rules import DENIED_ERROR_CODES, RULE, SeverityRule
from sgwatch.core.severity import Severity

_SHOWN_SERVICES = 3


@dataclass(frozen=True)
class Settings:
    """What classification may be told beyond the record. The defaults trust nothing."""

    sensitive_ports: tuple[SensitivePort, ...] = SENSITIVE_PORTS
    internal_ranges: tuple[IPNetwork, ...] = ()


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Verdict:
    """Why one change (or the record as a whole, when change is None) got its severity."""

    rule: SeverityRule
    reason: str
    change: RuleChange | None = None
    adjusted: Severity | None = None  # set by a policy entry, which the reason then names
    group_id: str = ""  # the one group a record-level verdict is about (an open group attached), when not all of them

    @property
    def severity(self) -> Severity:
        return self.adjusted if self.adjusted is not None else self.rule.severity


@dataclass(frozen=True)
class Classification:
    """The result for one record. `record` is None for other events (severity NONE) and for errors."""

    severity: Severity
    event_id: str = ""
    event_name: str = ""
    event_time: str = ""
    account: str = ""
    region: str = ""
    actor: str = ""
    via: str = ""
    record: SecurityGroupRecord | None = None
    verdicts: tuple[Verdict, ...] = ()
    error: str = ""
    location: str = ""
    other_error_code: str = ""  # the errorCode of a call that is not a security-group change (its record is not kept)

    @property
    def reasons(self) -> list[str]:
        return [verdict.reason for verdict in self.verdicts]

    @property
    def outcome(self) -> str:
        """ "failed" when the call carried an errorCode, whether or not it was a security-group call."""
        if self.record is not None:
            return "failed" if self.record.failed else "succeeded"
        return "failed" if self.other_error_code else "succeeded"

    @property
    def group_ids(self) -> list[str]:
        return list(self.record.group_ids) if self.record else []

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of DESIGN.md; an unreadable record has "error" and no severity."""
        result: dict[str, Any] = {
            "eventID": self.event_id,
            "eventName": self.event_name,
            "eventTime": self.event_time,
            "account": self.account,
            "region": self.region,
            "actor": self.actor,
        }
        if self.error:
            result["error"] = self.error
            result["source"] = self.location
            return result
        result["severity"] = self.severity.name
        result["outcome"] = self.outcome
        result["groupIds"] = self.group_ids
        result["changes"] = [
            {**verdict.change.to_dict(), "severity": verdict.severity.name}
            for verdict in self.verdicts
            if verdict.change is not None
        ]
        result["reasons"] = self.reasons
        if self.record is not None:
            result["via"] = self.via
            if self.record.error_code:
                result["errorCode"] = self.record.error_code
        if self.location:
            result["source"] = self.location
        return result


def _unclassified(record: Any, location: str, account: str, region: str, error: str = "") -> Classification:
    """A record that is not a security-group change, or not readable: its identifying fields, read without raising."""
    fields = {str(key).lower(): value for key, value in record.items()} if isinstance(record, dict) else {}

    def text(name: str) -> str:
        value = fields.get(name.lower())
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""

    return Classification(
        Severity.NONE,
        event_id=text("eventID"),
        event_name=text("eventName"),
        event_time=text("eventTime"),
        account=text("recipientAccountId") or account,
        region=text("awsRegion") or region,
        error=error,
        location=location,
        other_error_code=text("errorCode"),
    )


def classify(
    record: Any,
    *,
    location: str = "",
    account: str = "",
    region: str = "",
    settings: Settings = DEFAULT_SETTINGS,
) -> Classification:
    """Classify one CloudTrail record. Never raises: an unreadable record gives a Classification with `error`.

    `account` and `region` are fallbacks from an envelope (EventBridge) when the record lacks them.
    """
    try:
        event = monitored_event(record)
        if event is None:
            return _unclassified(record, location, account, region)
        parsed = normalise(record, event, account, region, settings.internal_ranges)
    except RecordError as error:
        where = f"{location}: " if location else ""
        return _unclassified(record, location, account, region, error=f"{where}{error}")
    verdicts = tuple(_verdicts(parsed, settings))
    return Classification(
        severity=max(verdict.severity for verdict in verdicts),
        event_id=parsed.event_id,
        event_name=parsed.event.name,
        event_time=parsed.event_time,
        account=parsed.account,
        region=parsed.region,
        actor=parsed.actor.name,
        via=parsed.actor.via,
        record=parsed,
        verdicts=verdicts,
        location=location,
    )


def _group_phrase(record: SecurityGroupRecord, change: RuleChange | None = None) -> str:
    group_id = (change.group_id if change else "") or ", ".join(record.group_ids)
    if group_id and record.group_name:
        return f"{group_id} ({record.group_name})"
    if group_id:
        return group_id
    if record.group_name:
        return f"the group named {record.group_name!r} (its id is not in the record)"
    return "a group the record does not name"


def _by(record: SecurityGroupRecord) -> str:
    via = f" via {record.actor.via}" if record.actor.via else ""
    return f"by {record.actor.name}{via}"


def _services_phrase(change: RuleChange, services: list[SensitivePort]) -> str:
    """ "SSH (22/tcp)" or "all TCP ports, including SSH (22/tcp), Telnet (23/tcp), FTP (20-21/tcp) and 12 more"."""
    shown = ", ".join(service.label for service in services[:_SHOWN_SERVICES])
    more = len(services) - _SHOWN_SERVICES
    if more > 0:
        shown += f" and {more} more sensitive services"
    covers_exactly_one = len(services) == 1 and change.port_range == (services[0].first, services[0].last)
    if covers_exactly_one and change.protocol == services[0].protocol:
        return shown
    return f"{change.ports_label()}, including {shown},"


def _ingress_rule(change: RuleChange, settings: Settings) -> tuple[SeverityRule, list[SensitivePort]]:
    first, last = change.port_range
    services = (
        sensitive_ports_covered(change.protocol, first, last, settings.sensitive_ports) if change.protocol else []
    )
    kind = change.peer.kind
    if kind is PeerKind.WORLD:
        if change.protocol == "all":
            return RULE["world-all-traffic"], services
        if services:
            return RULE["world-sensitive-port"], services
        if change.protocol in ("icmp", "icmpv6"):
            return RULE["world-icmp"], services
        if (
            change.protocol in ("tcp", "udp")
            and last - first < len(WEB_PORTS)
            and all(port in WEB_PORTS for port in range(first, last + 1))
        ):
            return RULE["world-web-port"], services
        return RULE["world-other-port"], services
    if kind is PeerKind.BROAD_PUBLIC:
        if services or change.protocol == "all":
            return RULE["broad-public-sensitive-port"], services
        return RULE["broad-public-other-port"], services
    return RULE["ingress-added"], services


def ingress_verdict(change: RuleChange, settings: Settings = DEFAULT_SETTINGS) -> Verdict:
    """How severe an inbound rule is by itself, with the phrase "SSH (22/tcp) opened to the whole internet (...)"."""
    rule, services = _ingress_rule(change, settings)
    return Verdict(rule, _opened_sentence(change, services, rule), change)


def _opened_sentence(change: RuleChange, services: list[SensitivePort], rule: SeverityRule) -> str:
    if rule.name == "world-all-traffic":
        subject = "All traffic (every protocol and port)"
    elif services:
        subject = _services_phrase(change, services)
    else:
        subject = change.ports_label()
        subject = subject[0].upper() + subject[1:]
    return f"{subject} opened to {change.peer.describe()}"


def _change_verdict(record: SecurityGroupRecord, change: RuleChange, settings: Settings) -> Verdict:
    where = _group_phrase(record, change)
    by = _by(record)
    peer = change.peer.describe()
    described = f" (description {change.description!r})" if change.description else ""
    if change.action is Action.REVOKE:
        direction = "Outbound" if change.direction is Direction.EGRESS else "Inbound"
        what = f"rule {change.rule_id}" if change.rule_id else "rule"
        if change.protocol:
            what += f" ({change.ports_label()} with {peer})"
        return Verdict(RULE["rule-revoked"], f"{direction} {what} revoked on {where} {by}", change)
    if change.action is Action.DESCRIBE:
        target = f"rule {change.rule_id}" if change.rule_id else f"{change.ports_label()} with {peer}"
        return Verdict(
            RULE["description-updated"],
            f"Description of {change.direction.value} {target} set to {change.description!r} on {where} {by}",
            change,
        )
    if change.direction is Direction.EGRESS:
        return Verdict(
            RULE["egress-added"],
            f"Outbound {change.ports_label()} to {peer} allowed from {where} {by}{described}",
            change,
        )
    rule, services = _ingress_rule(change, settings)
    sentence = f"{_opened_sentence(change, services, rule)} on {where} {by}{described}"
    if change.action is Action.MODIFY:
        sentence = (
            f"Rule {change.rule_id or '(id not given)'} rewritten: {sentence}; the record does"
            " not say whether the rule is inbound or outbound, so it is rated as inbound, the worst case"
        )
    if record.group_name == "default" and rule.severity < RULE["default-group-ingress"].severity:
        rule = RULE["default-group-ingress"]
        sentence += "; the group is the VPC's default group"
    why = rule.rationale
    if services and rule.severity >= RULE["broad-public-sensitive-port"].severity:
        why = f"{services[0].name} {services[0].reason}"
    return Verdict(rule, f"{sentence}. Why it matters: {why}.", change)


def _record_verdict(record: SecurityGroupRecord) -> Verdict:
    by = _by(record)
    kind = record.event.kind
    if kind is EventKind.GROUP_CREATED:
        vpc = f" in {record.vpc_id}" if record.vpc_id else ""
        name = f" ({record.group_name})" if record.group_name and record.group_ids else ""
        group = ", ".join(record.group_ids) or _group_phrase(record)
        return Verdict(RULE["group-created"], f"Security group {group}{name} created{vpc} {by}")
    if kind is EventKind.GROUP_DELETED:
        return Verdict(RULE["group-deleted"], f"Security group {_group_phrase(record)} deleted {by}")
    target = record.target or "an instance or network interface"
    groups = ", ".join(record.group_ids)
    return Verdict(RULE["attachment-changed"], f"Security groups of {target} replaced with {groups} {by}")


def _verdicts(record: SecurityGroupRecord, settings: Settings) -> list[Verdict]:
    if record.event.kind in (EventKind.GROUP_CREATED, EventKind.GROUP_DELETED, EventKind.ATTACHMENT_CHANGED):
        verdicts = [_record_verdict(record)]
    else:
        verdicts = [_change_verdict(record, change, settings) for change in record.changes]
    if not record.failed:
        return verdicts
    denied = record.error_code in DENIED_ERROR_CODES
    rule = RULE["denied-attempt"] if denied else RULE["failed-call"]
    message = f": {record.error_message[:200]}" if record.error_message else ""
    outcome = (
        f"{record.event.name} {'was denied' if denied else 'failed'} ({record.error_code}{message}); nothing changed"
    )
    return [
        Verdict(
            rule,
            f"{outcome}. Attempted: {verdict.reason.split('. Why it matters')[0]}. Why it matters: {rule.rationale}.",
            verdict.change,
        )
        for verdict in verdicts
    ] or [Verdict(rule, f"{outcome}. Why it matters: {rule.rationale}.")]
