"""A burst through the buffer and the handler, in Lambda-shaped batches, with publishing failing now and then: every
change ends in exactly one alert or in the dead-letter queue. Nothing lost, nothing twice.

10,000 changes reach the buffer in waves of a few hundred, as EventBridge delivers them while the function polls.
The wave bounds the buffer's depth for moto, not for sgwatch: moto scans every message of a queue for each message it
hands out (its retention check reads the queue's attributes, which count the queue), so a 10,000-deep moto queue makes
each poll quadratic and the test would outlast CI. The property checked, each change alerted once or dead-lettered,
does not depend on the depth; AWS's own SQS holds any backlog."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from sgwatch.emulation.account import create_queue, drain, poll_buffer
from sgwatch.runtime import handler
from sgwatch.runtime.handler import running_on
from sgwatch.runtime.ports import Publisher

from tests.conftest import REAL_RECORDS, load
from tests.e2e.conftest import ACCOUNT, REGION, LambdaContext, World, eventbridge

RECORDS = 10_000
WAVE = 100  # records EventBridge hands the buffer between polls
PER_APPLY = 10  # a Terraform apply: ten rules on one group by one principal
MAX_RECEIVES = 3
TEMPLATE = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")


class FlakyPublisher:
    """The real SNS publisher, except that one publish in seven fails once, and alerts holding a poisoned event
    always fail (they must end in the dead-letter queue, not be lost)."""

    def __init__(self, real: Publisher, poisoned: set[str]) -> None:
        self.real, self.poisoned, self.calls = real, poisoned, 0

    def publish(self, subject: str, message: str, attributes: Any) -> None:
        self.calls += 1
        if any(event_id in message for event_id in self.poisoned) or self.calls % 7 == 0:
            raise RuntimeError("SNS is having a bad day")
        self.real.publish(subject, message, attributes)


def _record(index: int, group: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(TEMPLATE))
    record["eventID"] = f"burst-{index:05d}"
    record["requestParameters"]["groupId"] = group
    record["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = 1000 + index % 5000
    record["requestParameters"]["ipPermissions"]["items"][0]["toPort"] = 1000 + index % 5000
    record["userIdentity"]["arn"] = f"arn:aws:iam::000000000000:user/apply-{index // PER_APPLY}"
    record["responseElements"] = None
    record["awsRegion"], record["recipientAccountId"] = REGION, ACCOUNT  # the account the function describes
    return record


def test_ten_thousand_changes_nothing_lost_nothing_twice(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sqs = world.sqs
    dead_letters, dlq_arn = create_queue(sqs, "buffer-dlq")
    buffer, buffer_arn = create_queue(
        sqs,
        "buffer",
        VisibilityTimeout="0",  # a failed message is visible again at once: retries happen within the test
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
    )
    groups = [world.app_group, world.open_group, world.default_group]
    all_ids = {f"burst-{index:05d}" for index in range(RECORDS)}
    poisoned = {"burst-00424", "burst-07777"}
    flaky = FlakyPublisher(world.runtime.publisher, poisoned)
    world.containers.enter_context(running_on(replace(world.runtime, publisher=flaky)))
    alerted: Counter[str] = Counter()
    polls = 0
    for wave in range(0, RECORDS, WAVE):
        for start in range(wave, wave + WAVE, 10):
            sqs.send_message_batch(
                QueueUrl=buffer,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": json.dumps(eventbridge(_record(index, groups[(index // PER_APPLY) % 3]))),
                    }
                    for index in range(start, start + 10)
                ],
            )
        polls += _poll_until_empty(sqs, buffer, buffer_arn)
        assert polls < 5 * RECORDS // 10, "the buffer does not drain"
        capsys.readouterr()  # the function's logs: a line per alert, not kept
        for alert in world.received(world.inbox_url):
            payload = json.loads(alert["Message"])
            alerted.update(result["eventID"] for result in payload["results"])
        drain(sqs, world.email_url)  # the email subscription's copies: checked elsewhere, drained to keep moto quick

    dead = {json.loads(m["Body"])["detail"]["eventID"] for m in drain(sqs, dead_letters)}
    assert max(alerted.values()) == 1, "an event was alerted twice"
    assert set(alerted) | dead == all_ids, "an event was lost"
    assert not set(alerted) & dead
    assert poisoned <= dead
    assert flaky.calls > len(alerted) // PER_APPLY  # failures happened, and their retries published


def _poll_until_empty(sqs: Any, buffer: str, arn: str) -> int:
    """The function's event source mapping, until the buffer is empty. Returns the number of invocations."""
    polls = 0
    while poll_buffer(sqs, buffer, arn, lambda event: handler.lambda_handler(event, LambdaContext()))[0]:
        polls += 1
    return polls
