"""Alerts always fit and always go out: sizes in UTF-8 bytes, failures bounded to one alert, no death loses one."""

from __future__ import annotations

import copy
import io
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from sgwatch.core import alerts, names
from sgwatch.core.alerts import Alert, publication
from sgwatch.core.classify import classify
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.errors import ConfigError
from sgwatch.core.severity import Severity
from sgwatch.emulation.account import create_dedup_table
from sgwatch.runtime import handler, pipeline
from sgwatch.runtime.aws import DynamoDeduplicator
from sgwatch.runtime.pipeline import PipelineSettings, process_batch
from sgwatch.runtime.ports import Claim
from sgwatch.runtime.settings import settings_from_env

from tests.conftest import FIXTURES, REAL_RECORDS, load
from tests.e2e.conftest import LambdaContext, World, eventbridge, on_group, sqs_event

SNS_LIMIT = 262_144  # bytes of UTF-8, message and attributes together
HERE = FIXTURES / "alerts"
EMOJI_RULES = load(HERE / "failed_ingress_40_rules_emoji_descriptions.json")
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
DENIED = load(
    REAL_RECORDS / "panther-analysis/manualsgchange__authorize_ingress_console_error_unauthorizedoperation.json"
)
GROUP_SET = load(
    REAL_RECORDS / "netebakari-cloudtrail-lambda/modify_network_interface_attribute_groupset_three_groups_console.json"
)
EMOJI = "\U0001f600"


def sns_size(subject: str, message: str, attributes: dict[str, Any]) -> int:
    size = len(subject.encode()) + len(message.encode())
    return size + sum(len(name.encode()) + len(json.dumps(value).encode()) for name, value in attributes.items())


def document_of(message: str) -> Any:
    """The JSON document of a published message: its body for every protocol but email."""
    return json.loads(json.loads(message)["default"])


def same_caller(record: dict[str, Any], group: str, event_id: str) -> dict[str, Any]:
    """The record made by SSH_WORLD's caller on `group`: one actor, one group, so one alert."""
    moved = copy.deepcopy(record)
    for key in ("userIdentity", "userAgent", "sourceIPAddress", "awsRegion", "recipientAccountId"):
        moved[key] = SSH_WORLD[key]
    moved["requestParameters"]["groupId"] = group
    moved["eventID"] = event_id
    return moved


def on_ports(record: dict[str, Any], offset: int) -> dict[str, Any]:
    """The same rules, on other ports: every attempted rule is a reason of its own."""
    for permission in record["requestParameters"]["ipPermissions"]["items"]:
        permission["fromPort"] = permission["toPort"] = permission["fromPort"] + offset
    return record


def test_multibyte_descriptions_cannot_push_a_critical_past_the_sns_limit() -> None:
    group = SSH_WORLD["requestParameters"]["groupId"]
    failed = [on_ports(same_caller(EMOJI_RULES, group, f"failed-{index}"), 100 * index) for index in range(9)]
    results = tuple(classify(record) for record in [*failed, SSH_WORLD])
    many_tags = {f"tag-{index:02}-" + "\u00e9" * 200: "\U0001f525" * 256 for index in range(50)}
    facts = (GroupFacts(group, name="web", vpc_id="vpc-1", tags=many_tags, interface_count=3),)
    rendered = publication(Alert(results, facts), published_at=datetime(2026, 11, 29, tzinfo=UTC))
    assert sns_size(rendered.subject, rendered.message, rendered.attributes) <= SNS_LIMIT
    assert rendered.subject.startswith("CRITICAL: add 22/tcp from 0.0.0.0/0")
    # the CRITICAL is first in both parts: what the limit cut is the least severe
    assert "[CRITICAL] SSH (22/tcp) opened to the whole internet" in rendered.text
    payload = document_of(rendered.message)
    assert payload["truncated"] is True
    assert payload["results"][0]["eventID"] == SSH_WORLD["eventID"]
    assert payload["results"][0]["severity"] == "CRITICAL"
    assert {result["eventID"] for result in payload["results"]} == {result.event_id for result in results}
    assert all("tags" not in group for group in payload["groups"])


def test_the_json_document_is_whole_json_whatever_is_cut() -> None:
    """Results with every kind of escape (quotes, backslashes, surrogates, separators) near every cut point."""
    group = SSH_WORLD["requestParameters"]["groupId"]
    nasty = '"\\\ud800\u2028\U0001f525\x00'
    for size in (50, 200, 254):
        record = same_caller(EMOJI_RULES, group, f"json-{size}")
        for permission in record["requestParameters"]["ipPermissions"]["items"]:
            permission["ipRanges"]["items"][0]["description"] = (nasty * size)[:255]
        results = tuple(classify(same_caller(record, group, f"json-{size}-{copy}")) for copy in range(12))
        rendered = publication(Alert((*results, classify(SSH_WORLD))))
        assert len(rendered.message.encode()) <= alerts.MAX_MESSAGE_BYTES
        assert document_of(rendered.message)["severity"] == "CRITICAL"
        assert json.loads(rendered.message) == {"default": rendered.document, "email": rendered.text}


def _denied(record: dict[str, Any], event_id: str, group_ids: list[str], rules: int = 0) -> dict[str, Any]:
    """`record` (a real denied call's) by SSH_WORLD's caller, naming `group_ids` (its groupId, or its groupSet), with
    `rules` rules of its own when asked."""
    denied = same_caller(record, group_ids[0], event_id)
    denied["errorCode"], denied["responseElements"] = "Client.UnauthorizedOperation", None
    if "groupSet" in denied["requestParameters"]:
        del denied["requestParameters"]["groupId"]
        denied["requestParameters"]["groupSet"]["items"] = [{"groupId": group} for group in group_ids]
    if rules:
        denied["requestParameters"]["ipPermissions"]["items"] = [
            {"ipProtocol": "tcp", "fromPort": port, "toPort": port, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
            for port in range(1, rules + 1)
        ]
    return denied


@pytest.mark.parametrize("long_ids", [False, True], ids=["short event ids", "event ids of 250 emoji"])
def test_a_batch_at_every_limit_names_every_event(long_ids: bool) -> None:
    """The most a batch's alert can hold against its JSON document: a text filled to its budget by distinct reasons,
    links as long as they are kept, and 25 group ids of 2,048 emoji (12 bytes each once escaped for JSON, 14 once
    escaped again into the message), each with facts. Ten results, as a batch brings at most: the message fits, and
    its document names every event. With event ids as long as a failed call's can be, the ten event links are kept as
    long as they fit too, and the stubs of ten such ids outweigh the head's 20 group ids: the ids give way, not an
    event (before, the links were outside the text's budget and one stub was dropped)."""
    groups = ["sg-" + chr(0x1F600 + index) * 2045 for index in range(25)]
    event_ids = [f"limit-{index}" + ("-" + "\U0001f525" * 250 if long_ids else "") for index in range(10)]
    records = [_denied(DENIED, event_ids[index], [groups[index]], rules=300) for index in range(5)]
    records += [_denied(GROUP_SET, event_ids[5 + index], groups[5 + 4 * index : 9 + 4 * index]) for index in range(5)]
    results = tuple(classify(record) for record in records)
    facts = tuple(GroupFacts(group, error="not a security group id that EC2 accepts") for group in groups)
    rendered = publication(Alert(results, facts), published_at=datetime(2026, 11, 29, tzinfo=UTC))
    assert len(rendered.message.encode()) <= alerts.MAX_MESSAGE_BYTES
    assert len(json.dumps(rendered.text)) > alerts.MAX_MESSAGE_BYTES * 0.45  # the text took about all it may
    payload = document_of(rendered.message)
    assert {result["eventID"] for result in payload["results"]} == {alerts._clip(event_id) for event_id in event_ids}
    assert payload["truncated"] is True and "omittedResults" not in payload


def test_more_results_than_stubs_fit_keep_the_most_severe_stubs() -> None:
    """An alert of a log file's worth of changes (not a batch's: those have ten at most) whose stubs alone exceed the
    JSON document: it names the most severe events first and counts the others, and still fits."""
    group = SSH_WORLD["requestParameters"]["groupId"]
    quiet = [classify(_denied(GROUP_SET, f"quiet-{index:04d}-" + "q" * 200, [group])) for index in range(1500)]
    results = (*quiet, classify(SSH_WORLD))
    rendered = publication(Alert(results))
    assert len(rendered.message.encode()) <= alerts.MAX_MESSAGE_BYTES
    payload = document_of(rendered.message)
    named = [result["eventID"] for result in payload["results"]]
    assert named[0] == SSH_WORLD["eventID"] and payload["results"][0]["severity"] == "CRITICAL"
    assert named == [result.event_id for result in Alert(results).ranked][: len(named)]
    assert 0 < payload["omittedResults"] == len(results) - len(named)


def test_a_lone_surrogate_fails_neither_its_alert_nor_the_others(world: World) -> None:
    hostile = on_group(SSH_WORLD, world.open_group)
    hostile["userAgent"] = "\ud800-tool/1.0 aws"  # no known client: its first word is shown, a lone surrogate
    other = on_group(SSH_WORLD, world.app_group)
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    log = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # strict, as the function's stdout is
    previous = log_handler.setStream(log)
    try:
        response = handler.lambda_handler(sqs_event(eventbridge(hostile), eventbridge(other)), LambdaContext())
    finally:
        log_handler.setStream(previous)
    assert response == {"batchItemFailures": []}
    published = world.received(world.inbox_url)
    assert len(published) == 2
    assert all(json.loads(message["Message"])["severity"] == "CRITICAL" for message in published)
    assert any("via \\ud800-tool/1.0" in message["Email"] for message in published)
    log.flush()
    raw = log.buffer
    assert isinstance(raw, io.BytesIO)
    logged = [json.loads(line) for line in raw.getvalue().decode().splitlines()]
    changes = [line["result"] for line in logged if line["message"] == "security-group change"]
    assert {change["via"] for change in changes} == {"\ud800-tool/1.0", "Terraform 1.13.5"}  # both logged in full


def test_a_rendering_defect_costs_the_full_text_of_one_alert_not_the_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = on_group(SSH_WORLD, world.open_group)
    real = alerts.publication

    def fail_on_one(alert: Alert, **kwargs: Any) -> alerts.Publication:
        if alert.first.event_id == broken["eventID"]:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(alert, **kwargs)

    monkeypatch.setattr(pipeline, "publication", fail_on_one)
    other = on_group(SSH_WORLD, world.app_group)
    response = handler.lambda_handler(sqs_event(eventbridge(broken), eventbridge(other)), LambdaContext())
    assert response == {"batchItemFailures": []}
    by_event = {
        event_id: message
        for message in world.received(world.inbox_url)
        for event_id in [json.loads(message["Message"]).get("eventIDs", [None])[0]]
        + [result["eventID"] for result in json.loads(message["Message"]).get("results", [])]
        if event_id
    }
    minimal = by_event[broken["eventID"]]
    assert json.loads(minimal["Message"])["minimal"] is True
    assert "details are in the function's log" in minimal["Email"]
    assert minimal["Subject"].startswith("CRITICAL:")
    assert "minimal" not in json.loads(by_event[other["eventID"]]["Message"])


def test_a_message_sns_refuses_is_published_in_minimal_form(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    record = on_group(SSH_WORLD, world.open_group)
    client = world.clients.home["sns"]
    real = client.publish
    refused: list[str] = []

    def refuse_the_full_message(**kwargs: Any) -> Any:
        if kwargs.get("MessageStructure") == "json" and "minimal" not in document_of(kwargs["Message"]):
            refused.append(kwargs["Message"])
            raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Message too long"}}, "Publish")
        return real(**kwargs)

    monkeypatch.setattr(client, "publish", refuse_the_full_message)
    response = handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext())
    assert response == {"batchItemFailures": []}
    assert len(refused) == 1
    [alert] = world.received(world.inbox_url)
    payload = json.loads(alert["Message"])
    assert payload["minimal"] is True and payload["eventIDs"] == [record["eventID"]]
    assert f"Events:   {record['eventID']}" in alert["Email"]
    assert alert["MessageAttributes"]["severity"]["Value"] == "CRITICAL"


def test_the_minimal_form_names_severity_place_groups_and_events() -> None:
    results = (classify(SSH_WORLD),)
    rendered = alerts.minimal_publication(Alert(results))
    payload = document_of(rendered.message)
    assert payload == {
        "schemaVersion": alerts.SCHEMA_VERSION,
        "severity": "CRITICAL",
        "account": SSH_WORLD["recipientAccountId"],
        "region": SSH_WORLD["awsRegion"],
        "groupIds": [SSH_WORLD["requestParameters"]["groupId"]],
        "eventIDs": [SSH_WORLD["eventID"]],
        "minimal": True,
    }
    assert rendered.subject.isascii() and len(rendered.subject) <= alerts.MAX_SUBJECT


def test_a_transient_publish_failure_is_retried_not_degraded(world: World) -> None:
    record = on_group(SSH_WORLD, world.open_group)
    with Stubber(world.clients.home["sns"]) as stubber:
        stubber.add_client_error("publish", "Throttled", "slow down", http_status_code=400)
        response = handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext()) == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert "minimal" not in json.loads(alert["Message"])


def test_a_record_nested_too_deeply_is_an_unreadable_record_not_a_retry(world: World) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = handler.lambda_handler(sqs_event(deep), LambdaContext())
    assert response == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert alert["Subject"].startswith("MEDIUM: unreadable security-group record")
    assert "nested too deeply" in alert["Email"]


class Died(BaseException):
    """The invocation ends between claim and publish: a timeout, out of memory. Nothing in it runs any more."""


class DyingPublisher:
    def __init__(self, inner: Any) -> None:
        self.inner, self.dies = inner, True
        self.published: list[str] = []

    def publish(self, subject: str, message: str, attributes: Any) -> None:
        if self.dies:
            self.dies = False
            raise Died
        self.published.append(message)


class NoFacts:
    def facts(self, group_ids: Any, region: str = "", account: str = "") -> dict[str, GroupFacts]:
        return {}


class Silent:
    def add(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_a_death_between_claim_and_publish_is_alerted_on_redelivery() -> None:
    """Before: the redelivered message found the pending claim, took it for "already alerted" and was deleted."""
    stale = 280
    now = [1_800_000_000.0]
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        store = DynamoDeduplicator(dynamodb, create_dedup_table(dynamodb), stale_seconds=stale, clock=lambda: now[0])
        publisher = DyingPublisher(None)
        record = dict(SSH_WORLD, eventID=str(uuid.uuid4()))
        batch = sqs_event(eventbridge(record))

        def deliver() -> dict[str, Any]:
            outcome = process_batch(
                batch, enricher=NoFacts(), publisher=publisher, metrics=Silent(), logger=Silent(),
                settings=PipelineSettings(publish_min_severity=Severity.LOW), deduplicator=store,
            )  # fmt: skip
            return outcome.response

        with pytest.raises(Died):
            deliver()  # claimed, then killed: SQS will deliver the whole batch again
        now[0] += 30  # redelivered while the claim is fresh (another invocation may still hold it)
        assert deliver() == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
        assert publisher.published == []
        now[0] += stale  # the visibility timeout passed again: the dead invocation's claim is stale
        assert deliver() == {"batchItemFailures": []}
        assert len(publisher.published) == 1
        now[0] += 5  # a duplicate delivery after the alert: suppressed
        assert deliver() == {"batchItemFailures": []}
        assert len(publisher.published) == 1


def test_the_stale_window_is_required_with_the_deduplication_table() -> None:
    environment = {"SGWATCH_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t", "SGWATCH_DEDUP_TABLE": "t"}
    with pytest.raises(ConfigError, match="SGWATCH_CLAIM_STALE_SECONDS"):
        settings_from_env(environment)
    settings = settings_from_env({**environment, "SGWATCH_CLAIM_STALE_SECONDS": "280"})
    assert settings.claim_stale_seconds == 280


def test_the_store_settles_claims_25_to_a_call_and_sends_again_what_dynamodb_left_unprocessed() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        table = create_dedup_table(dynamodb)
        waits: list[float] = []
        store = DynamoDeduplicator(dynamodb, table, stale_seconds=280, sleep=waits.append)
        event_ids = [f"event-{i}" for i in range(30)]
        assert {store.claim(event_id) for event_id in event_ids} == {Claim.NEW}
        calls: list[int] = []
        dynamodb.meta.events.register(
            "before-parameter-build.dynamodb.BatchWriteItem",
            lambda params, **_: calls.append(len(params["RequestItems"][table])),
        )
        store.done(event_ids + event_ids[:3])  # a repeated id once only: DynamoDB refuses a batch that repeats a key
        assert calls == [25, 5]
        assert {store.claim(event_id) for event_id in event_ids} == {Claim.ALERTED}
        store.release(event_ids[:2])
        assert calls == [25, 5, 2]
        assert store.claim(event_ids[0]) is Claim.NEW

        with Stubber(dynamodb) as stubber:  # DynamoDB may leave part of a batch unprocessed: it is sent again
            left = [{"DeleteRequest": {"Key": {names.DEDUP_KEY: {"S": "event-5"}}}}]
            stubber.add_response("batch_write_item", {"UnprocessedItems": {table: left}})
            stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {table: left}})
            store.release(["event-4", "event-5"])
            stubber.assert_no_pending_responses()
        assert waits == [0.05]
