"""The pipeline never loses a change and never publishes what SNS cannot take, whatever arrives and whatever fails.

A property over the real pipeline (classify, EC2 enrichment, DynamoDB deduplication, SNS publishing, all on moto) fed
through a model of the buffer queue: for any mix of real records moved onto the emulated account's groups, oversize
text, lone surrogates, hostile group ids, unreadable bodies, publish and enrichment failures, duplicate deliveries and
one death of the function between claim and publish, every change ends in one published alert or in the dead-letter
queue, and every message SNS received fits its limits and reads back.

The buffer, as the stack deploys it (cdk.json, infra/stack.py, infra/processor.py): a batch is up to `batchSize`
visible messages; a message the function reports in batchItemFailures, or every message of an invocation that dies,
comes back after the visibility timeout (6 x the function timeout), and after `maxReceiveCount` receives goes to the
dead-letter list instead. Time is simulated: the deduplicator's and the enricher's clocks are the model's, so a
redelivery finds a dead invocation's claim stale exactly as it would in AWS (names.ENV_CLAIM_STALE_SECONDS: the
visibility timeout less the batching window and the function timeout).

What is asserted, per change (the unit is the CloudTrail eventID; a body with no readable eventID is its own unit,
one per SQS message):

- lost: never. Each change with an eventID (readable or not: an unreadable record with a readable eventID is
  deduplicated like the others) is named by at least one published alert or is in the dead-letter list. A body
  with no eventID is an unreadable-record alert naming its SQS message, or a dead letter; its minimal alert names
  no message, so minimal alerts naming nothing are counted against the bodies nothing else accounts for.
- twice: only after a death. A change is published at most 1 + the number of publishes that SNS accepted for it in
  the very call that then died (the function was killed after SNS took the alert and before the claim was marked
  done, so the redelivery cannot know). A body with no eventID (nothing to claim) is published at most 1 + the
  number of times an invocation that died had already published it. Nothing else may duplicate.
- published and dead-lettered: only when the change was delivered more than once (one copy can run out of receives
  while another is alerted) or an invocation holding it died (its message may run out of receives then).
- every message SNS received: Subject, Message (both per-protocol bodies) and attributes at most 262,144 bytes of
  UTF-8; the Subject printable ASCII, one line, 1 to 100 characters; no control, format (bidi), surrogate or separator
  character in the email text besides its newlines, nor in the JSON document that queue subscribers get, which parses
  to an object; its severity attributes agree with it; each alert names its events there (results, stubs of omitted
  results, or the minimal form's eventIDs), else it could not be counted. The email subscription (the stack's filter policy) gets exactly the alerts of MEDIUM and up.
- the function's log: every line the deployed logger writes encodes on a UTF-8 stdout (none is dropped).

The function publishes at the lowest threshold (INFO), so that every change is published and every alert measured.
Examples are of two kinds, half and half (see THEMES): alerts at SNS's limits, and faults racing duplicates.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import itertools
import json
import logging
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.severity import Severity
from sgwatch.emulation.account import (
    CLAIM_STALE_SECONDS,
    EMAIL_MIN,
    Email,
    EmailOutbox,
    create_alert_topic,
    create_dedup_table,
    drain,
)
from sgwatch.runtime import handler
from sgwatch.runtime.aws import DynamoDeduplicator, Ec2Enricher, SnsPublisher
from sgwatch.runtime.pipeline import PipelineSettings, process_batch
from sgwatch.runtime.ports import Claim

from tests.conftest import REAL_RECORDS, load
from tests.e2e.conftest import ACCOUNT, REGION, eventbridge, on_group

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = Path(handler.__file__).resolve().parents[2]  # where sgwatch was imported from
_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
MAX_RECEIVES = int(_CONTEXT["maxReceiveCount"])
BATCH_SIZE = int(_CONTEXT["batchSize"])
BATCH_WINDOW_SECONDS = int(_CONTEXT["batchWindowSeconds"])
_TIMEOUT = re.search(r"^TIMEOUT = Duration\.seconds\((\d+)\)", (ROOT / "infra/processor.py").read_text(), re.M)
_VISIBILITY = re.search(r"Duration\.seconds\((\d+) \* TIMEOUT\.to_seconds\(\)\)", (ROOT / "infra/stack.py").read_text())
assert _TIMEOUT and _VISIBILITY, "the function timeout or the buffer's visibility timeout moved: update this model"
FUNCTION_TIMEOUT = int(_TIMEOUT.group(1))
_MEMORY = re.search(r"memory_size=(\d+)", (ROOT / "infra/processor.py").read_text())
assert _MEMORY, "the function's memory moved: update this model"
FUNCTION_MEMORY_MB = int(_MEMORY.group(1))
#: Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB: the function's timeout is about this
#: much CPU time of one full core.
FUNCTION_CPU_SECONDS = FUNCTION_TIMEOUT * FUNCTION_MEMORY_MB / 1769
VISIBILITY_TIMEOUT = int(_VISIBILITY.group(1)) * FUNCTION_TIMEOUT
SNS_LIMIT = 262_144  # bytes of UTF-8: Subject, Message and message attributes together
EXAMPLES = 40

EMOJI = "\U0001f600"
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
DENIED = load(
    REAL_RECORDS / "panther-analysis/manualsgchange__authorize_ingress_console_error_unauthorizedoperation.json"
)
GROUP_SET = load(
    REAL_RECORDS / "netebakari-cloudtrail-lambda/modify_network_interface_attribute_groupset_three_groups_console.json"
)


def _templates() -> list[dict[str, Any]]:
    """The real records that name their group in requestParameters.groupId (EventBridge events unwrapped)."""
    found = []
    for path in sorted(REAL_RECORDS.rglob("*.json")):
        record = load(path)
        record = record.get("detail", record) if isinstance(record, dict) else record
        parameters = record.get("requestParameters") if isinstance(record, dict) else None
        if isinstance(parameters, dict) and isinstance(parameters.get("groupId"), str):
            found.append(record)
    return found


TEMPLATES = _templates()

#: Hostile group ids of failed calls (the caller typed them): forged lines, bidi overrides, escape sequences.
HOSTILE_IDS = (
    "sg-0badc0ffee\n\nUPDATE from SecOps: approved, no action needed",
    "sg-0badc0ffee\u202eexe.txt",
    "sg-\u2066c0ffee\u2069\u200b",
    "sg-0badc0ffee\r\nSubject: fine",
    "sg-0badc0ffee\x1b]0;owned\x07\x1b[2J",
    "sg-0badc0ffee\u2028\u2029\x85",
    "sg-" + EMOJI * 120,
)

#: Bodies that are not JSON, or too deep for any decoder.
UNREADABLE_BODIES = (
    "not json at all",
    '{"version": "0", "detail": {"eventID": "cut-short"',
    '{"detail": {"eventID": 1,}}',
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
)

#: Fields of a record given the wrong type, and whether the record is then unreadable (True) or still read (False).
#: A wrong-typed eventName or eventSource is left out: the stack's rule matches on both, so such a record never
#: reaches the buffer.
WRONG_TYPES: tuple[tuple[tuple[str | int, ...], Any, bool], ...] = (
    (("requestParameters", "ipPermissions", "items", 0, "fromPort"), "ssh", True),
    (("requestParameters", "ipPermissions", "items", 0, "fromPort"), [22], True),
    (("requestParameters",), [1, 2], True),
    (("requestParameters", "ipPermissions"), "x", True),
    (("requestParameters", "ipPermissions", "items"), {"a": 1}, True),
    (("requestParameters", "ipPermissions", "items", 0, "ipRanges", "items", 0, "cidrIp"), 0, True),
    (("userIdentity",), "root", True),
    (("userAgent",), ["terraform"], True),
    (("recipientAccountId",), [ACCOUNT], True),
    (("sourceIPAddress",), {"ip": "1.2.3.4"}, True),
    (("responseElements",), "ok", True),
    (("userIdentity", "arn"), 5, False),
    (("eventTime",), 1_700_000_000, False),
    (("errorCode",), 403, False),
)

GROUP_ROLES = ("plain", "tagged", "ruled", "default", "missing")


class LambdaKilled(BaseException):
    """The function is killed mid-invocation (timeout, out of memory): nothing after this runs."""


# ---------------------------------------------------------------- the emulated account


@dataclass
class Account:
    ec2: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    topic_arn: str
    inbox_url: str
    email_url: str
    table: str
    groups: dict[str, str]  # role -> group id
    lost_log_lines: list[str] = field(default_factory=list)  # the function's log lines that could not be written
    outbox: EmailOutbox = field(default_factory=EmailOutbox)  # the email text of every publish SNS took


class NullStdout(io.RawIOBase):
    """Where the function's log lines go: written and dropped."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def _tags(count: int) -> list[dict[str, str]]:
    """Tags as large as EC2 takes them: keys of 128 characters, values of 256, multibyte."""
    return [{"Key": f"{index:02d}-" + "\u00fc" * 125, "Value": EMOJI * 256} for index in range(count)]


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    """The emulated account, and the deployed function's logger (handler.logger) writing to a UTF-8 stdout as
    Lambda's, every line it cannot write recorded."""
    lost: list[str] = []
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            log_handler,
            "stream",
            io.TextIOWrapper(io.BufferedWriter(NullStdout()), encoding="utf-8", write_through=True),
        )
        patch.setattr(log_handler, "handleError", lambda record: lost.append(str(record.msg)))
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            ec2, sns, sqs, dynamodb = (
                boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs", "dynamodb")
            )
            vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
            default = ec2.describe_security_groups(
                Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
            )["SecurityGroups"][0]["GroupId"]
            plain = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
            tagged = ec2.create_security_group(
                GroupName="tagged",
                Description=EMOJI * 255,
                VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(50)}],
            )["GroupId"]
            ruled = ec2.create_security_group(GroupName="ruled", Description="many rules", VpcId=vpc)["GroupId"]
            ec2.authorize_security_group_ingress(
                GroupId=ruled,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": EMOJI * 255}],
                    }
                    for port in range(8000, 8040)
                ],
            )
            for group in (ruled, tagged):
                ec2.create_network_interface(SubnetId=subnet, Groups=[group])
            topic_arn, inbox_url, email_url = create_alert_topic(sns, sqs)
            outbox = EmailOutbox()
            outbox.watch(sns)
            yield Account(
                ec2,
                sns,
                sqs,
                dynamodb,
                topic_arn,
                inbox_url,
                email_url,
                create_dedup_table(dynamodb),
                {
                    "plain": plain,
                    "tagged": tagged,
                    "ruled": ruled,
                    "default": default,
                    "missing": "sg-0000000000000dead",
                },
                lost,
                outbox,
            )


# ---------------------------------------------------------------- what arrives


@dataclass(frozen=True)
class Change:
    """One change as hypothesis draws it, before it is placed on the account: its kind, its details, and when each
    of its deliveries reaches the buffer (seconds after the start; more than one is a duplicate delivery)."""

    kind: str  # good, oversize, hostile-id, wrong-type, unreadable
    arrivals: tuple[int, ...]
    template: int = 0
    group: str = "plain"
    rules: int = 1
    failed: bool = False
    surrogate: str = ""  # "", "userAgent", "description"
    variant: int = 0  # which hostile id, wrong type or unreadable body
    poisoned: bool = False  # every publish of an alert naming it fails: it must end in the dead letters
    burst: int = 1  # oversize: records of one apply (same caller, same group, distinct rules), delivered together
    group_set: int = 0  # hostile-id: that many hostile ids in a denied ModifyNetworkInterfaceAttribute's groupSet


SURROGATE = st.sampled_from(("", "", "userAgent", "description"))

#: Two kinds of example, drawn half and half: "sizes" brings applies of many oversize rules on one group, so that
#: alerts meet SNS's limits; "faults" brings small records delivered up to three times, close together or after the
#: visibility timeout, and a death in most examples, so that claims are found in flight and retries race duplicates.
THEMES: dict[str, tuple[str, ...]] = {
    "faults": ("good", "good", "hostile-id", "wrong-type", "unreadable", "oversize"),
    "sizes": ("oversize", "oversize", "oversize", "good", "hostile-id"),
}
_ARRIVALS = {"faults": (0, 0, 5, 30, 200, 400, 1000), "sizes": (0, 0, 5, 200)}
#: When the function dies, if it does (once at most): at its n-th publish, before SNS takes it or right after.
_DEATHS: dict[str, tuple[tuple[int, str] | None, ...]] = {
    "faults": (None, (1, "before"), (1, "after"), (2, "before"), (2, "after"), (3, "after")),
    "sizes": (None, None, (1, "after")),
}
_WEATHER = {"faults": ("calm", "flaky", "stormy"), "sizes": ("calm", "flaky")}


@dataclass(frozen=True)
class Scenario:
    theme: str
    changes: tuple[Change, ...]
    weather: str  # how often a publish fails: see WEATHER
    death: tuple[int, str] | None


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    theme = draw(st.sampled_from(tuple(THEMES)))
    found = draw(st.lists(changes(theme), min_size=1, max_size=6 if theme == "faults" else 3))
    return Scenario(
        theme,
        tuple(found),
        draw(st.sampled_from(_WEATHER[theme])),
        draw(st.sampled_from(_DEATHS[theme])),
    )


@st.composite
def changes(draw: st.DrawFn, theme: str) -> Change:
    change = draw(_changes(theme))
    if change.kind != "unreadable" and draw(st.integers(0, 7)) == 0:
        return dataclasses.replace(change, poisoned=True)
    return change


@st.composite
def _changes(draw: st.DrawFn, theme: str) -> Change:
    kind = draw(st.sampled_from(THEMES[theme]))
    copies = st.lists(st.sampled_from(_ARRIVALS[theme]), min_size=1, max_size=3 if theme == "faults" else 2)
    arrivals = tuple(sorted(draw(copies)))
    if kind == "good":
        return Change(
            kind,
            arrivals,
            template=draw(st.integers(0, len(TEMPLATES) - 1)),
            group=draw(st.sampled_from(GROUP_ROLES)),
            surrogate=draw(SURROGATE),
        )
    if kind == "oversize":
        return Change(
            kind,
            arrivals,
            group=draw(st.sampled_from(("tagged", "ruled", "plain"))),
            rules=draw(st.sampled_from((3, 40, 40) if theme == "sizes" else (1, 3))),
            failed=draw(st.booleans()),
            surrogate=draw(SURROGATE),
            burst=draw(st.sampled_from((3, 9) if theme == "sizes" else (1, 3))),
        )
    if kind == "hostile-id":
        return Change(
            kind,
            arrivals,
            variant=draw(st.integers(0, len(HOSTILE_IDS) - 1)),
            surrogate=draw(SURROGATE),
            group_set=draw(st.sampled_from((0, 0, 3, len(HOSTILE_IDS)))),
        )
    if kind == "wrong-type":
        return Change(
            kind, arrivals, group=draw(st.sampled_from(GROUP_ROLES)), variant=draw(st.integers(0, len(WRONG_TYPES) - 1))
        )
    return Change(kind, arrivals, variant=draw(st.integers(0, len(UNREADABLE_BODIES) - 1)))


def _set_description(record: dict[str, Any], text: str) -> bool:
    """Put `text` in the first rule description the record has room for; False when it names no rule range."""
    permissions = (record.get("requestParameters") or {}).get("ipPermissions")
    items = permissions.get("items") if isinstance(permissions, dict) else None
    for item in items if isinstance(items, list) else []:
        for ranges in ("ipRanges", "ipv6Ranges"):
            entries = (item.get(ranges) or {}).get("items") if isinstance(item.get(ranges), dict) else None
            if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                entries[0]["description"] = text
                return True
    return False


def _surrogate(record: dict[str, Any], where: str) -> None:
    """A lone surrogate, as json.loads reads "\\ud800": in the user agent, or in a rule's description."""
    if where == "description" and _set_description(record, "before \ud800 after"):
        return
    if where:
        record["userAgent"] = f"{record.get('userAgent', '')} \ud800"


def _oversize(change: Change, group_id: str, event_id: str, first_port: int) -> dict[str, Any]:
    """A Terraform apply's worth of rules on one group, each described by 255 emoji, by the same caller."""
    record = on_group(SSH_WORLD, group_id, event_id)
    rule = record["requestParameters"]["ipPermissions"]["items"][0]
    record["requestParameters"]["ipPermissions"]["items"] = [
        {**copy.deepcopy(rule), "fromPort": first_port + index, "toPort": first_port + index}
        | {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": EMOJI * 255}]}}
        for index in range(change.rules)
    ]
    record["responseElements"] = {"requestId": record["requestID"], "_return": True}
    if change.failed:
        record["errorCode"], record["errorMessage"] = "Client.UnauthorizedOperation", "You are not authorized."
        record["responseElements"] = None
    return record


def denied_group_set(group_ids: Sequence[str], event_id: str) -> dict[str, Any]:
    """A real ModifyNetworkInterfaceAttribute, denied, naming `group_ids` in its groupSet, in the emulated account."""
    record: dict[str, Any] = copy.deepcopy(GROUP_SET)
    record["requestParameters"]["groupSet"]["items"] = [{"groupId": group_id} for group_id in group_ids]
    record["errorCode"], record["errorMessage"] = "Client.UnauthorizedOperation", "You are not authorized."
    record["responseElements"] = None
    record["eventID"], record["recipientAccountId"], record["awsRegion"] = event_id, ACCOUNT, REGION
    return record


def _wrong_type(record: dict[str, Any], path: Sequence[str | int], value: Any) -> dict[str, Any]:
    node: Any = record
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return record


@dataclass(frozen=True)
class Delivery:
    """One SQS message as EventBridge puts it on the buffer: its body and the unit it accounts for."""

    body: str
    unit: str  # the eventID, or the message id of a body without one
    arrival: int


def records(change: Change, index: int, example: int, groups: Mapping[str, str]) -> list[tuple[str | None, str, bool]]:
    """The records a change brings, each as (its eventID or None when it has none to read, the body EventBridge puts
    on the buffer, whether sgwatch can read it)."""
    if change.kind == "unreadable":
        return [(None, UNREADABLE_BODIES[change.variant], False)]
    found: list[tuple[str | None, str, bool]] = []
    for sub in range(change.burst):
        event_id = f"e{example:04d}-{index:02d}-{sub:02d}00-0000-000000000000"
        readable = True
        if change.kind == "good":
            record = on_group(TEMPLATES[change.template], groups[change.group], event_id)
        elif change.kind == "oversize":
            record = _oversize(change, groups[change.group], event_id, 1000 + (index * 10 + sub) * 40)
        elif change.kind == "hostile-id" and change.group_set:
            hostile = (HOSTILE_IDS * 2)[change.variant : change.variant + change.group_set]
            record = denied_group_set(hostile, event_id)
        elif change.kind == "hostile-id":
            record = on_group(DENIED, HOSTILE_IDS[change.variant], event_id)
        else:
            path, value, unreadable = WRONG_TYPES[change.variant]
            record = _wrong_type(on_group(SSH_WORLD, groups[change.group], event_id), path, value)
            readable = not unreadable
        _surrogate(record, change.surrogate)
        found.append((event_id, json.dumps(eventbridge(record)), readable))  # ASCII: "\ud800" stays an escape
    return found


# ---------------------------------------------------------------- the edges, with faults hypothesis chooses


PUBLISH_FAULTS = ("transient", "throttled", "refused")
#: The share of publishes SNS accepts (percent), per example; the others fail in one of the ways above.
WEATHER = {"calm": 80, "flaky": 50, "stormy": 15}
ENRICH_FAULTS = ("pass", "pass", "raise", "error-facts")


@dataclass
class Accepted:
    """A publish SNS accepted, in the invocation that made it."""

    invocation: int
    subject: str
    message: str
    attributes: dict[str, Any]
    died_after: bool = False  # the function was killed right after SNS took it


class FaultySns:
    """The SNS client under SnsPublisher: each publish is accepted by moto or fails as SNS can fail (a generic error,
    throttling, InvalidParameter: a refusal), as drawn; and at the drawn publish, the function is killed before or
    after SNS takes it."""

    def __init__(
        self, real: Any, data: st.DataObject, weather: str, poisoned: set[str], death: tuple[int, str] | None
    ) -> None:
        self.real, self.data, self.poisoned, self.death = real, data, poisoned, death
        self.accepts = WEATHER[weather]
        self.invocation = 0
        self.calls = 0
        self.accepted: list[Accepted] = []

    def publish(self, **request: Any) -> Any:
        if any(event_id in request["Message"] for event_id in self.poisoned):
            raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter"}}, "Publish")
        self.calls += 1
        if self.death is not None and self.death[0] == self.calls:
            fault = f"die-{self.death[1]}"
        elif self.data.draw(st.integers(0, 99), label="publish") < self.accepts:
            fault = "accept"
        else:
            fault = self.data.draw(st.sampled_from(PUBLISH_FAULTS), label=f"publish fails ({self.invocation})")
        if fault == "transient":
            raise ConnectionResetError("connection reset by peer")
        if fault == "throttled":
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")
        if fault == "refused":
            raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter"}}, "Publish")
        if fault == "die-before":
            raise LambdaKilled
        response = self.real.publish(**request)
        self.accepted.append(
            Accepted(self.invocation, request["Subject"], request["Message"], request["MessageAttributes"])
        )
        if fault == "die-after":
            self.accepted[-1].died_after = True
            raise LambdaKilled
        return response


class FaultyEnricher:
    """The real Ec2Enricher, except that a call may raise, or return error facts for some of its groups."""

    def __init__(self, real: Ec2Enricher, data: st.DataObject) -> None:
        self.real, self.data = real, data

    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]:
        fault = self.data.draw(st.sampled_from(ENRICH_FAULTS), label="enrichment")
        if fault == "raise":
            raise RuntimeError("EC2 could not be reached")
        found = self.real.facts(group_ids, region, account)
        if fault == "error-facts":
            for group_id in group_ids:
                if self.data.draw(st.booleans(), label=f"error facts for {group_id!r}"):
                    found[group_id] = GroupFacts(group_id, error="Throttling: Rate exceeded")
        return found


class CountedClaims:
    """The real deduplicator, its answers counted (to see which paths an example took)."""

    def __init__(self, real: DynamoDeduplicator, counts: Counter[Claim]) -> None:
        self.real, self.counts = real, counts

    def claim(self, event_id: str) -> Claim:
        answer = self.real.claim(event_id)
        self.counts[answer] += 1
        return answer

    def done(self, event_ids: list[str]) -> None:
        self.real.done(event_ids)

    def release(self, event_ids: list[str]) -> None:
        self.real.release(event_ids)


class Metrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, value: float, unit: str = "Count", dimension: tuple[str, str] | None = None) -> None:
        self.counts[name] += 1


# ---------------------------------------------------------------- the buffer


@dataclass
class Message:
    message_id: str
    delivery: Delivery
    visible_at: float
    receives: int = 0
    sequence: int = 0


@dataclass
class Run:
    """What happened: dead letters, the invocations that died and the messages they held."""

    dead: list[Message] = field(default_factory=list)
    claims: Counter[Claim] = field(default_factory=Counter)
    died: set[int] = field(default_factory=set)
    held_by_dead: set[str] = field(default_factory=set)  # units of messages in an invocation that died
    invocations: int = 0


_EXAMPLE = itertools.count()
SETTINGS = PipelineSettings(publish_min_severity=Severity.INFO)


def sqs_record(message: Message, start: float) -> dict[str, Any]:
    """A buffer message as Lambda's SQS event source hands it to the function."""
    return {
        "messageId": message.message_id,
        "receiptHandle": f"{message.message_id}-{message.receives}",
        "body": message.delivery.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receives),
            "SentTimestamp": str(int((start + message.delivery.arrival) * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sgwatch-buffer",
        "awsRegion": REGION,
    }


def run_buffer(
    messages: list[Message],
    account: Account,
    data: st.DataObject,
    sns: FaultySns,
    start: float,
) -> Run:
    """Lambda's SQS event source over the model buffer, until every message is deleted or dead-lettered."""
    run = Run()
    now = start

    def clock() -> float:
        """The model's time, read by the deduplicator and the enricher."""
        return now

    def wall_clock() -> datetime:
        """The same time, as the pipeline reads it (publishedAt, detection latency)."""
        return datetime.fromtimestamp(now, UTC)

    def container() -> tuple[FaultyEnricher, SnsPublisher, CountedClaims]:
        """A fresh execution environment, as after a cold start: the enricher's cache is empty."""
        ec2 = Ec2Enricher(
            account.ec2,
            clock=clock,
            client_for=lambda region, _account: boto3.client("ec2", region_name=region),
            home_account=ACCOUNT,
        )
        dedup = DynamoDeduplicator(account.dynamodb, account.table, stale_seconds=CLAIM_STALE_SECONDS, clock=clock)
        publisher = SnsPublisher(sns, account.topic_arn, structured=True)
        return FaultyEnricher(ec2, data), publisher, CountedClaims(dedup, run.claims)

    enricher, publisher, deduplicator = container()
    waiting = list(messages)
    while waiting:
        visible = sorted((m for m in waiting if m.visible_at <= now), key=lambda m: (m.visible_at, m.sequence))
        if not visible:
            now = min(m.visible_at for m in waiting)
            continue
        most = min(BATCH_SIZE, len(visible))  # a backlog fills batches; a trickle (or the batching window) does not
        size = data.draw(st.one_of(st.just(most), st.integers(1, most)), label="batch size")
        first = data.draw(st.integers(0, len(visible) - 1), label="batch starts at") if size < len(visible) else 0
        batch = (visible[first:] + visible[:first])[:size]
        for message in batch:
            message.receives += 1
        run.invocations += 1
        sns.invocation = run.invocations
        event = {"Records": [sqs_record(message, start) for message in batch]}
        ids = [message.message_id for message in batch]
        try:
            outcome = process_batch(
                event,
                enricher=enricher,
                publisher=publisher,
                metrics=Metrics(),
                logger=handler.logger,
                settings=SETTINGS,
                clock=wall_clock,
                deduplicator=deduplicator,
            )
        except LambdaKilled:
            failed = set(ids)
            run.died.add(run.invocations)
            run.held_by_dead.update(message.delivery.unit for message in batch)
            note(f"t={now:.0f} invocation {run.invocations} {ids}: killed")
            enricher, publisher, deduplicator = container()
        else:
            failed = set(outcome.failed_message_ids)
            assert failed <= set(ids), f"batchItemFailures names messages not in the batch: {failed - set(ids)}"
            assert outcome.suppressed == 0, "an alert below INFO: every change should be published at INFO"
            note(f"t={now:.0f} invocation {run.invocations} {ids}: failed {sorted(failed)}")
        for message in batch:
            if message.message_id not in failed:
                waiting.remove(message)
            elif message.receives >= MAX_RECEIVES:
                waiting.remove(message)
                run.dead.append(message)
            else:
                message.visible_at = now + VISIBILITY_TIMEOUT
        now += data.draw(st.integers(1, 30), label="seconds the invocation took")
    return run


# ---------------------------------------------------------------- what SNS received


_INERT = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_MESSAGE_ID = re.compile(r"sqs message (m\d+-\d+)")


@dataclass(frozen=True)
class Received:
    """An alert: its subject, its JSON document (what a queue subscriber gets), its attributes, and what an email
    subscriber got for the same publish."""

    subject: str
    document: str
    attributes: dict[str, dict[str, str]]  # as SNS delivers them: {"Type": ..., "Value": ...}
    sns_id: str = ""
    email: Email | None = None

    def payload(self) -> dict[str, Any]:
        value = json.loads(self.document)
        assert isinstance(value, dict), f"the JSON document is not an object: {self.subject!r}"
        return value

    def event_ids(self) -> list[str]:
        """The events the alert names in its JSON document: results (or their stubs), or the minimal form's
        eventIDs."""
        payload = self.payload()
        if payload.get("minimal"):
            return [str(event_id) for event_id in payload["eventIDs"]]
        assert "omittedResults" not in payload, f"an alert that names none of its events: {self.subject!r}"
        return [str(result["eventID"]) for result in payload["results"] if result.get("eventID")]

    def message_ids(self) -> list[str]:
        """The SQS messages an unreadable-record alert names (in its results' source)."""
        payload = self.payload()
        return [
            found.group(1)
            for result in payload.get("results", [])
            if result.get("error")
            for found in [_MESSAGE_ID.search(str(result.get("source", "")))]
            if found
        ]

    @property
    def minimal(self) -> bool:
        return bool(self.payload().get("minimal"))

    @property
    def unreadable(self) -> bool:
        """A full alert about an unreadable record (a minimal alert does not say)."""
        return not self.minimal and any("error" in result for result in self.payload()["results"])


def check_sns_limits(received: Received) -> None:
    """What SNS takes and a person or a parser can read."""
    subject, email = received.subject, received.email
    assert email is not None, f"no email text was published for {subject!r}"
    inert = sorted({f"U+{ord(c):04X}" for c in email.text if c != "\n" and unicodedata.category(c) in _INERT})
    assert not inert, f"raw control, format, surrogate or separator characters {inert} in the text of {subject!r}"
    assert received.document.isascii(), f"a JSON document that is not ASCII: {subject!r}"
    size = len(subject.encode()) + email.message_bytes
    size += sum(
        len(name.encode()) + len(a["Type"].encode()) + len(a["Value"].encode())
        for name, a in received.attributes.items()
    )
    assert size <= SNS_LIMIT, f"{size} bytes published (SNS takes {SNS_LIMIT}): {subject!r}"
    assert 1 <= len(subject) <= 100, f"subject of {len(subject)} characters: {subject!r}"
    assert all(" " <= char <= "~" for char in subject), f"subject not one line of printable ASCII: {subject!r}"
    severity = received.payload()["severity"]
    assert received.attributes[names.ATTRIBUTE_SEVERITY]["Value"] == severity, f"attributes disagree: {subject!r}"
    assert received.attributes[names.ATTRIBUTE_SEVERITY_RANK]["Value"] == str(int(Severity[severity]))


def read_inbox(account: Account) -> list[Received]:
    """Every alert SNS delivered to the inbox subscription; checks that the email subscription (the stack's filter
    policy) got exactly those of EMAIL_MIN and up."""
    found = []
    for message in drain(account.sqs, account.inbox_url):
        envelope = json.loads(message["Body"])
        attributes = envelope.get("MessageAttributes", {})
        sns_id = envelope["MessageId"]
        found.append(
            Received(
                envelope.get("Subject", ""), envelope["Message"], attributes, sns_id, account.outbox.sent.get(sns_id)
            )
        )
    emailed = {json.loads(message["Body"])["MessageId"] for message in drain(account.sqs, account.email_url)}
    ranked = {
        alert.sns_id for alert in found if int(alert.attributes[names.ATTRIBUTE_SEVERITY_RANK]["Value"]) >= EMAIL_MIN
    }
    assert emailed == ranked, "the email subscription did not get exactly the alerts of its severities"
    return found


# ---------------------------------------------------------------- the property


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios(), data=st.data())
def test_every_change_is_alerted_once_or_dead_lettered(
    account: Account, scenario: Scenario, data: st.DataObject
) -> None:
    example = next(_EXAMPLE)
    account.lost_log_lines.clear()
    drain(account.sqs, account.inbox_url)  # nothing left over from an example that failed
    drain(account.sqs, account.email_url)
    start = 1_900_000_000.0 + example * 100_000
    messages: list[Message] = []
    readable: dict[str, int] = {}  # eventID -> deliveries, readable records
    unreadable_ids: dict[str, int] = {}  # eventID -> deliveries, unreadable records that carry one
    anonymous: set[str] = set()  # message ids of bodies with no eventID
    for index, change in enumerate(scenario.changes):
        for sub, (tracked, body, is_readable) in enumerate(records(change, index, example, account.groups)):
            for copy_index, arrival in enumerate(change.arrivals):
                message_id = f"m{example:04d}-{index:02d}{sub:02d}{copy_index}"
                if tracked is None:
                    anonymous.add(message_id)
                elif is_readable:
                    readable[tracked] = readable.get(tracked, 0) + 1
                else:
                    unreadable_ids[tracked] = unreadable_ids.get(tracked, 0) + 1
                delivery = Delivery(body, tracked or message_id, arrival)
                messages.append(Message(message_id, delivery, start + arrival, sequence=len(messages)))
    note(f"scenario: {scenario}")
    poisoned = {f"e{example:04d}-{index:02d}-" for index, change in enumerate(scenario.changes) if change.poisoned}
    sns = FaultySns(account.sns, data, scenario.weather, poisoned, scenario.death)
    run = run_buffer(messages, account, data, sns, start)

    received = read_inbox(account)
    assert not account.lost_log_lines, f"the function's log lines could not be written: {account.lost_log_lines}"
    assert len(received) == len(sns.accepted), "SNS accepted publishes that its subscriber did not get"
    for alert in received:
        check_sns_limits(alert)

    published: Counter[str] = Counter()
    anonymous_published = 0
    for alert in received:
        units = alert.event_ids() or alert.message_ids()
        published.update(units)
        anonymous_published += not units
        for event_id in alert.event_ids():
            assert event_id in readable or event_id in unreadable_ids, f"an alert names an unknown event {event_id}"
            assert alert.minimal or alert.unreadable == (event_id in unreadable_ids), (
                f"{event_id} alerted as {'unreadable' if alert.unreadable else 'readable'}: {alert.subject!r}"
            )
    dead = Counter(message.delivery.unit for message in run.dead)

    died_after: Counter[str] = Counter()  # accepted by the very publish call that was then killed
    in_dead_invocation: Counter[str] = Counter()  # accepted by an invocation that later died
    anonymous_in_dead_invocation = 0
    for accepted in sns.accepted:
        alert = Received(accepted.subject, json.loads(accepted.message)["default"], {})
        units = alert.event_ids() or alert.message_ids()
        if accepted.died_after:
            died_after.update(units)
        if accepted.invocation in run.died:
            in_dead_invocation.update(units)
            anonymous_in_dead_invocation += not units
    note(f"published {dict(published)}; dead {dict(dead)}; died {sorted(run.died)}")
    event(f"invocations that died: {len(run.died)}")
    event(f"dead letters: {'some' if run.dead else 'none'}")
    event(f"theme: {scenario.theme}, weather: {scenario.weather}")
    event(f"claims found in flight: {'some' if run.claims[Claim.IN_FLIGHT] else 'none'}")
    event(f"duplicates suppressed: {'some' if run.claims[Claim.ALERTED] else 'none'}")
    event(f"minimal alerts: {'some' if any(alert.minimal for alert in received) else 'none'}")
    largest = max((alert.email.message_bytes for alert in received if alert.email), default=0)
    event(f"largest message: {'over' if largest > 200_000 else 'under'} 200 kB")

    for event_id, copies in (readable | unreadable_ids).items():
        assert published[event_id] or dead[event_id], f"{event_id} lost: neither alerted nor dead-lettered"
        if any(event_id.startswith(prefix) for prefix in poisoned):
            assert dead[event_id] and not published[event_id], f"{event_id}: every publish failed, yet not dead"
        assert published[event_id] <= 1 + died_after[event_id], f"{event_id} alerted {published[event_id]} times"
        if published[event_id] and dead[event_id]:
            assert copies > 1 or event_id in run.held_by_dead, f"{event_id} alerted and dead-lettered"
    # Bodies with no eventID: each is an alert naming its message, a dead letter, or one of the minimal alerts that
    # name nothing. Only an invocation that published some of them and then died adds alerts (nothing to claim).
    uncovered = 0
    for message_id in anonymous:
        total = published[message_id] + dead[message_id]
        assert total <= 1 + in_dead_invocation[message_id], f"unreadable message {message_id} alerted twice"
        uncovered += total == 0
    assert anonymous_published >= uncovered, f"{uncovered - anonymous_published} unreadable bodies lost"
    accounted = anonymous_published + sum(published[message_id] + dead[message_id] for message_id in anonymous)
    extra = anonymous_in_dead_invocation + sum(in_dead_invocation[message_id] for message_id in anonymous)
    assert accounted <= len(anonymous) + extra, "more alerts and dead letters than unreadable bodies"


def test_the_model_is_the_stack() -> None:
    """The model's timings are the stack's: a dead invocation's claim is stale when its messages come back."""
    assert CLAIM_STALE_SECONDS == VISIBILITY_TIMEOUT - BATCH_WINDOW_SECONDS - FUNCTION_TIMEOUT
    assert 0 < CLAIM_STALE_SECONDS < VISIBILITY_TIMEOUT
    assert (MAX_RECEIVES, BATCH_SIZE) == (5, 10)  # cdk.json's defaults when this model was written


# ---------------------------------------------------------------- single cases the property's inputs stop short of


def publish_batch(account: Account, bodies: Sequence[str], first: int = 0) -> tuple[list[str], list[Received]]:
    """One invocation with the real edges and no faults: the failed message ids, and what SNS received."""
    drain(account.sqs, account.inbox_url)
    drain(account.sqs, account.email_url)
    enricher = Ec2Enricher(account.ec2, home_account=ACCOUNT)
    deduplicator = DynamoDeduplicator(account.dynamodb, account.table, stale_seconds=CLAIM_STALE_SECONDS)
    batch = [Message(f"single-{first + index}", Delivery(body, "", 0), 0.0) for index, body in enumerate(bodies)]
    outcome = process_batch(
        {"Records": [sqs_record(message, 0.0) for message in batch]},
        enricher=enricher,
        publisher=SnsPublisher(account.sns, account.topic_arn, structured=True),
        metrics=Metrics(),
        logger=handler.logger,
        settings=SETTINGS,
        deduplicator=deduplicator,
    )
    return outcome.failed_message_ids, read_inbox(account)


_SINGLE = itertools.count()


def _event_id() -> str:
    return f"single-{next(_SINGLE):04d}-0000-0000-000000000000"


@pytest.mark.parametrize("length", [12_000, 21_000])
def test_a_failed_call_with_a_long_group_id_is_published_whole(account: Account, length: int) -> None:
    """A denied call records whatever group id the caller typed. Its alert must still fit SNS and name its event.

    Where the JSON document's last resort drops every result, eventIDs included, and keeps the group ids whole, 12,000
    emoji give an alert that names no event, and 21,000 one of 269,000 bytes of UTF-8, more than SNS takes (moto
    counts characters and lets it through; AWS refuses it and only the minimal form goes out)."""
    event_id = _event_id()
    record = on_group(DENIED, "sg-" + EMOJI * length, event_id)
    failed, received = publish_batch(account, [json.dumps(eventbridge(record))])
    assert not failed
    assert len(received) == 1
    check_sns_limits(received[0])
    assert received[0].event_ids() == [event_id]


def test_a_denied_group_set_of_long_ids_still_names_its_event(account: Account) -> None:
    """A denied ModifyNetworkInterfaceAttribute naming 20 groups, each id 2,048 U+202E (124 KB of UTF-8). Its alert
    must name its event in the JSON document, which has room for it: a stub of the one result is some 100 bytes.

    Where the JSON document carries each group's facts with its whole id (12 KB once escaped), even the stubbed form
    does not fit, and a last resort that empties results and groups alike ("results": [], "omittedResults": 1, in a
    message of 49 KB) leaves the SIEM or the automation reading the JSON no eventID."""
    event_id = _event_id()
    record = denied_group_set([f"sg-{index:03d}" + "\u202e" * 2044 for index in range(20)], event_id)
    failed, received = publish_batch(account, [json.dumps(eventbridge(record))])
    assert not failed
    assert len(received) == 1
    check_sns_limits(received[0])
    assert received[0].event_ids() == [event_id]


def test_a_denied_group_set_of_thousands_of_ids_still_names_its_event(account: Account) -> None:
    """A denied ModifyNetworkInterfaceAttribute naming 10,000 groups with short ids that EC2 would not take (about
    200 KB as the buffer holds it). Each id gets facts of its own ("not a security group id that EC2 accepts"):
    1 MB of them in the JSON document, and the head's list of group ids alone is 90 KB. The alert must still fit SNS and
    name its event: the groups' facts are given up before any result's stub, then the group ids past the first 20.

    Where the last resort drops every result instead, the alert names no event."""
    event_id = _event_id()
    body = json.dumps(eventbridge(denied_group_set([f"x{index}" for index in range(10_000)], event_id)))
    assert len(body.encode()) < 256 * 1024  # what EventBridge delivers
    failed, received = publish_batch(account, [body])
    assert not failed
    assert len(received) == 1
    check_sns_limits(received[0])
    assert received[0].event_ids() == [event_id]
    payload = received[0].payload()
    assert payload["omittedGroups"] == 10_000 and payload["groups"] == []
    assert payload["truncated"] is True


@pytest.mark.parametrize("batches", [[1, 1], [2]], ids=["in two invocations", "in one batch"])
def test_a_redelivered_unreadable_record_is_alerted_once(account: Account, batches: list[int]) -> None:
    """EventBridge delivers at least once: the same unreadable record (a port written "ssh") in two messages is one
    change with one eventID, alerted once, like a readable record delivered twice: whether the copies come in two
    invocations (the deduplication table) or in one batch (the batch's own claims)."""
    event_id = _event_id()
    record = on_group(SSH_WORLD, account.groups["plain"], event_id)
    record["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "ssh"
    body = json.dumps(eventbridge(record))
    alerts = [
        alert
        for index, size in enumerate(batches)
        for alert in publish_batch(account, [body] * size, first=index * 10)[1]
    ]
    assert [alert.unreadable for alert in alerts] == [True] * len(alerts)
    assert [event_id for alert in alerts for event_id in alert.event_ids()] == [event_id]


#: One invocation in a fresh interpreter, as the function runs it (the deployed logger, the pipeline) with the edges
#: answering as they do for these records (EC2 takes no such group id; SNS takes the alert): its outcome, the CPU
#: time it took and the interpreter's own peak memory (VmHWM; ru_maxrss would carry the forking pytest's RSS).
_INVOCATION = """
import json, re, resource, sys
from sgwatch.runtime import handler
from sgwatch.core.enrich import GroupFacts
from sgwatch.runtime.pipeline import PipelineSettings, process_batch

class Enricher:
    def facts(self, group_ids, region="", account=""):
        return {group: GroupFacts(group, error="not a security group id that EC2 accepts") for group in group_ids}

class Publisher:
    published = []
    def publish(self, subject, message, attributes):
        self.published.append(len(message.encode()))

class Metrics:
    def add(self, *args, **kwargs):
        pass

handler.logger.registered_handler.setStream(open("/dev/null", "w", encoding="utf-8"))
event = json.load(open(sys.argv[1]))
publisher = Publisher()
outcome = process_batch(
    event, enricher=Enricher(), publisher=publisher, metrics=Metrics(), logger=handler.logger,
    settings=PipelineSettings(),
)
usage = resource.getrusage(resource.RUSAGE_SELF)
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"failed": outcome.failed_message_ids, "published": publisher.published,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_mib": peak / 1024}))
"""


def test_a_batch_of_denied_calls_fits_the_function(tmp_path: Path) -> None:
    """A batch of ten denied AuthorizeSecurityGroupIngress calls by one caller on one group, each with 1,000 rules and
    a group id of 2,048 U+202E (the most text a record keeps; an ARN's length): 119 KB each as the buffer holds it,
    within EventBridge's 256 KB, and any principal can make such calls. The invocation must fit the function: its
    60 s (at 256 MB, about 8.7 s of one full core: Lambda gives CPU in proportion to memory) and its 256 MB.
    Otherwise it is killed on every receive, and the ten messages end in the dead letters with any other change that
    shares their batches.

    Every one of the 10,000 changes carries the group id and every reason repeats it, 12 KB each once escaped for
    JSON. Encoding all the results whole to assemble the JSON document, even those it then gives up, took about 800 MB
    at the peak and 5.8 s of CPU; encoding no more of them than the message holds, about 150 MB and 3 s (the same
    batch with a short group id: 55 MB, 1 s of CPU)."""
    batch: list[dict[str, Any]] = []
    for index in range(BATCH_SIZE):
        record = on_group(DENIED, "sg-" + "\u202e" * 2045, _event_id())
        record["requestParameters"]["ipPermissions"]["items"] = [
            {"ipProtocol": "tcp", "fromPort": port, "toPort": port, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
            for port in range(1, 1001)
        ]
        body = json.dumps(eventbridge(record))
        assert len(body.encode()) < 256 * 1024
        batch.append(sqs_record(Message(f"denied-{index}", Delivery(body, "", 0), 0.0), 0.0))
    (tmp_path / "batch.json").write_text(json.dumps({"Records": batch}))
    completed = subprocess.run(
        [sys.executable, "-c", _INVOCATION, str(tmp_path / "batch.json")],
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},  # the code under test, whatever is installed
        capture_output=True,
        text=True,
        timeout=20 * FUNCTION_CPU_SECONDS,
        check=True,
    )
    outcome = json.loads(completed.stdout.splitlines()[-1])
    print(f"{outcome['cpu']:.2f} s of CPU, {outcome['peak_mib']:.0f} MiB at the peak")  # shown by pytest -s
    assert outcome["failed"] == []
    assert len(outcome["published"]) == 1
    assert outcome["cpu"] <= FUNCTION_CPU_SECONDS, f"{outcome['cpu']:.1f} s of CPU: the function times out"
    assert outcome["peak_mib"] <= FUNCTION_MEMORY_MB, f"{outcome['peak_mib']:.0f} MiB: the function runs out of memory"


@pytest.mark.parametrize("where", ["userAgent", "description"])
def test_a_lone_surrogate_does_not_cost_the_log_line(account: Account, where: str) -> None:
    """The function's log is where an alert's details are when SNS gets only its minimal form. A lone surrogate,
    which json.loads reads from "\\ud800" in a record, must not make a log line fail to encode on Lambda's UTF-8
    stdout (logging would print a traceback and drop the line)."""
    event_id = _event_id()
    record = on_group(SSH_WORLD, account.groups["plain"], event_id)
    _surrogate(record, where)
    account.lost_log_lines.clear()
    failed, received = publish_batch(account, [json.dumps(eventbridge(record))])
    assert not failed
    assert [alert.event_ids() for alert in received] == [[event_id]]
    assert not account.lost_log_lines
