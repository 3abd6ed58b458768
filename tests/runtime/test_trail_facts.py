"""When a trail is stopped, the function asks CloudTrail whether another trail still records (moto's CloudTrail),
and the pipeline lowers the verdict only on that answer; an inspector that fails leaves it CRITICAL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.tamper import TrailFacts
from sgwatch.runtime.aws import CloudTrailInspector
from sgwatch.runtime.pipeline import PipelineSettings, process_batch

from tests.conftest import FIXTURES, load
from tests.runtime.fakes import Counts, Facts, Log, Topic, batch

REGION = "eu-west-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def account() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1", **KEYS)
        for bucket in ("org-logs", "security-logs", "app-logs"):
            s3.create_bucket(Bucket=bucket)
        yield boto3.client("cloudtrail", region_name=REGION, **KEYS)


def test_the_inspector_reads_each_covering_trail_its_status_and_selectors(account: Any) -> None:
    account.create_trail(Name="org-trail", S3BucketName="org-logs", IsMultiRegionTrail=True)
    account.create_trail(Name="security-trail", S3BucketName="security-logs", IsMultiRegionTrail=True)
    account.start_logging(Name="security-trail")
    account.create_trail(Name="app-trail", S3BucketName="app-logs")
    account.start_logging(Name="app-trail")
    account.put_event_selectors(
        TrailName="app-trail", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    )
    inspector = CloudTrailInspector(lambda region, _: boto3.client("cloudtrail", region_name=region, **KEYS))
    found = {trail.name: trail for trail in inspector.trails(REGION)}
    assert found["org-trail"].multi_region and not found["org-trail"].logging
    assert found["security-trail"] == TrailFacts(
        "security-trail", found["security-trail"].arn, multi_region=True, logging=True, records_writes=True
    )
    assert not found["app-trail"].multi_region and not found["app-trail"].records_writes


class Inspector:
    def __init__(self, trails: list[TrailFacts] | None = None, error: Exception | None = None) -> None:
        self.answer = trails or []
        self.error = error
        self.asked: list[tuple[str, str]] = []

    def trails(self, region: str, account: str = "") -> list[TrailFacts]:
        self.asked.append((region, account))
        if self.error:
            raise self.error
        return self.answer


def _stopped(inspector: Inspector, counts: Counts | None = None) -> dict[str, Any]:
    topic = Topic()
    process_batch(
        batch(load(FIXTURES / "tamper" / "cloudtrail__stop_logging.json")),
        enricher=Facts(),
        publisher=topic,
        metrics=counts or Counts(),
        logger=Log(),
        settings=PipelineSettings(),
        clock=lambda: datetime(2026, 11, 21, 10, 5, tzinfo=UTC),
        trail_inspector=inspector,
    )
    [sent] = topic.sent
    payload: dict[str, Any] = sent.payload
    return payload


def test_a_stopped_trail_with_another_recording_is_high_and_named() -> None:
    security = TrailFacts("security-trail", "arn:aws:cloudtrail:eu-west-1:111122223333:trail/security-trail",
                          multi_region=True, logging=True, records_writes=True)  # fmt: skip
    inspector = Inspector([security])
    payload = _stopped(inspector)
    assert inspector.asked == [(REGION, "111122223333")]
    assert payload["severity"] == "HIGH"
    assert "trail security-trail (multi-region) still records" in json.dumps(payload["results"][0]["reasons"])


def test_an_inspector_that_fails_leaves_the_verdict_critical_and_is_counted() -> None:
    counts = Counts()
    payload = _stopped(Inspector(error=RuntimeError("AccessDenied")), counts)
    assert payload["severity"] == "CRITICAL"
    assert counts.totals[names.METRIC_ENRICHMENT_FAILURES] == 1
