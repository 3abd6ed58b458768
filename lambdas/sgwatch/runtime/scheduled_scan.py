"""The scheduled scan's function: `sgwatch scan` of the home account's watched regions on a schedule, publishing to
the alert topic, for each region, one alert of the findings that no earlier scan reported (or whose approval has
expired since). What it has reported is kept in the deduplication table, each key for a few intervals and renewed
while the finding stands, so a rule that is revoked and opened again is reported again."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sgwatch.core import names
from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.policy import Policy, read_policy
from sgwatch.core.scan import digest_publication, scan, state_key
from sgwatch.core.severity import Severity
from sgwatch.runtime.aws import BATCH_WRITE_LIMIT, SnsPublisher, error_text
from sgwatch.runtime.inventory import Ec2Inventory

#: BatchGetItem takes at most this many keys a call.
BATCH_GET_LIMIT = 100


@dataclass(frozen=True)
class ScanSettings:
    topic_arn: str
    table: str
    regions: tuple[str, ...]
    min_severity: Severity
    keep_seconds: int  # how long a reported finding is remembered without being seen again
    policy: Policy | None = None

    @property
    def account(self) -> str:
        return self.topic_arn.split(":")[4]


def scan_settings_from_env(environ: Mapping[str, str]) -> ScanSettings:
    topic = environ.get(names.ENV_TOPIC_ARN, "")
    if topic.count(":") < 5 or not topic.startswith("arn:"):
        raise ConfigError(f"{names.ENV_TOPIC_ARN} must be the ARN of the alert topic, got {topic!r}")
    table = environ.get(names.ENV_DEDUP_TABLE, "")
    if not table:
        raise ConfigError(f"{names.ENV_DEDUP_TABLE} must name the table that remembers what was reported")
    regions = tuple(region.strip() for region in environ.get(names.ENV_SCAN_REGIONS, "").split(",") if region.strip())
    if not regions:
        raise ConfigError(f"{names.ENV_SCAN_REGIONS} must list the regions to scan (a comma list)")
    keep = environ.get(names.ENV_SCAN_KEEP_SECONDS, "")
    if not (keep.isdigit() and 3600 <= int(keep) <= 90 * 86_400):
        raise ConfigError(f"{names.ENV_SCAN_KEEP_SECONDS} must be seconds, from an hour to 90 days, got {keep!r}")
    try:
        minimum = Severity.parse(environ.get(names.ENV_SCAN_MIN_SEVERITY, "MEDIUM"))
        policy_file = environ.get(names.ENV_POLICY_FILE, "")
        policy = read_policy(policy_file) if policy_file else None
    except (ValueError, PolicyError) as error:
        raise ConfigError(f"the scheduled scan's environment: {error}") from None
    return ScanSettings(topic, table, regions, minimum, int(keep), policy)


@dataclass
class ScanOutcome:
    """What one scheduled scan did: findings judged, new ones, alerts published, regions that could not be read."""

    judged: int = 0
    new: int = 0
    published: int = 0
    failures: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"judged": self.judged, "new": self.new, "published": self.published, "failures": self.failures or []}


def run_scheduled_scan(
    settings: ScanSettings,
    ec2_for: Callable[[str], Any],
    dynamodb: Any,
    publisher: SnsPublisher,
    *,
    now: datetime,
) -> ScanOutcome:
    """Each region scanned; its findings from the threshold up that the table does not hold are published as one
    alert, then remembered. A region that cannot be read, or whose alert cannot be published, is a failure (counted,
    logged, and alarmed): nothing of it is remembered, so the next scan reports it."""
    outcome = ScanOutcome(failures=[])
    assert outcome.failures is not None
    for region in settings.regions:
        try:
            snapshot = Ec2Inventory(ec2_for(region), settings.account, region).snapshot()
        except Exception as error:
            outcome.failures.append(f"{region}: could not be scanned: {error_text(error)}")
            continue
        findings = [
            found
            for found in scan(snapshot, settings.policy, today=now.date())
            if found.severity >= settings.min_severity
        ]
        outcome.judged += len(findings)
        keys = {state_key(found): found for found in findings}
        seen = _seen(dynamodb, settings.table, list(keys), int(now.timestamp()))
        new = [found for key, found in keys.items() if key not in seen]
        outcome.new += len(new)
        if new:
            rendered = digest_publication(new, account=settings.account, region=region, published_at=now)
            try:
                publisher.publish(rendered.subject, rendered.message, rendered.attributes)
            except Exception as error:
                outcome.failures.append(f"{region}: {len(new)} new findings not published: {error_text(error)}")
                _remember(dynamodb, settings.table, [k for k in keys if k in seen], now, settings.keep_seconds)
                continue
            outcome.published += 1
        _remember(dynamodb, settings.table, list(keys), now, settings.keep_seconds)
    return outcome


def _seen(dynamodb: Any, table: str, keys: Sequence[str], now: int) -> set[str]:
    """The keys the table holds and that have not expired (DynamoDB deletes expired items late)."""
    found: set[str] = set()
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending: list[dict[str, Any]] = [{names.DEDUP_KEY: {"S": key}} for key in keys[start : start + BATCH_GET_LIMIT]]
        while pending:
            answer = dynamodb.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": True}})
            for item in answer.get("Responses", {}).get(table, []):
                if int(item.get(names.DEDUP_EXPIRY, {}).get("N", "0")) > now:
                    found.add(item[names.DEDUP_KEY]["S"])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if pending:
                time.sleep(0.05)
    return found


def _remember(dynamodb: Any, table: str, keys: Iterable[str], now: datetime, keep_seconds: int) -> None:
    """The findings standing now, remembered (or renewed) for `keep_seconds`."""
    expires = str(int(now.timestamp()) + keep_seconds)
    requests = [
        {
            "PutRequest": {
                "Item": {names.DEDUP_KEY: {"S": key}, "state": {"S": "scan"}, names.DEDUP_EXPIRY: {"N": expires}}
            }
        }
        for key in dict.fromkeys(keys)
    ]
    while requests:
        chunk, requests = requests[:BATCH_WRITE_LIMIT], requests[BATCH_WRITE_LIMIT:]
        answer = dynamodb.batch_write_item(RequestItems={table: chunk})
        left = answer.get("UnprocessedItems", {}).get(table, [])
        if left:
            time.sleep(0.05)
            requests = left + requests


def _metrics(outcome: ScanOutcome) -> str:
    """The outcome as an embedded-metric-format line: CloudWatch makes the metrics from the log."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": names.METRIC_NAMESPACE,
                        "Dimensions": [[names.SERVICE_DIMENSION]],
                        "Metrics": [
                            {"Name": names.METRIC_SCAN_NEW_FINDINGS, "Unit": "Count"},
                            {"Name": names.METRIC_SCAN_FAILURES, "Unit": "Count"},
                        ],
                    }
                ],
            },
            names.SERVICE_DIMENSION: names.SERVICE,
            names.METRIC_SCAN_NEW_FINDINGS: outcome.new,
            names.METRIC_SCAN_FAILURES: len(outcome.failures or []),
            "outcome": outcome.to_dict(),
        }
    )


_clients: dict[str, Any] = {}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The schedule's target. Clients and settings are made once per container."""
    if "settings" not in _clients:
        import boto3  # noqa: PLC0415 - at the first invocation, not at import
        from botocore.config import Config  # noqa: PLC0415

        settings = scan_settings_from_env(os.environ)
        config = Config(retries={"mode": "adaptive", "max_attempts": 10})
        _clients.update(
            settings=settings,
            dynamodb=boto3.client("dynamodb"),
            publisher=SnsPublisher(boto3.client("sns"), settings.topic_arn, structured=True),
            ec2_for=lambda region: boto3.client("ec2", region_name=region, config=config),
        )
    outcome = run_scheduled_scan(
        _clients["settings"], _clients["ec2_for"], _clients["dynamodb"], _clients["publisher"], now=datetime.now(UTC)
    )
    print(_metrics(outcome), flush=True)
    return outcome.to_dict()
