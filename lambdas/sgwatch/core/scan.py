"""`sgwatch scan`: the rules that stand now, judged as if each inbound rule were being added now, with the rules, the
ports catalogue and the policy that judge changes, then raised or lowered by what uses the group. Pure: a snapshot of
what EC2 says in, findings out."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum
from functools import partial
from typing import Any

from sgwatch.core.addresses import Peer, PeerKind, classify_cidr, most_open
from sgwatch.core.alerts import (
    _ENVELOPE,
    MAX_MESSAGE_BYTES,
    MAX_SUBJECT,
    SCHEMA_VERSION,
    Publication,
    _ascii,
    _clip,
    _cost,
    _json,
    _size,
    _within,
    message_attributes,
)
from sgwatch.core.classify import DEFAULT_SETTINGS, Settings, ingress_verdict, prefix_list_phrase
from sgwatch.core.enrich import PUBLIC_BY_DESIGN, PrefixListFacts
from sgwatch.core.findings import PolicyAction, Verdict, render_reason
from sgwatch.core.model import Action, Direction, RuleChange, protocol_name
from sgwatch.core.policy import Policy, apply_policy_to_standing
from sgwatch.core.rules import DEFAULT_GROUP_INGRESS
from sgwatch.core.severity import Severity
from sgwatch.core.text import clean


@dataclass(frozen=True)
class ScannedGroup:
    """A security group as DescribeSecurityGroups and DescribeNetworkInterfaces give it. `interfaces` and
    `public_interfaces` are None when the interfaces could not be read."""

    group_id: str
    account: str
    region: str
    name: str = ""
    vpc_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    interfaces: int | None = 0
    public_interfaces: int | None = 0  # with a public IPv4 address or an IPv6 address

    @property
    def is_default(self) -> bool:
        return self.name == "default"


@dataclass(frozen=True)
class ScannedRule:
    """One rule as DescribeSecurityGroupRules gives it: one source each (a range, a prefix list or a group)."""

    rule_id: str
    group_id: str
    egress: bool
    protocol: str  # IpProtocol as EC2 writes it: "-1", "tcp", "6", ...
    from_port: int | None
    to_port: int | None
    cidr: str = ""  # CidrIpv4 or CidrIpv6
    prefix_list_id: str = ""
    referenced_group: str = ""
    description: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What one account's region holds now."""

    account: str
    region: str
    groups: Mapping[str, ScannedGroup]
    rules: Sequence[ScannedRule]
    prefix_lists: Mapping[str, PrefixListFacts] = field(default_factory=dict)
    interfaces_unread: bool = False  # what uses each group is unknown: every group reads as reachable
    problems: tuple[str, ...] = ()  # what could not be read, said wherever the findings are shown

    @property
    def unread_prefix_lists(self) -> list[str]:
        """The referenced prefix lists whose entries could not be read: their rules are rated without them."""
        return [list_id for list_id, facts in self.prefix_lists.items() if facts.error]


class Reach(Enum):
    """What uses the group, which says how real an exposure is."""

    PUBLIC = "public"  # an interface with a public address uses it: the exposure is real
    PRIVATE = "private"  # interfaces use it, none with a public address: reachable through what fronts them
    UNUSED = "unused"  # no interface uses it: a latent risk, until something is put behind it
    UNKNOWN = "unknown"  # the interfaces could not be read


def reach_of(group: ScannedGroup) -> Reach:
    if group.interfaces is None or group.public_interfaces is None:
        return Reach.UNKNOWN
    if group.public_interfaces:
        return Reach.PUBLIC
    return Reach.PRIVATE if group.interfaces else Reach.UNUSED


@dataclass(frozen=True)
class ScanFinding:
    """One inbound rule, judged: the verdict it would get if it were added now (policy applied), and what uses its
    group. A group that nothing uses lowers the finding one level: said in `reach_phrase`, kept apart from the
    verdict's own lowerings."""

    group: ScannedGroup
    rule: ScannedRule
    verdict: Verdict
    reach: Reach

    @property
    def severity(self) -> Severity:
        if self.reach is Reach.UNUSED and self.verdict.severity > Severity.INFO:
            return Severity(self.verdict.severity - 1)
        return self.verdict.severity

    @property
    def reach_phrase(self) -> str:
        group = self.group
        if self.reach is Reach.UNUSED:
            return "used by no network interface: a latent risk until something is put behind it (one level lower)"
        if self.reach is Reach.UNKNOWN:
            return "what uses the group could not be read"
        count = f"{group.interfaces} network interface{'s' if group.interfaces != 1 else ''}"
        if self.reach is Reach.PUBLIC:
            return f"used by {count}, {group.public_interfaces} with a public IP address: reachable now"
        return f"used by {count}, none with a public IP address: reachable through what fronts them"

    @property
    def revoke_command(self) -> str:
        """The AWS CLI command that revokes exactly this rule, by its id."""
        return shlex.join(
            [
                "aws", "ec2", "revoke-security-group-ingress", "--region", self.group.region,
                "--group-id", self.group.group_id, "--security-group-rule-ids", self.rule.rule_id,
            ]
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        verdict, change = self.verdict, self.verdict.change
        return {
            "severity": self.severity.name,
            "rule": verdict.rule.id,
            "account": self.group.account,
            "region": self.group.region,
            "groupId": self.group.group_id,
            "groupName": self.group.name,
            "vpcId": self.group.vpc_id,
            "ruleId": self.rule.rule_id,
            "change": change.to_dict() if change is not None else None,
            "reason": render_reason(verdict),
            "advice": verdict.rule.advice,
            "reach": self.reach.value,
            "reachReason": self.reach_phrase,
            "networkInterfaces": self.group.interfaces,
            "publicNetworkInterfaces": self.group.public_interfaces,
            "loweredBy": [lowering.to_dict() for lowering in verdict.lowered_by],
            "revokeCommand": self.revoke_command,
        }


def scan(
    snapshot: Snapshot, policy: Policy | None = None, *, today: date, settings: Settings | None = None
) -> list[ScanFinding]:
    """Every inbound rule of the snapshot judged, most severe first, then by group and rule. Outbound rules are not
    judged: every group allows all outbound traffic unless told otherwise, and the change stream rates additions."""
    settings = settings or (policy.settings if policy else DEFAULT_SETTINGS)
    findings = []
    for rule in snapshot.rules:
        if rule.egress:
            continue
        group = snapshot.groups.get(rule.group_id) or ScannedGroup(
            rule.group_id, snapshot.account, snapshot.region, interfaces=None, public_interfaces=None
        )
        verdict = rule_verdict(rule, group, snapshot, settings)
        if policy is not None:
            verdict = apply_policy_to_standing(
                verdict, policy, group_id=group.group_id, account=group.account, tags=group.tags, today=today
            )
        findings.append(ScanFinding(group, rule, verdict, reach_of(group)))
    return sorted(findings, key=lambda found: (-found.severity, found.group.group_id, found.rule.rule_id))


def rule_verdict(rule: ScannedRule, group: ScannedGroup, snapshot: Snapshot, settings: Settings) -> Verdict:
    """The verdict the rule would get if it were added to the group now: its source as EC2 resolves it (a prefix list
    by its entries), and, on a VPC's default group, the CIS rule that it should allow nothing."""
    peer, note = _peer(rule, snapshot, settings)
    change = RuleChange(
        Action.ADD, Direction.INGRESS, protocol_name(rule.protocol), rule.from_port, rule.to_port, peer,
        rule.group_id, rule.rule_id, rule.description,
    )  # fmt: skip
    verdict = ingress_verdict(change, settings)
    summary = f"{verdict.summary} on {group.group_id} by rule {rule.rule_id}{note}"
    if group.is_default and DEFAULT_GROUP_INGRESS.severity > verdict.severity:
        return Verdict(DEFAULT_GROUP_INGRESS, f"{summary}; the group is the VPC's default group",
                       DEFAULT_GROUP_INGRESS.rationale, change)  # fmt: skip
    return replace(verdict, summary=summary)


def _peer(rule: ScannedRule, snapshot: Snapshot, settings: Settings) -> tuple[Peer, str]:
    """The rule's source, and what the summary should add about it."""
    if rule.cidr:
        try:
            return classify_cidr(rule.cidr, settings.internal_ranges), ""
        except ValueError:
            return Peer(PeerKind.UNKNOWN, ""), f" (EC2 gave a source sgwatch cannot read: {rule.cidr!r})"
    if rule.referenced_group:
        trusted = snapshot.groups.get(rule.referenced_group)
        named = f" ({trusted.name})" if trusted is not None and trusted.name else ""
        return Peer(PeerKind.SECURITY_GROUP, rule.referenced_group), f"; it trusts {rule.referenced_group}{named}"
    if rule.prefix_list_id:
        listed = Peer(PeerKind.PREFIX_LIST, rule.prefix_list_id)
        facts = snapshot.prefix_lists.get(rule.prefix_list_id)
        if facts is None or facts.error:
            reason = f": {facts.error}" if facts is not None else ""
            return listed, f"; the entries of {prefix_list_phrase(rule.prefix_list_id)} could not be read{reason}"
        phrase = prefix_list_phrase(facts.list_id, facts.name)
        if facts.aws_managed:
            known = PUBLIC_BY_DESIGN.get(facts.name, "addresses of an AWS service, not the internet")
            return listed, f"; {phrase} is managed by AWS: {known}"
        peer = most_open(facts.entry_peers(settings), via=f"the entries of {phrase}")
        if peer is None:
            return listed, f"; the {len(facts.entries)} entries of {phrase} are all private or specific ranges"
        return peer, ""
    return Peer(PeerKind.UNKNOWN, ""), " (EC2 gave no source)"


@dataclass(frozen=True)
class Totals:
    """How many rules were judged and how many findings there are at each severity, from `min_severity` up."""

    rules: int
    groups: int
    by_severity: Mapping[Severity, int]

    @property
    def shown(self) -> int:
        return sum(self.by_severity.values())


def totals(findings: Sequence[ScanFinding], min_severity: Severity) -> Totals:
    counts = {severity: 0 for severity in Severity if severity >= min_severity and severity > Severity.NONE}
    for found in findings:
        if found.severity >= min_severity:
            counts[found.severity] += 1
    groups = {(found.group.account, found.group.region, found.group.group_id) for found in findings}
    return Totals(len(findings), len(groups), counts)


# --- the scheduled scan's digest ----------------------------------------------------------------------------------

#: The event_name attribute of a digest: subscribers' filter policies can tell it from a change's alert.
DIGEST_EVENT_NAME = "ScheduledScan"
#: The most findings one alert lists: each is about 1 KB in the document and 0.5 KB in the text. More make more alerts.
MAX_PER_DIGEST = 100
_DIGEST_TEXT_BUDGET = 100 * 1024  # the text, escaped; the document has the rest


def approval_expired(found: ScanFinding) -> bool:
    return any(lowering.action is PolicyAction.APPROVAL_EXPIRED for lowering in found.verdict.lowered_by)


def state_key(found: ScanFinding) -> str:
    """What the scheduled scan remembers of a finding: its place, its rule, the verdict's rule and severity (the
    policy's lowerings included, what uses the group not: a group that is used by day and not by night is the same
    finding), and whether an approval of it has expired. A key the last scans did not see is a new finding: the same
    rule judged worse by the rules or the policy (an approval that expired) is new too."""
    group, rule = found.group, found.rule
    expired = "approval-expired" if approval_expired(found) else ""
    parts = [group.account, group.region, group.group_id, rule.rule_id, found.verdict.rule.id]
    return "|".join(["scan", *parts, found.verdict.severity.name, expired])


def digest_publication(
    findings: Sequence[ScanFinding], *, account: str, region: str, published_at: datetime
) -> tuple[Publication, list[ScanFinding]]:
    """Findings of one account's region that no earlier scan reported, as one alert, and the findings it lists: the
    most severe, at most MAX_PER_DIGEST and as many as fit SNS's limit, the same in the text (each with its reason,
    what uses its group and the command that revokes the rule) and in the document (as `sgwatch scan --format json`
    prints them). The caller publishes the others in the next alert."""
    ranked = sorted(findings, key=lambda found: (-found.severity, found.group.group_id, found.rule.rule_id))
    shown = ranked[:MAX_PER_DIGEST]
    while True:  # rarely more than once: only hostile names make the findings too large for their share
        publication, fitted = _digest(ranked, shown, account, region, published_at)
        if fitted == len(shown) or fitted == 0:
            return publication, shown[:fitted]
        shown = shown[:fitted]


def _digest(
    ranked: list[ScanFinding], shown: list[ScanFinding], account: str, region: str, published_at: datetime
) -> tuple[Publication, int]:
    """The alert listing `shown` (the most severe of `ranked`), and how many of them fit both text and document."""
    worst = ranked[0].severity if ranked else Severity.INFO
    place = f"{_ascii(account, 64) or 'unknown'}/{_ascii(region, 64) or 'unknown'}"
    count = f"{len(ranked)} rule{'s' if len(ranked) != 1 else ''}"
    title = _ascii(f"{worst.name}: sgwatch scan: {count} open in {place} not reported before")[:MAX_SUBJECT]
    lines = [
        title,
        "",
        f"The scheduled scan of {place} found {count} open now that no earlier scan reported, or whose approval has"
        " expired: exposures no change event revealed (made before sgwatch watched, or missed).",
        "",
    ]

    def entry(found: ScanFinding) -> str:
        group = found.group
        name = f" ({clean(group.name, 255)})" if group.name else ""
        return (
            f"  [{found.severity.name}] {clean(group.group_id, 64)}{name}: {clean(found.verdict.summary, 2000)}\n"
            f"    {found.reach_phrase}\n    revoke: {clean(found.revoke_command, 2000)}"
        )

    listed = _within(lines, [partial(entry, found) for found in shown], _DIGEST_TEXT_BUDGET, "findings")
    in_text = sum(1 for line in listed if line.startswith("  ["))  # _within's own closing note is replaced below
    lines += listed[:in_text]
    if len(ranked) > in_text:
        lines.append(f"  ({len(ranked) - in_text} more not listed here: the next alert lists them)")
    text = "\n".join(lines)
    budget = MAX_MESSAGE_BYTES - _ENVELOPE - _size(text)
    head: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": "scan",
        "severity": worst.name,
        "account": _clip(account),
        "region": _clip(region),
        "publishedAt": published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    encoded: list[str] = []
    room = budget - _cost(_json({**head, "findings": [], "omittedFindings": len(ranked)}))
    for found in shown[:in_text]:
        document = _json(found.to_dict())
        if _cost(document) + 2 > room:
            break
        room -= _cost(document) + 2
        encoded.append(document)
    omitted = {"omittedFindings": len(ranked) - len(encoded)} if len(encoded) < len(ranked) else {}
    document = _json({**head, **omitted})[:-1] + f', "findings": [{", ".join(encoded)}]}}'
    group = shown[0].group.group_id if shown else ""
    attributes = message_attributes(worst, DIGEST_EVENT_NAME, account, region, group)
    return Publication(title, text, document, attributes), len(encoded)
