"""Findings as data: a Verdict is a rule's decision about one change (or one record), with the sentence about the
change, why it matters, what to do, and every policy entry that acted on it. Sentences are assembled here, only
when text is rendered (alerts, the CLI, the JSON `reasons`); nothing reads them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from sgwatch.core.model import RuleChange
from sgwatch.core.rules import Rule
from sgwatch.core.severity import Severity


class Wording(Enum):
    """How a verdict's sentence carries its `why`."""

    STATED = "stated"  # "<summary>. Why it matters: <why>."
    SUMMARY_ONLY = "summary-only"  # "<summary>": a routine change, its why is in the data only
    APPENDED = "appended"  # "<summary>: <why>." (the VPC's default group, learned from EC2)


class PolicyAction(Enum):
    """What a policy entry did to a verdict."""

    APPROVED = "approval"  # an approved exposure (policy entry or sgwatch:approved tag): INFO
    TRUSTED = "trusted"  # a trusted principal (or user agent with its principal): one level down
    MUTED = "mute"  # a muted group or account: INFO
    APPROVAL_EXPIRED = "approval-expired"  # an approval covered the change but has expired: lowers nothing
    TAG_UNREADABLE = "tag-unreadable"  # an sgwatch:approved tag that could not be read: lowers nothing


@dataclass(frozen=True)
class Lowering:
    """One policy entry acting on a verdict. `to_severity` equals `from_severity` when it lowered nothing (the
    verdict was already that low, the approval had expired, the tag could not be read)."""

    action: PolicyAction
    entry: str  # "mute[0]", "approved_exposure[2]", "tag[0]"
    line: int  # the entry's line in the policy file; 0 for a tag or when not known
    note: str  # the entry's reason; for an unreadable tag, the problem
    from_severity: Severity
    to_severity: Severity
    from_tag: bool = False  # an approval written on the group's sgwatch:approved tag, not in the policy file
    exposure: str = ""  # approvals: what they allow, as written
    owner: str = ""
    expires: date | None = None

    @property
    def lowered(self) -> bool:
        return self.to_severity < self.from_severity

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "action": self.action.value,
            "entry": self.entry,
            "line": self.line,
            "note": self.note,
            "from": self.from_severity.name,
            "to": self.to_severity.name,
        }
        if self.exposure:
            expires = self.expires.isoformat() if self.expires else None
            result |= {"exposure": self.exposure, "owner": self.owner, "expires": expires}
        return result


@dataclass(frozen=True)
class Verdict:
    """Why one change (or the record as a whole, when change is None) got its severity."""

    rule: Rule
    summary: str  # the sentence about the change, without why it matters
    why: str  # the rule's rationale, or the sensitive service's own reason
    change: RuleChange | None = None
    group_id: str = ""  # the one group a record-level verdict is about (an open group attached), when not all of them
    wording: Wording = Wording.STATED
    lowered_by: tuple[Lowering, ...] = ()  # in the order the policy applied them
    undo: str = ""  # the command (or step) that undoes what the change did, where one exists

    @property
    def severity(self) -> Severity:
        return self.lowered_by[-1].to_severity if self.lowered_by else self.rule.severity

    @property
    def advice(self) -> str:
        return self.rule.advice

    def lower(self, lowering: Lowering) -> Verdict:
        return Verdict(self.rule, self.summary, self.why, self.change, self.group_id, self.wording,
                       (*self.lowered_by, lowering), self.undo)  # fmt: skip


def most_severe(verdicts: tuple[Verdict, ...] | list[Verdict]) -> Severity:
    """The severity of a classification or an alert: its most severe verdict (NONE when there is none)."""
    return max((verdict.severity for verdict in verdicts), default=Severity.NONE)


# --- rendering ----------------------------------------------------------------------------------------------------


def _cited(lowering: Lowering) -> str:
    line = f" (policy line {lowering.line})" if lowering.line else ""
    return f"policy {lowering.entry}{line}"


def _approver(lowering: Lowering) -> str:
    return lowering.note if lowering.from_tag else _cited(lowering)


def render_lowering(lowering: Lowering) -> str:
    """The bracketed note a lowering adds to its verdict's sentence, without the brackets."""
    action = lowering.action
    if action is PolicyAction.TAG_UNREADABLE:
        return lowering.note
    if action is PolicyAction.APPROVAL_EXPIRED:
        return (
            f"approval {_approver(lowering)} for {lowering.exposure} expired on {lowering.expires}; it no longer counts"
        )
    if action is PolicyAction.APPROVED:
        until = f", until {lowering.expires}" if lowering.expires else ""
        by = f"approval {_approver(lowering)}: {lowering.exposure}, owner {lowering.owner}{until} ({lowering.note})"
    else:
        by = f"{action.value} {_cited(lowering)}: {lowering.note}"
    if lowering.lowered:
        return f"{lowering.from_severity.name} lowered to {lowering.to_severity.name} by {by}"
    return by


def render_sentence(verdict: Verdict) -> str:
    """The verdict's sentence, before any policy note."""
    if verdict.wording is Wording.STATED:
        return f"{verdict.summary}. Why it matters: {verdict.why}."
    if verdict.wording is Wording.APPENDED:
        return f"{verdict.summary}: {verdict.why}."
    return verdict.summary


def render_reason(verdict: Verdict) -> str:
    """The reason people read: the sentence, then each policy entry that acted on it, in brackets."""
    return render_sentence(verdict) + "".join(f" [{render_lowering(lowering)}]" for lowering in verdict.lowered_by)
