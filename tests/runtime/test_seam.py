"""The runtime seam: build_runtime makes the function's ports from a client factory; the entry point runs on a
Runtime given with running_on, or builds its own once, at its first invocation, never at import."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sgwatch.core import names
from sgwatch.runtime import handler
from sgwatch.runtime.aws import DynamoDeduplicator
from sgwatch.runtime.handler import Runtime, build_runtime, running_on
from sgwatch.runtime.pipeline import PipelineSettings
from sgwatch.runtime.settings import HandlerSettings, settings_from_env

from tests.runtime.fakes import Counts, Facts, Store, Topic, batch, change

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "arn:aws:sns:eu-west-1:123456789012:sgwatch-alerts"


@dataclass
class FakeClient:
    service: str
    options: dict[str, Any]

    def assume_role(self, RoleArn: str, RoleSessionName: str) -> dict[str, Any]:
        return {"Credentials": {"AccessKeyId": f"key-for-{RoleArn}", "SecretAccessKey": "s", "SessionToken": "t"}}


@dataclass
class Clients:
    made: list[FakeClient] = field(default_factory=list)

    def __call__(self, service: str, **options: Any) -> FakeClient:
        self.made.append(FakeClient(service, options))
        return self.made[-1]


@dataclass
class Context:
    function_name: str = "sgwatch-Processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:sgwatch-Processor"
    aws_request_id: str = "request-1"


def test_the_runtime_asks_for_ec2_and_sns_and_dynamodb_only_with_a_table() -> None:
    clients = Clients()
    runtime = build_runtime(HandlerSettings(TOPIC, PipelineSettings()), clients=clients)
    assert [client.service for client in clients.made] == ["ec2", "sns"]
    assert runtime.deduplicator is None

    clients = Clients()
    with_table = HandlerSettings(TOPIC, PipelineSettings(), dedup_table="sgwatch-dedup", claim_stale_seconds=280)
    runtime = build_runtime(with_table, clients=clients)
    assert [client.service for client in clients.made] == ["dynamodb", "ec2", "sns"]
    assert isinstance(runtime.deduplicator, DynamoDeduplicator) and runtime.deduplicator.stale_seconds == 280


def test_a_member_accounts_groups_are_described_through_the_enrichment_role() -> None:
    clients = Clients()
    settings = settings_from_env({names.ENV_TOPIC_ARN: TOPIC, names.ENV_ENRICHMENT_ROLE: "sgwatch-enrichment"})
    enricher: Any = build_runtime(settings, clients=clients).enricher
    member = enricher.client_for("us-east-1", "111122223333")
    assert member.service == "ec2" and member.options["region_name"] == "us-east-1"
    assert member.options["aws_access_key_id"] == "key-for-arn:aws:iam::111122223333:role/sgwatch-enrichment"
    assert enricher.client_for("us-east-1", "").options == {"region_name": "us-east-1"}


@pytest.mark.filterwarnings("ignore:No application metrics")  # the fake runtime counts its metrics itself
def test_the_entry_point_runs_on_the_runtime_it_is_given_and_builds_its_own_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, store = Topic(), Store()
    fake = Runtime(HandlerSettings(TOPIC, PipelineSettings()), Facts(), topic, Counts(), store)
    built: list[HandlerSettings] = []

    def build(settings: HandlerSettings) -> Runtime:
        built.append(settings)
        return fake

    monkeypatch.setattr(handler, "build_runtime", build)
    monkeypatch.setenv(names.ENV_TOPIC_ARN, TOPIC)
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    log = io.StringIO()
    previous = log_handler.setStream(log)
    try:
        with running_on(fake), contextlib.redirect_stdout(io.StringIO()):
            response = handler.lambda_handler(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), Context())
        assert built == []  # given a runtime, the entry point builds none
        with running_on(None), contextlib.redirect_stdout(io.StringIO()):  # a new container: built from the environment
            handler.lambda_handler(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-2")), Context())
            handler.lambda_handler(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-3")), Context())
    finally:
        log_handler.setStream(previous)
    assert response == {"batchItemFailures": []}
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["event-1", "event-2", "event-3"]
    assert store.states == dict.fromkeys(["event-1", "event-2", "event-3"], "done")
    assert [settings.topic_arn for settings in built] == [TOPIC]  # once, at the first invocation
    assert [json.loads(line)["message"] for line in log.getvalue().splitlines()].count("batch done") == 3


def test_importing_the_entry_point_builds_nothing_and_loads_no_aws_sdk() -> None:
    """The clients cost a cold start only at the first invocation; an import without configuration must work."""
    probe = (
        "import sys; import sgwatch.runtime.handler;"
        "assert 'boto3' not in sys.modules and 'botocore.client' not in sys.modules, 'AWS SDK loaded'"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SGWATCH_")}
    environment["PYTHONPATH"] = str(ROOT / "lambdas")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=False)
    assert ran.returncode == 0, ran.stderr
