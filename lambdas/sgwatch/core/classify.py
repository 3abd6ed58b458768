"""Classify one record: its severity, the rule changes it made, and reasons a person understands."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sgwatch.core.addresses import OPENNESS, IPNetwork, Peer, PeerKind, listed, most_open, union_kind
from sgwatch.core.events import EventKind
from sgwatch.core.fields import RecordError
from sgwatch.core.findings import PolicyAction, Verdict, Wording, most_severe, render_reason
from sgwatch.core.heartbeat import is_heartbeat
from sgwatch.core.model import Action, Direction, RuleChange, SecurityGroupRecord
from sgwatch.core.parse import monitored_event, normalise
from sgwatch.core.ports import SENSITIVE_PORTS, SensitivePort, sensitive_ports_covered
from sgwatch.core.rules import (
    DEFAULT_GROUP_INGRESS,
    DENIED_ATTEMPT,
    DESCRIPTION_UPDATED,
    GROUP_CREATED,
    GROUP_DELETED,
    INGRESS_ADDED,
    PREFIX_LIST_NOTHING_ADDED,
    PREFIX_LIST_RESTORED,
    RULE_REVOKED,
    TAMPER_DENIED,
    UNREADABLE_RECORD,
    WORLD_ALL_TRAFFIC,
    Context,
    Family,
    Rule,
    first_rule,
)
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import (
    GUESSED_BY_NAME,
    Blinding,
    Ownership,
    OwnResources,
    TamperRecord,
    normalise_tamper,
    watched_call,
)

_SHOWN_SERVICES = 3
_SHOWN_GROUPS = 16  # EC2 allows at most 16 groups on one interface: more come only from a made-up record


@dataclass(frozen=True)
class Settings:
    """What classification may be told beyond the record. The defaults trust nothing."""

    sensitive_ports: tuple[SensitivePort, ...] = SENSITIVE_PORTS
    internal_ranges: tuple[IPNetwork, ...] = ()
    own: OwnResources = GUESSED_BY_NAME  # what is sgwatch's: guessed from the name "sgwatch" unless told exactly


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Classification:
    """The result for one record: `record` for a security-group change, `tamper` for a call that can blind the
    monitor; neither for other events (severity NONE) and for errors."""

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
    tamper: TamperRecord | None = None
    heartbeat: bool = False  # the canary's own call (sgwatch.core.heartbeat): counted, never alerted

    @property
    def watched(self) -> bool:
        """Whether the record is one sgwatch judges: a security-group change or a tamper call, not a heartbeat."""
        return (self.record is not None or self.tamper is not None) and not self.heartbeat

    @property
    def severity(self) -> Severity:
        """The most severe verdict's; NONE for other events and errors."""
        return most_severe(self.verdicts)

    @property
    def reasons(self) -> list[str]:
        return [render_reason(verdict) for verdict in self.verdicts]

    @property
    def lowered_by(self) -> list[str]:
        """The policy entries that lowered a verdict or whose approval has expired, each once, in order: a field
        the function's log can be queried on without reading the verdicts one by one."""
        entries = (
            lowering.entry
            for verdict in self.verdicts
            for lowering in verdict.lowered_by
            if lowering.lowered or lowering.action is PolicyAction.APPROVAL_EXPIRED
        )
        return list(dict.fromkeys(entries))

    @property
    def outcome(self) -> str:
        """ "failed" when the call carried an errorCode, whether or not it was a security-group call."""
        if self.record is not None:
            return "failed" if self.record.failed else "succeeded"
        if self.tamper is not None:
            return "failed" if self.tamper.failed else "succeeded"
        return "failed" if self.other_error_code else "succeeded"

    @property
    def group_ids(self) -> list[str]:
        """The groups the record names, then those a verdict found (the rules that reference an edited prefix list)."""
        if self.record is None:
            return []
        found = (verdict.change.group_id for verdict in self.verdicts if verdict.change is not None)
        return list(dict.fromkeys(group for group in (*self.record.group_ids, *found) if group))

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
        result["loweredBy"] = self.lowered_by  # early: Logs Insights reads the first 200 fields of an event
        result["outcome"] = self.outcome
        result["groupIds"] = self.group_ids
        result["changes"] = [
            {**verdict.change.to_dict(), "severity": verdict.severity.name}
            for verdict in self.verdicts
            if verdict.change is not None
        ]
        result["reasons"] = self.reasons
        result["findings"] = self._findings()
        if self.record is not None:
            result["via"] = self.via
            if self.record.prefix_list is not None:
                result["prefixList"] = self.record.prefix_list.to_dict()
            if self.record.error_code:
                result["errorCode"] = self.record.error_code
        if self.tamper is not None:
            result["via"] = self.via
            result["resource"] = self.tamper.to_dict()
            if self.tamper.error_code:
                result["errorCode"] = self.tamper.error_code
        if self.location:
            result["source"] = self.location
        return result

    def _findings(self) -> list[dict[str, Any]]:
        """Each verdict as data; "change" is its index in "changes", which it does not repeat."""
        findings = []
        changes = 0
        for verdict in self.verdicts:
            change = verdict.change
            findings.append(
                {
                    "rule": verdict.rule.id,
                    "severity": verdict.severity.name,
                    "summary": verdict.summary,
                    "why": verdict.why,
                    "advice": verdict.advice,
                    **({"undo": verdict.undo} if verdict.undo else {}),
                    "groupId": verdict.group_id or (change.group_id if change else ""),
                    "change": changes if change is not None else None,
                    "loweredBy": [lowering.to_dict() for lowering in verdict.lowered_by],
                }
            )
            changes += change is not None
        return findings


def reported_severity(result: Classification) -> Severity:
    """A record's severity as it is alerted: an unreadable record's is the unreadable-record rule's (it may hide
    anything), not NONE."""
    return UNREADABLE_RECORD.severity if result.error else result.severity


def _unclassified(record: Any, location: str, account: str, region: str, error: str = "") -> Classification:
    """A record that is not a security-group change, or not readable: its identifying fields, read without raising."""
    fields = {str(key).lower(): value for key, value in record.items()} if isinstance(record, dict) else {}

    def text(name: str) -> str:
        value = fields.get(name.lower())
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""

    return Classification(
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
            call = watched_call(record)
            if call is None:
                return _unclassified(record, location, account, region)
            tamper = normalise_tamper(record, call, settings.own, account, region)
            if tamper.ownership is Ownership.OTHER:  # another team's rule, function, key or topic
                return _unclassified(record, location, account, region)
            return Classification(
                event_id=tamper.event_id,
                event_name=str(record.get("eventName", "")),
                event_time=tamper.event_time,
                account=tamper.account,
                region=tamper.region,
                actor=tamper.actor.name,
                via=tamper.actor.via,
                verdicts=(_tamper_verdict(tamper),),
                location=location,
                tamper=tamper,
            )
        parsed = normalise(record, event, account, region, settings.internal_ranges)
    except RecordError as error:
        where = f"{location}: " if location else ""
        return _unclassified(record, location, account, region, error=f"{where}{error}")
    heartbeat = is_heartbeat(parsed, settings.own.stack_name)
    verdicts = () if heartbeat else tuple(_verdicts(parsed, settings))
    return Classification(
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
        heartbeat=heartbeat,
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


def _by_own_function(record: SecurityGroupRecord, settings: Settings) -> bool:
    """Whether the call was made by sgwatch's own function: its session, as Lambda names it, is the function's name,
    one of the stack's names the function knows exactly (never a guess by name)."""
    name = record.actor.name
    session = name.rsplit("/", 1)[-1] if name.startswith("assumed-role/") else ""
    return bool(session) and settings.own.owns(session) is Ownership.OWN


def _services_phrase(change: RuleChange, services: tuple[SensitivePort, ...]) -> str:
    """ "SSH (22/tcp)" or "all TCP ports, including SSH (22/tcp), Telnet (23/tcp), FTP (20-21/tcp) and 12 more"."""
    shown = ", ".join(service.label for service in services[:_SHOWN_SERVICES])
    more = len(services) - _SHOWN_SERVICES
    if more > 0:
        shown += f" and {more} more sensitive services"
    covers_exactly_one = len(services) == 1 and change.port_range == (services[0].first, services[0].last)
    if covers_exactly_one and change.protocol == services[0].protocol:
        return shown
    return f"{change.ports_label()}, including {shown},"


def _exposure(change: RuleChange, settings: Settings) -> tuple[Rule, tuple[SensitivePort, ...]]:
    """The exposure rule of an inbound addition, and the sensitive services its ports cover."""
    first, last = change.port_range
    services = (
        tuple(sensitive_ports_covered(change.protocol, first, last, settings.sensitive_ports))
        if change.protocol
        else ()
    )
    rule = first_rule(Family.EXPOSURE, Context(change=change, services=services))
    return rule or INGRESS_ADDED, services  # the last exposure rule applies to every change: never None


def ingress_verdict(change: RuleChange, settings: Settings = DEFAULT_SETTINGS) -> Verdict:
    """How severe an inbound rule is by itself, with the phrase "SSH (22/tcp) opened to the whole internet (...)"."""
    rule, services = _exposure(change, settings)
    return Verdict(rule, _opened_sentence(change, services, rule), rule.rationale, change, wording=Wording.SUMMARY_ONLY)


def _opened_sentence(change: RuleChange, services: tuple[SensitivePort, ...], rule: Rule) -> str:
    if rule is WORLD_ALL_TRAFFIC:
        subject = "All traffic (every protocol and port)"
    elif services:
        subject = _services_phrase(change, services)
    else:
        subject = change.ports_label()
        subject = subject[0].upper() + subject[1:]
    return f"{subject} opened to {change.peer.describe()}"


def change_verdict(record: SecurityGroupRecord, change: RuleChange, settings: Settings = DEFAULT_SETTINGS) -> Verdict:
    """The verdict of one rule change of a record, with its sentence."""
    where = _group_phrase(record, change)
    by = _by(record)
    peer = change.peer.describe()
    described = f" (description {change.description!r})" if change.description else ""
    rule = first_rule(Family.CHANGE, Context(record=record, change=change))
    if rule is RULE_REVOKED:
        direction = "Outbound" if change.direction is Direction.EGRESS else "Inbound"
        what = f"rule {change.rule_id}" if change.rule_id else "rule"
        if change.protocol:
            what += f" ({change.ports_label()} with {peer})"
        summary = f"{direction} {what} revoked on {where} {by}"
        if _by_own_function(record, settings):  # opt-in remediation: a revocation of sgwatch's own, said
            summary += ", sgwatch's own remediation"
    elif rule is DESCRIPTION_UPDATED:
        target = f"rule {change.rule_id}" if change.rule_id else f"{change.ports_label()} with {peer}"
        summary = f"Description of {change.direction.value} {target} set to {change.description!r} on {where} {by}"
    elif rule is not None:  # outbound access added
        summary = f"Outbound {change.ports_label()} to {peer} allowed from {where} {by}{described}"
    else:
        return _exposure_verdict(record, change, settings, where, f" {by}{described}")
    return Verdict(rule, summary, rule.rationale, change, wording=Wording.SUMMARY_ONLY)


def _exposure_verdict(
    record: SecurityGroupRecord, change: RuleChange, settings: Settings, where: str, by: str
) -> Verdict:
    rule, services = _exposure(change, settings)
    summary = f"{_opened_sentence(change, services, rule)} on {where}{by}"
    if change.action is Action.MODIFY:
        summary = (
            f"Rule {change.rule_id or '(id not given)'} rewritten: {summary}; the record does"
            " not say whether the rule is inbound or outbound, so it is rated as inbound, the worst case"
        )
    context = Context(record=record, change=change, group_is_default=record.group_name == "default")
    hygiene = first_rule(Family.HYGIENE, context)
    if hygiene is DEFAULT_GROUP_INGRESS and hygiene.severity > rule.severity:
        rule = hygiene
        summary += "; the group is the VPC's default group"
    return Verdict(rule, summary, _exposure_why(rule, services), change)


def _exposure_why(rule: Rule, services: tuple[SensitivePort, ...]) -> str:
    """Why an exposure matters: the service's own reason says more than the rule's, once the exposure is serious."""
    if services and rule.severity >= Severity.HIGH:
        return f"{services[0].name} {services[0].reason}"
    return rule.rationale


#: What the calls that put groups in front of a new or moved resource did, for their sentence.
_PLACED = {
    "RunInstances": "Instances {target} launched behind {groups}",
    "CreateNetworkInterface": "Network interface {target} created behind {groups}",
    "CreateLaunchTemplate": "Launch template {target} created: instances launched from it will be behind {groups}",
    "CreateLaunchTemplateVersion": "New version of launch template {target}: instances launched from it will be"
    " behind {groups}",
    "CreateVpcEndpoint": "VPC endpoint {target} created behind {groups}",
    "ModifyVpcEndpoint": "{groups} put in front of VPC endpoint {target}",
    "AssociateSecurityGroupVpc": "{groups} associated with {target}, whose resources it can now guard",
}


def _record_verdict(record: SecurityGroupRecord, rule: Rule) -> Verdict:
    by = _by(record)
    if rule is GROUP_CREATED:
        vpc = f" in {record.vpc_id}" if record.vpc_id else ""
        name = f" ({record.group_name})" if record.group_name and record.group_ids else ""
        group = ", ".join(record.group_ids) or _group_phrase(record)
        summary = f"Security group {group}{name} created{vpc} {by}"
    elif rule is GROUP_DELETED:
        summary = f"Security group {_group_phrase(record)} deleted {by}"
    else:
        groups = listed(list(record.group_ids), limit=_SHOWN_GROUPS)
        placed = _PLACED.get(record.event.name)
        if placed is not None:
            target = record.target or "(ids not in the record)"
            summary = f"{placed.format(target=target, groups=groups)} {by}"
            if summary.startswith("Instances ") and "," not in target:
                summary = summary.replace("Instances ", "Instance ", 1)
        else:
            target = record.target or "an instance or network interface"
            summary = f"Security groups of {target} replaced with {groups} {by}"
    return Verdict(rule, summary, rule.rationale, wording=Wording.SUMMARY_ONLY)


def judged_together(changes: tuple[RuleChange, ...]) -> tuple[RuleChange, ...]:
    """The changes, each public range judged by the union of the ranges added with it to the same group, direction,
    protocol and ports: the four /2 ranges of IPv4 in one call are the world, not four broad ranges."""
    alike: dict[tuple[object, ...], list[int]] = {}
    for index, change in enumerate(changes):
        if change.peer.kind in OPENNESS and change.action in (Action.ADD, Action.MODIFY):
            version = ipaddress.ip_network(change.peer.address).version
            key = (change.group_id, change.direction, change.protocol, change.port_range, version)
            alike.setdefault(key, []).append(index)
    joined = list(changes)
    for indexes in (indexes for indexes in alike.values() if len(indexes) > 1):
        peers = [changes[index].peer for index in indexes]
        kind = union_kind([ipaddress.ip_network(peer.address) for peer in peers])
        if any(OPENNESS[peer.kind] >= OPENNESS[kind] for peer in peers):
            continue  # one range is as open by itself: its own verdict says so, the others are what they are
        for index, peer in zip(indexes, peers, strict=True):  # each less open than the union: raised to it
            others = listed([other.address for other in peers if other is not peer])
            joined[index] = replace(changes[index], peer=replace(peer, kind=kind, together=others))
    return tuple(joined)


def _addresses(peers: tuple[Peer, ...]) -> str:
    return listed([peer.address for peer in peers])


def prefix_list_phrase(list_id: str, name: str = "") -> str:
    """ "prefix list pl-0abc (office)", or the words for a list whose id the record does not give."""
    named = f" ({name})" if name else ""
    return f"prefix list {list_id}{named}" if list_id else f"a prefix list{named} (its id is not in the record)"


def _prefix_list_verdict(record: SecurityGroupRecord) -> Verdict:
    """A prefix-list edit judged by its entries alone: which rules reference the list, enrichment finds out."""
    edit = record.prefix_list
    assert edit is not None
    entries = most_open(edit.added)
    rule = first_rule(Family.PREFIX_LIST, Context(record=record, entries=entries))
    assert rule is not None  # the last prefix-list rule applies to every prefix-list record
    phrase = prefix_list_phrase(edit.list_id, edit.name)
    subject = phrase[0].upper() + phrase[1:]
    by = _by(record)
    created = record.event.name == "CreateManagedPrefixList"
    if rule is PREFIX_LIST_RESTORED:
        summary = (
            f"{subject} restored to version {edit.restored_version or '(not given)'} {by}"
            " (the record does not list the entries it brought back)"
        )
    elif rule is PREFIX_LIST_NOTHING_ADDED:
        if edit.removed:
            summary = f"{_addresses(edit.removed)} removed from {phrase} {by}"
        elif created:
            summary = f"{subject} created with no entries {by}"
        else:
            summary = f"{subject} changed without new entries (its name or size) {by}"
    else:
        verb = "created with" if created else "gained"
        gained = entries.describe() if entries is not None and entries.kind is not PeerKind.PUBLIC else ""
        summary = f"{subject} {verb} {gained or _addresses(edit.added)} {by}"
        if edit.removed:
            summary += f"; {_addresses(edit.removed)} removed"
    wording = Wording.STATED if rule.severity >= Severity.MEDIUM else Wording.SUMMARY_ONLY
    return Verdict(rule, summary, rule.rationale, wording=wording)


def referencing_verdict(
    record: SecurityGroupRecord, change: RuleChange, settings: Settings = DEFAULT_SETTINGS
) -> Verdict:
    """A prefix-list edit rated on one rule that references the list, as if the rule had been added with the list's
    new range as its source: "SSH (22/tcp) opened to the whole internet (...) on sg-1 through rule sgr-2"."""
    rule, services = _exposure(change, settings)
    through = f" through rule {change.rule_id}" if change.rule_id else ""
    summary = f"{_opened_sentence(change, services, rule)} on {change.group_id}{through} {_by(record)}"
    return Verdict(rule, summary, _exposure_why(rule, services), change)


#: How a range judged with other calls' ranges says so.
ACROSS_CALLS = "added to the same group by other calls of the same batch"


def judged_across(results: Sequence[Classification], settings: Settings = DEFAULT_SETTINGS) -> list[Classification]:
    """The results of one batch, each public range that a rule addition opens judged by the union of the ranges that
    other records of the batch added to the same group, direction, protocol and ports: the internet opened in pieces,
    one call per piece within seconds, is the internet. Within one record, classify has judged them already."""
    revoked: dict[tuple[object, ...], int] = {}  # a range revoked by a later record of the batch is not open
    for index, result in enumerate(results):
        if result.record is not None and not result.record.failed:
            for gone in result.record.changes:
                if gone.action is Action.REVOKE and gone.group_id:
                    revoked[(*_place(result, gone), gone.peer.address)] = index
    alike: dict[tuple[object, ...], list[tuple[int, int, RuleChange]]] = {}
    for index, result in enumerate(results):
        record = result.record
        if record is None or record.failed or result.heartbeat or record.event.kind is not EventKind.RULES_ADDED:
            continue  # a rewrite (ModifySecurityGroupRules) replaces a range: it is not one more piece of a union
        for place, verdict in enumerate(result.verdicts):
            change = verdict.change
            if change is None or change.peer.kind not in OPENNESS or change.action is not Action.ADD:
                continue
            if not change.group_id or revoked.get((*_place(result, change), change.peer.address), -1) > index:
                continue  # a group known only by name could be any group of that name; a revoked range is closed
            version = ipaddress.ip_network(change.peer.address).version
            alike.setdefault((*_place(result, change), version), []).append((index, place, change))
    joined = [list(result.verdicts) for result in results]
    for pieces in alike.values():
        if len({index for index, _, _ in pieces}) < 2:
            continue
        kind = union_kind([ipaddress.ip_network(change.peer.address) for _, _, change in pieces])
        if any(OPENNESS[change.peer.kind] >= OPENNESS[kind] for _, _, change in pieces):
            continue  # one range is as open by itself: its own verdict says so, the others are what they are
        for index, place, change in pieces:  # each less open than the union: raised to it
            record = results[index].record
            assert record is not None  # only records' rule additions are pieces
            others = listed(list(dict.fromkeys(other.peer.address for at, _, other in pieces if at != index)))
            peer = replace(change.peer, kind=kind, together=others, via=ACROSS_CALLS)
            joined[index][place] = change_verdict(record, replace(change, peer=peer), settings)
    return [
        replace(result, verdicts=tuple(verdicts)) if verdicts != list(result.verdicts) else result
        for result, verdicts in zip(results, joined, strict=True)
    ]


def _place(result: Classification, change: RuleChange) -> tuple[object, ...]:
    """Where a range is opened: the account, region, group, direction, protocol and ports."""
    return (result.account, result.region, change.group_id, change.direction, change.protocol, change.port_range)


def _verdicts(record: SecurityGroupRecord, settings: Settings) -> list[Verdict]:
    record_rule = first_rule(Family.RECORD, Context(record=record))
    if record.prefix_list is not None:
        verdicts = [_prefix_list_verdict(record)]
    elif record_rule is not None:
        verdicts = [_record_verdict(record, record_rule)]
    else:
        verdicts = [change_verdict(record, change, settings) for change in judged_together(record.changes)]
    outcome = first_rule(Family.OUTCOME, Context(record=record))
    if outcome is None:
        return verdicts
    message = f": {record.error_message[:200]}" if record.error_message else ""
    went = "was denied" if outcome is DENIED_ATTEMPT else "failed"
    said = f"{record.event.name} {went} ({record.error_code}{message}); nothing changed"
    return [
        Verdict(outcome, f"{said}. Attempted: {verdict.summary}", outcome.rationale, verdict.change)
        for verdict in verdicts
    ] or [Verdict(outcome, said, outcome.rationale)]


#: What the calls that restore the monitor did, for their sentence.
_RESTORED = {
    "StartLogging": "started logging",
    "CreateTrail": "created",
    "StartConfigurationRecorder": "started",
    "EnableRule": "enabled",
}


def _tamper_verdict(tamper: TamperRecord) -> Verdict:
    """The one verdict of a tamper call: what it blinds, said with the resource, the region and who."""
    context = Context(tamper=tamper)
    rule = first_rule(Family.TAMPER, context)
    assert rule is not None  # the last tamper rule applies to every tamper record
    where = f" in {tamper.region}" if tamper.region else ""
    guessed = (
        f" (sgwatch's by a guess: its name starts with {tamper.stack_name!r})"
        if tamper.ownership is Ownership.GUESSED
        else ""
    )
    blinding = tamper.blinding
    by = f"by {tamper.actor.name}{f' via {tamper.actor.via}' if tamper.actor.via else ''}"
    if blinding is Blinding.RESTORED:
        summary = f"{tamper.label}{guessed} {_RESTORED.get(tamper.call.name, 'restored')}{where} {by}"
    elif blinding is None:
        summary = f"{tamper.call.name} on {tamper.label}{guessed}{where} {by} leaves what sgwatch needs in place"
    else:
        summary = f"{tamper.label}{guessed} {blinding.verb}{where} {by}"
        if tamper.assumed_worst:
            summary += " (the worst the call can do: the record does not give its parameters)"
    why = blinding.blinds if blinding is not None and blinding.blinds else rule.rationale
    wording = Wording.STATED if rule.severity >= Severity.HIGH else Wording.SUMMARY_ONLY
    undo = tamper.undo
    outcome = first_rule(Family.TAMPER_OUTCOME, context)
    if outcome is None or blinding is None or blinding.severity < Severity.HIGH:
        return Verdict(rule, summary, why, wording=wording, undo=undo)
    message = f": {tamper.error_message[:200]}" if tamper.error_message else ""
    went = "was denied" if outcome is TAMPER_DENIED else "failed"
    said = f"{tamper.call.name} {went} ({tamper.error_code}{message}); nothing changed. Attempted: {summary}"
    return Verdict(outcome, said, outcome.rationale)
