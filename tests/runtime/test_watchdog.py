"""The heartbeat watchdog (organization mode): the StackSet's instances against the heartbeats counted in the window,
on moto's CloudWatch; the StackSet's ListStackInstances (which moto does not page with CallAs) through botocore's
Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.heartbeat import heartbeat_sources, missing_heartbeats
from sgwatch.runtime.watchdog import watch

HOME, HOME_REGION, MEMBER = "999999999999", "eu-west-1", "111122223333"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=HOME_REGION, **KEYS)


def instances(pages: list[list[tuple[str, str]]]) -> tuple[Any, Stubber]:
    client = boto3.client("cloudformation", region_name=HOME_REGION, **KEYS)
    stubber = Stubber(client)
    for index, page in enumerate(pages):
        expected: dict[str, Any] = {"StackSetName": "sgwatch-members", "CallAs": "DELEGATED_ADMIN"}
        if index:
            expected["NextToken"] = f"t{index}"
        response: dict[str, Any] = {"Summaries": [{"Account": a, "Region": r} for a, r in page]}
        if index < len(pages) - 1:
            response["NextToken"] = f"t{index + 1}"
        stubber.add_response("list_stack_instances", response, expected)
    stubber.activate()
    return client, stubber


def beat(cloudwatch: Any, name: str, dimension: tuple[str, str], minutes_ago: int) -> None:
    cloudwatch.put_metric_data(
        Namespace=names.METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [
                    {"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE},
                    {"Name": dimension[0], "Value": dimension[1]},
                ],
                "Timestamp": NOW - timedelta(minutes=minutes_ago),
                "Value": 1.0,
            }
        ],
    )


def test_the_expected_sources_leave_out_the_home_region_and_repeat_nothing() -> None:
    found = [(MEMBER, "eu-west-1"), (HOME, HOME_REGION), (HOME, "us-east-1"), (MEMBER, "eu-west-1")]
    assert heartbeat_sources(found, HOME, HOME_REGION) == [f"{MEMBER}/eu-west-1", f"{HOME}/us-east-1"]
    assert missing_heartbeats(["a/r", "b/r"], {"a/r": 2.0, "b/r": 0.0}) == ["b/r"]


def test_a_member_region_without_a_recent_heartbeat_is_missing_and_counted(cloudwatch: Any) -> None:
    client, stubber = instances(
        [[(MEMBER, "eu-west-1"), (MEMBER, "us-east-1")], [(HOME, HOME_REGION), (HOME, "us-east-1")]]
    )
    beat(cloudwatch, names.METRIC_MEMBER_HEARTBEATS, (names.SOURCE_DIMENSION, f"{MEMBER}/eu-west-1"), 20)
    beat(cloudwatch, names.METRIC_MEMBER_HEARTBEATS, (names.SOURCE_DIMENSION, f"{MEMBER}/us-east-1"), 200)  # stale
    beat(cloudwatch, names.METRIC_HEARTBEATS, (names.REGION_DIMENSION, "us-east-1"), 10)  # the home account's
    missing = watch(
        client, cloudwatch, stack_set="sgwatch-members", call_as="DELEGATED_ADMIN", home_account=HOME,
        home_region=HOME_REGION, window_minutes=75, now=NOW,
    )  # fmt: skip
    stubber.assert_no_pending_responses()
    assert missing == [f"{MEMBER}/us-east-1"]
    published = cloudwatch.get_metric_statistics(
        Namespace=names.METRIC_NAMESPACE, MetricName=names.METRIC_HEARTBEATS_MISSING,
        Dimensions=[{"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE}],
        StartTime=NOW - timedelta(minutes=5), EndTime=NOW + timedelta(minutes=5), Period=600, Statistics=["Maximum"],
    )["Datapoints"]  # fmt: skip
    assert [point["Maximum"] for point in published] == [1.0]
