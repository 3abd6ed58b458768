"""A moto account for the function: VPCs, groups, interfaces, the alert topic, and inbox queues subscribed to it."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE
from sgwatch.emulation.account import (
    CLAIM_STALE_SECONDS,
    EmailOutbox,
    create_alert_topic,
    create_dedup_table,
    drain,
    moto_clients,
)
from sgwatch.runtime.handler import Runtime, build_runtime, running_on
from sgwatch.runtime.settings import settings_from_env

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account


@dataclass
class LambdaContext:
    function_name: str = "sgwatch-Processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sgwatch-Processor"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class HomeClients:
    """The function's AWS clients (boto3's, as the function makes them), the home account's kept by service name so
    that a test can put a botocore Stubber on one."""

    def __init__(self, outbox: EmailOutbox) -> None:
        self.make = moto_clients(outbox)
        self.home: dict[str, Any] = {}

    def __call__(self, service: str, **options: Any) -> Any:
        client = self.make(service, **options)
        if not options:
            self.home.setdefault(service, client)
        return client


@dataclass
class World:
    """What the moto account holds, by role, and the function deployed in it."""

    ec2: Any
    sns: Any
    sqs: Any
    topic_arn: str
    inbox_url: str  # every alert
    email_url: str  # what the email subscription's filter policy lets through (MEDIUM and up)
    vpc_id: str
    default_group: str
    open_group: str  # allows SSH from the world
    app_group: str  # a private application group used by two interfaces
    eni_id: str
    containers: ExitStack
    outbox: EmailOutbox = field(default_factory=EmailOutbox)  # what the function's publishes send to email
    runtime: Runtime = field(init=False)
    clients: HomeClients = field(init=False)

    def start_function(self) -> Runtime:
        """A new container of the function, configured by the environment as it is now (a policy set by a test)."""
        self.clients = HomeClients(self.outbox)
        runtime = build_runtime(settings_from_env(os.environ), clients=self.clients)
        self.containers.enter_context(running_on(runtime))
        self.runtime = runtime
        return runtime

    def received(self, url: str) -> list[dict[str, Any]]:
        """Every message on the queue, its body (SNS's envelope) parsed; the queue is left empty. An alert's "Message"
        is its JSON document, as every queue subscriber gets it; "Email" is added here: the text an email subscriber
        was sent for the same publish."""
        envelopes = [json.loads(message["Body"]) for message in drain(self.sqs, url)]
        for envelope in envelopes:
            if envelope.get("MessageId") in self.outbox.sent:
                envelope["Email"] = self.outbox.sent[envelope["MessageId"]].text
        return envelopes


def eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it to the buffer queue."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EVENTBRIDGE_DETAIL_TYPE,
        "source": EVENTBRIDGE_SOURCE,
        "account": ACCOUNT,
        "time": record.get("eventTime", "2026-11-20T09:15:00Z"),
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    """A batch as Lambda receives it from the buffer: one SQS message per body."""
    return {
        "Records": [
            {
                "messageId": f"message-{index}",
                "receiptHandle": f"handle-{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763630103000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sgwatch-buffer",
                "awsRegion": REGION,
            }
            for index, body in enumerate(bodies)
        ]
    }


def on_group(record: dict[str, Any], group_id: str, event_id: str | None = None) -> dict[str, Any]:
    """A copy of a real record, made to touch one of the moto account's groups."""
    moved = copy.deepcopy(record)
    moved["requestParameters"]["groupId"] = group_id
    moved["eventID"] = event_id or str(uuid.uuid4())
    moved["recipientAccountId"] = ACCOUNT
    moved["awsRegion"] = REGION
    response = moved.get("responseElements") or {}
    for item in response.get("securityGroupRuleSet", {}).get("items", []):
        item["groupId"] = group_id
    return moved


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
        default_group = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"][0]["GroupId"]
        open_group = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc_id)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=open_group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
        app_group = ec2.create_security_group(
            GroupName="payments-app",
            Description="payments",
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "payments"}]}],
        )["GroupId"]
        eni_id = ec2.create_network_interface(SubnetId=subnet_id, Groups=[app_group])["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        ec2.create_network_interface(SubnetId=subnet_id, Groups=[app_group])
        topic_arn, inbox_url, email_url = create_alert_topic(sns, sqs)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        monkeypatch.setenv(names.ENV_DEDUP_TABLE, create_dedup_table(dynamodb))
        monkeypatch.setenv(names.ENV_CLAIM_STALE_SECONDS, str(CLAIM_STALE_SECONDS))
        monkeypatch.setenv(names.ENV_TOPIC_ARN, topic_arn)
        monkeypatch.setenv(names.ENV_PUBLISH_MIN_SEVERITY, "LOW")
        with ExitStack() as containers:
            world = World(
                ec2, sns, sqs, topic_arn, inbox_url, email_url, vpc_id, default_group, open_group, app_group, eni_id,
                containers,
            )  # fmt: skip
            world.start_function()
            yield world


def emf_metrics(output: str) -> list[tuple[str, frozenset[str], dict[str, Any]]]:
    """(metric name, dimension names, the EMF document) of every metric in captured stdout."""
    found = []
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == names.METRIC_NAMESPACE
            dimensions = frozenset(name for group in directive["Dimensions"] for name in group)
            for metric in directive["Metrics"]:
                found.append((metric["Name"], dimensions, document))
    return found
