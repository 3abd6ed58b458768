"""The heartbeat watchdog (organization mode): on a schedule, the StackSet's instances (every member account and
region whose canary should beat) against the heartbeats the function counted in the window; the number missing is
published as HeartbeatsMissing, whose alarm treats no data as a breach (a watchdog that stopped is noticed too), and
the missing places are logged by name."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sgwatch.core import names
from sgwatch.core.heartbeat import heartbeat_sources, missing_heartbeats

#: GetMetricData takes at most 500 queries a call.
_QUERIES_PER_CALL = 500


def stack_set_instances(cloudformation: Any, stack_set: str, call_as: str) -> list[tuple[str, str]]:
    """(account, region) of every instance of the StackSet, every page."""
    instances: list[tuple[str, str]] = []
    request: dict[str, Any] = {"StackSetName": stack_set, "CallAs": call_as}
    while True:
        page = cloudformation.list_stack_instances(**request)
        instances += [(item["Account"], item["Region"]) for item in page.get("Summaries", [])]
        if not page.get("NextToken"):
            return instances
        request["NextToken"] = page["NextToken"]


def _metric(source: str, home_account: str) -> dict[str, Any]:
    """Where a source's heartbeats are counted: the home account's other regions by region, a member's by source."""
    account, region = source.split("/", 1)
    dimensions = [{"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE}]
    if account == home_account:
        name, dimensions = names.METRIC_HEARTBEATS, [*dimensions, {"Name": names.REGION_DIMENSION, "Value": region}]
    else:
        name, dimensions = (
            names.METRIC_MEMBER_HEARTBEATS,
            [*dimensions, {"Name": names.SOURCE_DIMENSION, "Value": source}],
        )
    return {"Namespace": names.METRIC_NAMESPACE, "MetricName": name, "Dimensions": dimensions}


def counted_heartbeats(
    cloudwatch: Any, sources: list[str], home_account: str, now: datetime, window_minutes: int
) -> dict[str, float]:
    """Each source's heartbeats in the window, from CloudWatch."""
    counted: dict[str, float] = {}
    for first in range(0, len(sources), _QUERIES_PER_CALL):
        chunk = sources[first : first + _QUERIES_PER_CALL]
        queries = [
            {
                "Id": f"s{index}",
                "MetricStat": {"Metric": _metric(source, home_account), "Period": window_minutes * 60, "Stat": "Sum"},
                "ReturnData": True,
            }
            for index, source in enumerate(chunk)
        ]
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - timedelta(minutes=window_minutes),
            "EndTime": now,
        }
        while True:
            page = cloudwatch.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                source = chunk[int(result["Id"][1:])]
                counted[source] = counted.get(source, 0.0) + sum(result.get("Values", []))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return counted


def watch(
    cloudformation: Any, cloudwatch: Any, *, stack_set: str, call_as: str, home_account: str, home_region: str,
    window_minutes: int, now: datetime,
) -> list[str]:  # fmt: skip
    """The missing sources, published as HeartbeatsMissing."""
    expected = heartbeat_sources(stack_set_instances(cloudformation, stack_set, call_as), home_account, home_region)
    missing = missing_heartbeats(expected, counted_heartbeats(cloudwatch, expected, home_account, now, window_minutes))
    cloudwatch.put_metric_data(
        Namespace=names.METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": names.METRIC_HEARTBEATS_MISSING,
                "Dimensions": [{"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE}],
                "Value": float(len(missing)),
                "Unit": "Count",
            }
        ],
    )
    print(json.dumps({"message": "heartbeat watchdog", "expected": len(expected), "missing": missing}))
    return missing


def handler(event: Any, context: Any) -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - at the first invocation

    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn.split(":")
    missing = watch(
        boto3.client("cloudformation"),
        boto3.client("cloudwatch"),
        stack_set=os.environ[names.ENV_WATCHDOG_STACK_SET],
        call_as=os.environ.get(names.ENV_WATCHDOG_CALL_AS, "SELF"),
        home_account=parts[4] if len(parts) > 4 else "",
        home_region=os.environ.get("AWS_REGION", ""),
        window_minutes=int(os.environ[names.ENV_WATCHDOG_WINDOW_MINUTES]),
        now=datetime.now(UTC),
    )
    return {"missing": missing}
