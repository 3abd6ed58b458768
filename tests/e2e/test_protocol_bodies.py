"""One publish, a body per protocol: email subscribers get the text only; queue, function and HTTPS subscribers the
JSON document only (schemas/alert.schema.json); both fit SNS's limit together, measured as SNS measures them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import jsonschema  # type: ignore[import-untyped]
from botocore.stub import ANY, Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from sgwatch.core import alerts
from sgwatch.core.alerts import Alert, publication
from sgwatch.core.classify import classify
from sgwatch.emulation.account import create_queue
from sgwatch.runtime import handler
from sgwatch.runtime.aws import SnsPublisher

from tests.conftest import REAL_RECORDS, load
from tests.e2e.conftest import LambdaContext, World, eventbridge, on_group, sqs_event

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json").read_text())
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")


def test_a_queue_gets_the_document_and_email_the_text_of_the_same_publish(world: World) -> None:
    raw_url, raw_arn = create_queue(world.sqs, "raw-subscriber")
    world.sns.subscribe(
        TopicArn=world.topic_arn, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
    )
    record = on_group(SSH_WORLD, world.app_group)
    assert handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext()) == {"batchItemFailures": []}

    [enveloped] = world.received(world.inbox_url)
    [raw] = [json.loads(message["Body"]) for message in world.sqs.receive_message(QueueUrl=raw_url)["Messages"]]
    document = json.loads(enveloped["Message"])
    assert raw == document  # raw delivery: the body is the document itself, nothing to cut out
    jsonschema.validate(document, SCHEMA)
    assert document["schemaVersion"] == alerts.SCHEMA_VERSION
    [result] = document["results"]
    assert result["eventID"] == record["eventID"] and result["ocsf"]["class_uid"] == 2004
    assert result["ocsf"]["finding_info"]["uid"] == f"sgwatch:{record['eventID']}"

    text = enveloped["Email"]  # what the email subscriber was sent for this very MessageId
    assert text.startswith(f"CRITICAL: add 22/tcp from 0.0.0.0/0 on {world.app_group}\n")
    assert "Who:   user/test_user via Terraform" in text
    assert "{" not in text and "schemaVersion" not in text and "--- JSON ---" not in text
    assert "Who:" not in enveloped["Message"]


def test_the_alert_topic_is_published_with_per_protocol_bodies_and_the_chat_topic_as_is() -> None:
    sns = boto3.client("sns", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    rendered = publication(Alert((classify(SSH_WORLD),)))
    with Stubber(sns) as stubber:
        expected: dict[str, Any] = {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts", "Subject": rendered.subject,
                    "Message": rendered.message, "MessageAttributes": ANY, "MessageStructure": "json"}  # fmt: skip
        stubber.add_response("publish", {"MessageId": "1"}, expected)
        SnsPublisher(sns, expected["TopicArn"], structured=True).publish(
            rendered.subject, rendered.message, rendered.attributes
        )
        chat: dict[str, Any] = {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:chat", "Subject": "s", "Message": "{}",
                "MessageAttributes": {}}  # fmt: skip
        stubber.add_response("publish", {"MessageId": "2"}, chat)
        SnsPublisher(sns, chat["TopicArn"]).publish("s", "{}", {})
        stubber.assert_no_pending_responses()
    bodies = json.loads(rendered.message)
    assert bodies == {"default": rendered.document, "email": rendered.text}


ESCAPED = st.text(alphabet=st.sampled_from('"\\\n\x00\u2028\ud800\U0001f525aZ /'), max_size=400)


@settings(max_examples=200, deadline=None)
@given(description=ESCAPED, actor=ESCAPED)
def test_the_message_fits_however_its_text_escapes(description: str, actor: str) -> None:
    """Quotes, backslashes, controls, separators, surrogates and emoji take 2 to 12 bytes once escaped into the
    message: the fitting counts them as the message carries them, so text and document always fit together."""
    record: dict[str, Any] = json.loads(json.dumps(SSH_WORLD))
    permission = record["requestParameters"]["ipPermissions"]["items"][0]
    permission["ipRanges"]["items"][0]["description"] = description * 600
    record["userIdentity"]["arn"] = actor * 50
    many = tuple(classify(dict(record, eventID=f"event-{index}")) for index in range(10))
    rendered = publication(Alert(many))
    assert len(rendered.message.encode()) <= alerts.MAX_MESSAGE_BYTES
    assert json.loads(rendered.message) == {"default": rendered.document, "email": rendered.text}
    document = json.loads(rendered.document)
    assert [result["eventID"] for result in document["results"]] == [f"event-{index}" for index in range(10)]
