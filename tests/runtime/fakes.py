"""In-memory fakes of the function's ports (runtime/ports.py), for the pipeline's stage boundaries. Test code only."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sgwatch.core.enrich import GroupFacts
from sgwatch.runtime.ports import Claim, MessageRefused

from tests.conftest import REAL_RECORDS, load

SSH_WORLD: dict[str, Any] = load(
    REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json"
)
REVOKE: dict[str, Any] = load(
    REAL_RECORDS / "rubysoho07-cloudtrail-watcher/revoke_ingress_terraform_v6_ssh_with_revokedSecurityGroupRuleSet.json"
)


def change(group: str, event_id: str = "", template: Mapping[str, Any] = SSH_WORLD) -> dict[str, Any]:
    """A copy of a real record, on `group`: one actor, one group, so one alert per group."""
    record: dict[str, Any] = json.loads(json.dumps(template))
    record["requestParameters"]["groupId"] = group
    record["eventID"] = event_id or str(uuid.uuid4())
    for rule in (record.get("responseElements") or {}).get("securityGroupRuleSet", {}).get("items", []):
        rule["groupId"] = group
    return record


def batch(*bodies: Any) -> dict[str, Any]:
    """An SQS batch, one message per body ("message-0", ...), each record as EventBridge delivers it."""
    return {
        "Records": [
            {
                "messageId": f"message-{index}",
                "body": body if isinstance(body, str) else json.dumps({"detail-type": "AWS API Call via CloudTrail",
                                                                       "source": "aws.ec2", "detail": body}),
            }
            for index, body in enumerate(bodies)
        ]
    }  # fmt: skip


@dataclass
class Facts:
    """EC2, answering from a dict; or failing, when `failure` is set."""

    known: dict[str, GroupFacts] = field(default_factory=dict)
    failure: Exception | None = None
    asked: list[tuple[tuple[str, ...], str, str]] = field(default_factory=list)

    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]:
        self.asked.append((tuple(group_ids), region, account))
        if self.failure is not None:
            raise self.failure
        return {gid: self.known.get(gid, GroupFacts(gid, name="app")) for gid in group_ids}


@dataclass(frozen=True)
class Sent:
    """One publish. An alert's message has per-protocol bodies: `text` is the email's, `payload` the JSON document
    every other subscriber gets."""

    subject: str
    message: str
    attributes: Mapping[str, Mapping[str, str]]

    @property
    def text(self) -> str:
        text: str = json.loads(self.message)["email"]
        return text

    @property
    def payload(self) -> Any:
        return json.loads(json.loads(self.message)["default"])


@dataclass
class Topic:
    """SNS. `refuse_full` refuses every message but the minimal form; `fail_on` fails every publish whose message
    names one of these event ids, `fail_once_on` the first such publish only. The pipeline publishes a batch's alerts
    side by side: which call comes first is not fixed, so failures are chosen by content."""

    refuse_full: bool = False
    fail_on: set[str] = field(default_factory=set)
    fail_once_on: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)

    def publish(self, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        once = next((event_id for event_id in list(self.fail_once_on) if event_id in message), None)
        if once is not None:
            self.fail_once_on.discard(once)
            raise ConnectionError("SNS could not be reached")
        if any(event_id in message for event_id in self.fail_on):
            raise ConnectionError("SNS could not be reached")
        if self.refuse_full and not Sent(subject, message, attributes).payload.get("minimal"):
            raise MessageRefused("InvalidParameter: Message too long")
        self.sent.append(Sent(subject, message, attributes))


@dataclass
class Store:
    """The deduplication store: event id -> "pending" or "done"; `unavailable` answers every claim so."""

    states: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False

    def claim(self, event_id: str) -> Claim:
        if self.unavailable:
            return Claim.UNAVAILABLE
        state = self.states.get(event_id)
        if state == "done":
            return Claim.ALERTED
        if state == "pending":
            return Claim.IN_FLIGHT
        self.states[event_id] = "pending"
        return Claim.NEW

    def done(self, event_ids: list[str]) -> None:
        self.states.update(dict.fromkeys(event_ids, "done"))

    def release(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.states.pop(event_id, None)


@dataclass
class Counts:
    """The metrics: name -> total, and the dimensioned ones by (name, dimension value)."""

    totals: Counter[str] = field(default_factory=Counter)
    dimensioned: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, name: str, value: float, unit: str = "Count", dimension: tuple[str, str] | None = None) -> None:
        self.totals[name] += int(value) if unit == "Count" else 1
        if dimension is not None:
            self.dimensioned[name, dimension[1]] += int(value)


@dataclass
class Log:
    """The logger: (level, message, extra) per line."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def _line(self, level: str, message: str, extra: dict[str, Any] | None = None) -> None:
        self.lines.append((level, message, extra or {}))

    def info(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._line("info", message, extra)

    def warning(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._line("warning", message, extra)

    def error(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._line("error", message, extra)

    def exception(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        self._line("exception", message, extra)

    def messages(self, level: str | None = None) -> list[str]:
        return [message for line_level, message, _ in self.lines if level in (None, line_level)]
