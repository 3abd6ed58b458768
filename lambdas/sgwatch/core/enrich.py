"""What EC2 says about the groups a change touched, and how it raises severity. Pure: facts in, verdicts out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sgwatch.core.addresses import OPENNESS, Peer, PeerKind, classify_cidr, listed, most_open
from sgwatch.core.classify import (
    DEFAULT_SETTINGS,
    Classification,
    Settings,
    change_verdict,
    ingress_verdict,
    prefix_list_phrase,
    referencing_verdict,
)
from sgwatch.core.events import EventKind
from sgwatch.core.fields import Field, RecordError
from sgwatch.core.findings import Verdict, Wording
from sgwatch.core.model import Action, Direction, PrefixListEdit, RuleChange, SecurityGroupRecord
from sgwatch.core.parse import permission_changes
from sgwatch.core.rules import DEFAULT_GROUP_INGRESS, MONITOR_STOPPED, MONITOR_WEAKENED, Context, Family, first_rule
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import Target, TrailFacts, resource_name


@dataclass(frozen=True)
class GroupFacts:
    """A security group as EC2 describes it now. `error` says what could not be learned, and why."""

    group_id: str
    name: str = ""
    vpc_id: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    interface_count: int | None = None  # how many network interfaces use it: the blast radius
    ingress_permissions: tuple[Any, ...] = ()  # IpPermissions as DescribeSecurityGroups returns them
    egress_rule_ids: frozenset[str] = frozenset()  # to tell the direction of a rule that a record names only by id
    error: str = ""

    @property
    def is_default(self) -> bool:
        return self.name == "default"

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"groupId": self.group_id, "error": self.error}
        return {
            "groupId": self.group_id,
            "name": self.name,
            "vpcId": self.vpc_id,
            "isDefault": self.is_default,
            "tags": self.tags,
            "networkInterfaces": self.interface_count,
        }


def worst_exposure(facts: GroupFacts, settings: Settings = DEFAULT_SETTINGS) -> Verdict | None:
    """The most severe thing the group's current inbound rules allow from the internet, if anything."""
    worst: Verdict | None = None
    for index, permission in enumerate(facts.ingress_permissions):
        try:
            changes = list(
                permission_changes(Field(permission, f"IpPermissions[{index}]"), Action.ADD, Direction.INGRESS)
            )
        except RecordError:
            continue  # a rule sgwatch cannot read adds nothing here; the change itself was classified already
        for change in changes:
            verdict = ingress_verdict(change, settings)
            if change.peer.is_cidr and (worst is None or verdict.severity > worst.severity):
                worst = verdict
    return worst


def apply_facts(
    result: Classification, facts: dict[str, GroupFacts], settings: Settings = DEFAULT_SETTINGS
) -> Classification:
    """The classification, with severity raised where EC2's facts show more risk than the record alone."""
    record = result.record
    if record is None or record.failed:
        return result
    extra: list[Verdict] = []
    verdicts = list(result.verdicts)
    if record.event.kind is EventKind.RULES_MODIFIED:
        # The record does not say whether a rewritten rule is inbound or outbound; EC2 does.
        for index, verdict in enumerate(verdicts):
            change = verdict.change
            group = facts.get(change.group_id) if change else None
            if change and group and change.rule_id and change.rule_id in group.egress_rule_ids:
                outbound = replace(change, direction=Direction.EGRESS)
                rule = first_rule(Family.CHANGE, Context(record=record, change=outbound))
                if rule is not None:
                    summary = (
                        f"Rule {change.rule_id} rewritten: outbound {change.ports_label()} to"
                        f" {change.peer.describe()} allowed from {change.group_id} (EC2 says the rule is outbound)"
                    )
                    verdicts[index] = Verdict(rule, summary, rule.rationale, outbound, wording=Wording.SUMMARY_ONLY)
    if record.event.kind in (EventKind.RULES_ADDED, EventKind.RULES_MODIFIED):
        for change in (verdict.change for verdict in verdicts if verdict.change is not None):
            group = facts.get(change.group_id) or (facts.get(record.group_ids[0]) if record.group_ids else None)
            # A default group the record named is judged by classification already; EC2 tells of the others.
            learned_default = group is not None and group.is_default and record.group_name != "default"
            hygiene = first_rule(
                Family.HYGIENE, Context(record=record, change=change, group_is_default=learned_default)
            )
            if hygiene is DEFAULT_GROUP_INGRESS and group is not None:
                summary = f"{group.group_id} is the default security group of {group.vpc_id or 'its VPC'}"
                extra.append(Verdict(hygiene, summary, hygiene.rationale, change, wording=Wording.APPENDED))
    if record.event.kind is EventKind.ATTACHMENT_CHANGED:
        for group_id in record.group_ids:
            group = facts.get(group_id)
            exposure = worst_exposure(group, settings) if group else None
            if exposure is None:
                continue
            hygiene = first_rule(Family.HYGIENE, Context(record=record, attached_exposure=exposure.severity))
            if hygiene is not None:
                summary = f"{group_id}, which has {exposure.summary}, now guards {record.target or 'the resource'}"
                extra.append(Verdict(hygiene, summary, hygiene.rationale, group_id=group_id))
    if not extra and verdicts == list(result.verdicts):
        return result
    return replace(result, verdicts=(*verdicts, *extra))


#: AWS-managed prefix lists whose addresses anyone can send from: said in the reason, not rated as the world.
PUBLIC_BY_DESIGN = {
    "com.amazonaws.global.cloudfront.origin-facing": "CloudFront's origin-facing servers: public by design, since"
    " any CloudFront distribution, whoever owns it, sends its requests from them",
}


#: The most referencing rules an edit is rated on, one verdict each: the most severe are kept.
MAX_REFERENCING_RATED = 25


@dataclass(frozen=True)
class ReferencingRule:
    """A security-group rule whose source or destination is a prefix list."""

    group_id: str
    rule_id: str
    egress: bool
    protocol: str  # as protocol_name gives it
    from_port: int | None
    to_port: int | None


@dataclass(frozen=True)
class PrefixListFacts:
    """A managed prefix list as EC2 describes it now: its entries, and the rules that reference it (None when they
    could not be learned). `error` says what could not be learned, and why."""

    list_id: str
    name: str = ""
    owner: str = ""  # "AWS" for the lists AWS manages
    entries: tuple[str, ...] = ()
    references: tuple[ReferencingRule, ...] | None = None
    references_complete: bool = True  # False when EC2 listed more associations than were read
    error: str = ""

    @property
    def aws_managed(self) -> bool:
        return self.owner == "AWS" or self.name.startswith("com.amazonaws.")

    def entry_peers(self, settings: Settings) -> tuple[Peer, ...]:
        peers = []
        for entry in self.entries:
            try:
                peers.append(classify_cidr(entry, settings.internal_ranges))
            except ValueError:
                continue  # EC2 holds only valid ranges; anything else is not an address and opens nothing
        return tuple(peers)


def prefix_list_ids(result: Classification) -> list[str]:
    """The prefix lists whose facts would change the verdicts: an edited list, and the lists that added rules name."""
    record = result.record
    if record is None or record.failed:
        return []
    found = [record.prefix_list.list_id] if record.prefix_list is not None else []
    found += [
        verdict.change.peer.address
        for verdict in result.verdicts
        if verdict.change is not None
        and verdict.change.peer.kind is PeerKind.PREFIX_LIST
        and verdict.change.action in (Action.ADD, Action.MODIFY)
    ]
    return list(dict.fromkeys(list_id for list_id in found if list_id))


def apply_prefix_list_facts(
    result: Classification, lists: Mapping[str, PrefixListFacts], settings: Settings = DEFAULT_SETTINGS
) -> Classification:
    """An edited list rated on every inbound rule that references it, with the range it gained as the rule's source;
    a rule whose source is a customer-managed list rated by the list's entries. Unchanged without the facts."""
    record = result.record
    if record is None or record.failed:
        return result
    if record.prefix_list is not None:
        return _rate_edit(result, record, record.prefix_list, lists.get(record.prefix_list.list_id), settings)
    return _rate_rules_to_lists(result, record, lists, settings)


def _rate_edit(
    result: Classification, record: SecurityGroupRecord, edit: PrefixListEdit, facts: PrefixListFacts | None,
    settings: Settings,
) -> Classification:  # fmt: skip
    """An edited list rated on every inbound rule that references it, with the range it gained as the rule's source."""
    if facts is None or facts.error or facts.references is None:
        return result
    held = facts.entry_peers(settings)
    added = edit.added if not edit.restored else held
    verb = "added to" if not edit.restored else "restored into"
    via = f"{verb} {prefix_list_phrase(edit.list_id, facts.name or edit.name)}"
    peer = most_open(added, via=via)
    if peer is None:
        return result
    entries = tuple({entry.address: entry for entry in (*added, *held)}.values())
    whole = most_open(entries)
    alone = max((OPENNESS.get(entry.kind, 0) for entry in entries), default=0)
    if whole is not None and OPENNESS[whole.kind] > max(OPENNESS[peer.kind], alone):  # completed across edits
        beside = [entry.address for entry in held if entry.address not in {a.address for a in added}]
        peer = replace(peer, kind=whole.kind, together=listed(beside), via=f"{via}, beside the entries it held")
    inbound = [rule for rule in facts.references if not rule.egress]
    if not inbound:
        said = "; no inbound security-group rule references the list now"
        return replace(result, verdicts=tuple(replace(v, summary=v.summary + said) for v in result.verdicts))
    referencing = tuple(
        referencing_verdict(
            record,
            RuleChange(
                Action.ADD, Direction.INGRESS, rule.protocol, rule.from_port, rule.to_port, peer, rule.group_id,
                rule.rule_id,
            ),
            settings,
        )
        for rule in inbound
    )  # fmt: skip
    if len(referencing) > MAX_REFERENCING_RATED:  # the most severe, and how many more: an alert stays readable
        kept = sorted(referencing, key=lambda verdict: verdict.severity, reverse=True)[:MAX_REFERENCING_RATED]
        more = f"; {len(referencing) - len(kept)} more rules reference the list (EC2 lists them all)"
        referencing = (*kept[:-1], replace(kept[-1], summary=kept[-1].summary + more))
    shared = bool(facts.owner and result.account and facts.owner != result.account)
    if not facts.references_complete or shared:  # other rules may reference it: the entries' verdict stays
        unseen = "; other rules may reference the list" + (
            f" (it is owned by account {facts.owner}, whose rules this account cannot see)" if shared else ""
        )
        kept_too = tuple(replace(verdict, summary=verdict.summary + unseen) for verdict in result.verdicts)
        return replace(result, verdicts=(*kept_too, *referencing))
    return replace(result, verdicts=referencing)


def _rate_rules_to_lists(
    result: Classification, record: SecurityGroupRecord, lists: Mapping[str, PrefixListFacts], settings: Settings
) -> Classification:
    """Each added rule whose source is a customer-managed list, rated by the list's entries; AWS's lists named."""
    rated = list(result.verdicts)
    for index, verdict in enumerate(rated):
        change = verdict.change
        if change is None or change.peer.kind is not PeerKind.PREFIX_LIST or change.action is Action.REVOKE:
            continue
        facts = lists.get(change.peer.address)
        if facts is None or facts.error:
            continue
        phrase = prefix_list_phrase(facts.list_id, facts.name)
        if facts.aws_managed:
            known = PUBLIC_BY_DESIGN.get(facts.name, "addresses of an AWS service, not the internet")
            said = f"; {phrase} is managed by AWS: {known}"
            rated[index] = replace(verdict, summary=verdict.summary + said)
            continue
        peer = most_open(facts.entry_peers(settings), via=f"the entries of {phrase}")
        if peer is None:
            said = f"; the {len(facts.entries)} entries of {phrase} are all private or specific ranges"
            rated[index] = replace(verdict, summary=verdict.summary + said)
            continue
        rated[index] = change_verdict(record, replace(change, peer=peer), settings)
    return replace(result, verdicts=tuple(rated)) if rated != list(result.verdicts) else result


def needs_trail_facts(result: Classification) -> bool:
    """A trail stopped, deleted or narrowed: whether another trail still records changes decides how bad it is."""
    tamper = result.tamper
    return (
        tamper is not None
        and not tamper.failed
        and tamper.call.target is Target.TRAIL
        and tamper.blinding is not None
        and tamper.blinding.severity is Severity.CRITICAL
    )


def apply_trail_facts(result: Classification, trails: Sequence[TrailFacts]) -> Classification:
    """A trail's CRITICAL verdict lowered to HIGH when another multi-region trail is logging and records management
    writes from EC2, which the sentence names; never lower than HIGH, and unchanged without such a trail."""
    if not needs_trail_facts(result) or result.tamper is None:
        return result
    named = {result.tamper.resource, resource_name(result.tamper.resource)}
    others = [
        trail
        for trail in trails
        if trail.multi_region and trail.logging and trail.records_writes and not {trail.name, trail.arn} & named
    ]
    if not others:
        return result
    still = f"trail {others[0].name} (multi-region) still records management write events, so changes are still seen"
    verdicts = tuple(
        Verdict(
            MONITOR_WEAKENED, f"{verdict.summary}; {still}", verdict.why, wording=verdict.wording, undo=verdict.undo
        )
        if verdict.rule is MONITOR_STOPPED
        else verdict
        for verdict in result.verdicts
    )
    return replace(result, verdicts=verdicts)
