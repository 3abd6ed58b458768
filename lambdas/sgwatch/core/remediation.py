"""Opt-in remediation, planned: which rules a change added that sgwatch would revoke, by their ids, or why it would
not, and the command that restores each. Pure: a judged record in, a plan out; the function acts on it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from sgwatch.core.addresses import PeerKind
from sgwatch.core.classify import Classification
from sgwatch.core.events import EventKind
from sgwatch.core.findings import Verdict
from sgwatch.core.model import Direction, RuleChange, rule_shape
from sgwatch.core.severity import Severity


class Mode(Enum):
    DRY_RUN = "dry-run"  # says what enforce would do, and does nothing
    ENFORCE = "enforce"


@dataclass(frozen=True)
class RemediationSettings:
    """What the team has said: the severities to act on, the mode, and the tag that exempts a group."""

    severities: frozenset[Severity]
    mode: Mode = Mode.DRY_RUN
    break_glass_tag: str = ""  # a group carrying this tag key is never acted on
    only_tagged: tuple[str, str] | None = None  # (key, value): only groups that carry this tag are acted on

    @property
    def setting(self) -> str:
        """The setting, as the alert names it: "remediate=CRITICAL,HIGH (dry-run)"."""
        names = ",".join(severity.name for severity in sorted(self.severities, reverse=True))
        return f"remediate={names} ({self.mode.value})"


@dataclass(frozen=True)
class Revocation:
    """One added rule that the setting covers: revoked by its id, restored by the command. `added` is the rule as the
    record states it (protocol, ports, source), to check, just before revoking, that the id still names that rule."""

    group_id: str
    rule_id: str
    severity: Severity
    restore: str
    added: tuple[object, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What the setting makes of one record: the rules to revoke (or that dry-run would revoke), and the rules it
    covers but will not touch, each with why."""

    event_id: str
    region: str
    revoke: tuple[Revocation, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()  # (rule id or a description of the rule, why not)


def plan(result: Classification, settings: RemediationSettings, tags: Mapping[str, Mapping[str, str]]) -> Plan | None:
    """The rules `result` added whose verdict (the policy applied) is one of the setting's severities, to revoke by
    the ids EC2 gave them; None when the record is none of that. Never: a failed call, a rule the policy lowered (an
    approval or a trusted principal), a group with the break-glass tag, a rule whose id or direction the record does
    not state (nothing broader than that rule is ever revoked)."""
    record = result.record
    if record is None or record.event.kind is not EventKind.RULES_ADDED or result.heartbeat:
        return None
    covered = [
        verdict for verdict in result.verdicts if verdict.change is not None and verdict.severity in settings.severities
    ]
    lowered = [
        verdict
        for verdict in result.verdicts
        if verdict.change is not None and verdict.lowered_by and verdict.rule.severity in settings.severities
    ]
    if not covered and not lowered:
        return None
    revoke: list[Revocation] = []
    refused: list[tuple[str, str]] = []
    for verdict in lowered:
        if verdict.severity not in settings.severities:
            entries = ", ".join(lowering.entry for lowering in verdict.lowered_by)
            refused.append((_named(verdict.change), f"the policy lowered it ({entries})"))
    for verdict in covered:
        change = verdict.change
        assert change is not None
        why = _why_not(result, verdict, change, settings, tags)
        if why:
            refused.append((_named(change), why))
        else:
            shape = rule_shape(change.protocol, change.from_port, change.to_port, change.peer.address)
            restore = restore_command(change, result.region)
            revoke.append(Revocation(change.group_id, change.rule_id, verdict.severity, restore, shape))
    return Plan(result.event_id, result.region, tuple(revoke), tuple(refused))


def _why_not(
    result: Classification, verdict: Verdict, change: RuleChange, settings: RemediationSettings,
    tags: Mapping[str, Mapping[str, str]],
) -> str:  # fmt: skip
    if result.record is not None and result.record.failed:
        return "the call failed: it added nothing"
    if any(lowering.lowered for lowering in verdict.lowered_by):
        return "the policy lowered it"
    if change.direction is not Direction.INGRESS:
        return "the record does not say the rule is inbound"
    if not change.rule_id:
        return "the record does not state the rule's id: sgwatch revokes a rule by its id, nothing broader"
    record = result.record
    if record is not None and (not record.group_ids or record.group_ids[0] != change.group_id):
        return "the rule's group is not the one the request named"
    if change.group_id not in tags:
        return "EC2 could not describe the group: its tags (a break-glass tag among them) are unknown"
    if settings.break_glass_tag and settings.break_glass_tag in tags.get(change.group_id, {}):
        return f"the group carries the break-glass tag {settings.break_glass_tag}"
    if settings.only_tagged is not None:
        key, value = settings.only_tagged
        if tags.get(change.group_id, {}).get(key) != value:
            return f"remediation is limited to groups tagged {key}={value}, and this one is not (or was not described)"
    return ""


def _named(change: RuleChange | None) -> str:
    if change is None:
        return "a rule"
    return change.rule_id or f"{change.ports_label()} from {change.peer.address or 'an unstated source'}"


def restore_command(change: RuleChange, region: str) -> str:
    """The AWS CLI command that adds the rule back as the record states it: protocol, ports, source, description."""
    permission: dict[str, object] = {"IpProtocol": "-1" if change.protocol == "all" else change.protocol}
    if change.protocol != "all":
        permission["FromPort"] = change.from_port if change.from_port is not None else -1
        permission["ToPort"] = change.to_port if change.to_port is not None else -1
    described = {"Description": change.description} if change.description else {}
    peer = change.peer
    if peer.kind is PeerKind.SECURITY_GROUP:
        permission["UserIdGroupPairs"] = [{"GroupId": peer.address, **described}]
    elif peer.kind is PeerKind.PREFIX_LIST:
        permission["PrefixListIds"] = [{"PrefixListId": peer.address, **described}]
    elif ":" in peer.address:
        permission["Ipv6Ranges"] = [{"CidrIpv6": peer.address, **described}]
    else:
        permission["IpRanges"] = [{"CidrIp": peer.address, **described}]
    return shlex.join(
        [
            "aws", "ec2", "authorize-security-group-ingress", "--region", region, "--group-id", change.group_id,
            "--ip-permissions", json.dumps([permission], separators=(",", ":"), ensure_ascii=True),
        ]
    )  # fmt: skip


class Done(Enum):
    """What became of one rule the setting covers."""

    REVOKED = "revoked"
    WOULD_REVOKE = "would revoke"  # dry-run: what enforce would have done
    ALREADY_GONE = "already gone"  # revoked before (a redelivery, or by someone else): nothing to do
    NOT_REVOKED = "not revoked"  # refused, or the revoke failed: `detail` says why


@dataclass(frozen=True)
class Outcome:
    """One rule's remediation, as the alert states it."""

    done: Done
    group_id: str
    rule: str  # the rule's id, or a description of a rule without one
    setting: str  # which setting acted: "remediate=CRITICAL (enforce)"
    detail: str = ""  # why not, or what failed
    restore: str = ""  # the command that adds the rule back, once revoked (or if it were)

    def to_dict(self) -> dict[str, str]:
        found = {"done": self.done.value, "groupId": self.group_id, "rule": self.rule, "setting": self.setting}
        return found | {key: value for key, value in (("detail", self.detail), ("restore", self.restore)) if value}


def refusals(found: Plan, settings: RemediationSettings) -> list[Outcome]:
    """The rules the plan will not touch, as outcomes."""
    return [Outcome(Done.NOT_REVOKED, "", rule, settings.setting, why) for rule, why in found.refused]


def dry_run(found: Plan, settings: RemediationSettings) -> list[Outcome]:
    """What enforce would do, said and not done."""
    would = [
        Outcome(Done.WOULD_REVOKE, r.group_id, r.rule_id, settings.setting, restore=r.restore) for r in found.revoke
    ]
    return [*would, *refusals(found, settings)]
