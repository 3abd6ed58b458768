"""The function's ports: what the pipeline asks of the world (EC2 facts, SNS, a deduplication store, metrics), as
small interfaces. runtime/aws.py implements them on AWS; tests implement them in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Protocol

from sgwatch.core.enrich import GroupFacts, PrefixListFacts
from sgwatch.core.errors import SgwatchError
from sgwatch.core.tamper import TrailFacts


class Enricher(Protocol):
    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]: ...


class PrefixListReader(Protocol):
    """Managed prefix lists of a region of an account: their entries, and the security-group rules that reference
    them."""

    def prefix_lists(
        self, list_ids: Sequence[str], region: str = "", account: str = ""
    ) -> dict[str, PrefixListFacts]: ...


class TrailInspector(Protocol):
    """The trails that cover a region of an account, as CloudTrail describes them now."""

    def trails(self, region: str, account: str = "") -> Sequence[TrailFacts]: ...


class MessageRefused(SgwatchError):
    """SNS refused the message itself (too long, malformed): sending it again would fail the same way."""


class Publisher(Protocol):
    """Raises MessageRefused when the message itself is refused, any other exception when SNS could not be reached."""

    def publish(self, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None: ...


class Claim(Enum):
    """What the deduplication store says of a CloudTrail event."""

    NEW = "new"  # first time: alert it
    ALERTED = "alerted"  # an alert was published: a duplicate delivery
    IN_FLIGHT = "in-flight"  # claimed, not yet published (alive elsewhere, or died): retry the message later
    UNAVAILABLE = "unavailable"  # the store could not be asked: alert anyway, a duplicate beats a loss


class Deduplicator(Protocol):
    def claim(self, event_id: str) -> Claim: ...
    def done(self, event_ids: list[str]) -> None: ...
    def release(self, event_ids: list[str]) -> None: ...


class FindingSink(Protocol):
    def import_findings(self, region: str, findings: Sequence[Mapping[str, Any]]) -> list[str]:
        """Import the findings of one region; the ids (with why) of those not imported."""
        ...


class MetricsSink(Protocol):
    def add(self, name: str, value: float, unit: str = "Count", dimension: tuple[str, str] | None = None) -> None: ...


class Remediator(Protocol):
    """Revokes rules by id in the function's own account. `admit` says whether `count` more revocations fit the
    hour's limit (and counts them when they do); `current` gives the group's tags and the rules as EC2 has them now
    (DescribeSecurityGroupRules' items, by id); `revoke` answers, for each rule id, "revoked", "already gone", or the
    error that kept it."""

    def admit(self, count: int) -> bool: ...

    def current(self, region: str, group_id: str, rule_ids: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]: ...

    def revoke(self, region: str, group_id: str, rule_ids: Sequence[str]) -> dict[str, str]: ...
