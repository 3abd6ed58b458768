"""The scheduled scan's function: `sgwatch scan` of the home account's watched regions (and, in organization mode,
of every member account and region of the StackSet, through the read-only audit role) on a schedule, publishing to
the alert topic, for each account's region, one alert of the findings that no earlier scan reported (or whose
approval has expired since). What it has reported is kept in the deduplication table, each key for a few intervals and renewed
while the finding stands, so a rule that is revoked and opened again is reported again."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sgwatch.core import names
from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.policy import Policy, read_policy
from sgwatch.core.scan import digest_publication, scan, state_key
from sgwatch.core.severity import Severity
from sgwatch.runtime.aws import (
    BATCH_WRITE_LIMIT,
    UNPROCESSED_RETRIES,
    SnsPublisher,
    assumed_role_keys,
    error_text,
)
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
    stack_set: str = ""  # organization mode: the member StackSet, whose instances are scanned too
    call_as: str = "SELF"
    role: str = ""  # organization mode: the read-only role to assume in each member account

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
    stack_set, role = environ.get(names.ENV_SCAN_STACK_SET, ""), environ.get(names.ENV_SCAN_ROLE, "")
    if bool(stack_set) != bool(role):
        raise ConfigError(f"{names.ENV_SCAN_STACK_SET} and {names.ENV_SCAN_ROLE} go together (organization mode)")
    call_as = environ.get(names.ENV_SCAN_CALL_AS, "SELF")
    if call_as not in ("SELF", "DELEGATED_ADMIN"):
        raise ConfigError(f"{names.ENV_SCAN_CALL_AS} must be SELF or DELEGATED_ADMIN, got {call_as!r}")
    return ScanSettings(topic, table, regions, minimum, int(keep), policy, stack_set, call_as, role)


#: One account's region to scan: the account, the region, and what makes its EC2 client (it may fail: the role cannot
#: be assumed).
Place = tuple[str, str, Callable[[], Any]]


@dataclass
class ScanOutcome:
    """What one scheduled scan did: findings judged, new ones, alerts published, regions that could not be read."""

    judged: int = 0
    new: int = 0
    published: int = 0
    failures: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"judged": self.judged, "new": self.new, "published": self.published, "failures": self.failures or []}


def home_places(settings: ScanSettings, ec2_for: Callable[[str], Any]) -> list[Place]:
    """The home account's watched regions."""
    return [(settings.account, region, partial(ec2_for, region)) for region in settings.regions]


#: The most alerts one account's region gets from one scan: a first scan of a large account lists its worst
#: findings in these, and the next scans the rest.
MAX_DIGESTS_PER_PLACE = 10
#: Places scanned side by side: EC2 throttles per account and region, so they do not compete.
WORKERS = 8


def run_scheduled_scan(
    settings: ScanSettings,
    places: Sequence[Place],
    dynamodb: Any,
    publisher: SnsPublisher,
    *,
    now: datetime,
) -> ScanOutcome:
    """Each account's region scanned, eight side by side, starting each hour from another place (a run cut short by
    the timeout leaves out different places each time); its findings from the threshold up that the table does not
    hold are published, at most MAX_PER_DIGEST an alert, and only the findings an alert listed are remembered. A place
    that cannot be read (its rules, its interfaces, its state), or whose alert cannot be published, is a failure
    (counted, logged, and alarmed); what it did not report is reported by the next scan."""
    outcome = ScanOutcome(failures=[])
    start = int(now.timestamp() // 3600) % len(places) if places else 0
    rotated = [*places[start:], *places[:start]]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for judged, new, published, failures in pool.map(
            lambda place: _scan_place(settings, place, dynamodb, publisher, now), rotated
        ):
            outcome.judged += judged
            outcome.new += new
            outcome.published += published
            outcome.failures = [*(outcome.failures or []), *failures]
    return outcome


def _scan_place(
    settings: ScanSettings, place: Place, dynamodb: Any, publisher: SnsPublisher, now: datetime
) -> tuple[int, int, int, list[str]]:
    """One account's region: (findings judged, new, alerts published, failures)."""
    account, region, ec2 = place
    label = region if account == settings.account else f"{account}/{region}"
    try:
        snapshot = Ec2Inventory(ec2(), account, region).snapshot()
    except Exception as error:
        return 0, 0, 0, [f"{label}: could not be scanned: {error_text(error)}"]
    failures = [f"{label}: {problem}" for problem in snapshot.problems]
    if snapshot.interfaces_unread:  # every unused group would read as used: no alert on a guess
        return 0, 0, 0, [*failures, f"{label}: not reported: the network interfaces could not be read"]
    findings = [
        found for found in scan(snapshot, settings.policy, today=now.date()) if found.severity >= settings.min_severity
    ]
    keys = {state_key(found): found for found in findings}
    try:
        seen = _seen(dynamodb, settings.table, list(keys), int(now.timestamp()))
    except Exception as error:  # without the state every finding would look new: nothing is reported
        return len(findings), 0, 0, [*failures, f"{label}: what was reported could not be read: {error_text(error)}"]
    new = [found for key, found in keys.items() if key not in seen]
    new_total = len(new)
    remembered = [key for key in keys if key in seen]  # renewed while they stand
    published = 0
    while new and published < MAX_DIGESTS_PER_PLACE:
        rendered, listed = digest_publication(new, account=account, region=region, published_at=now)
        if not listed:
            failures.append(f"{label}: a finding too large for an alert: see the function's log")
            break
        try:
            publisher.publish(rendered.subject, rendered.message, rendered.attributes)
        except Exception as error:
            failures.append(f"{label}: {len(new)} new findings not published: {error_text(error)}")
            break
        published += 1
        remembered += [state_key(found) for found in listed]
        listed_keys = {state_key(found) for found in listed}
        new = [found for found in new if state_key(found) not in listed_keys]
    try:
        _remember(dynamodb, settings.table, remembered, now, settings.keep_seconds)
    except Exception as error:  # reported, not remembered: the next scan reports them again (a duplicate, no loss)
        failures.append(f"{label}: what was reported could not be remembered: {error_text(error)}")
    return len(findings), new_total, published, failures


def _seen(dynamodb: Any, table: str, keys: Sequence[str], now: int) -> set[str]:
    """The keys the table holds and that have not expired (DynamoDB deletes expired items late)."""
    found: set[str] = set()
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending: list[dict[str, Any]] = [{names.DEDUP_KEY: {"S": key}} for key in keys[start : start + BATCH_GET_LIMIT]]
        for attempt in range(UNPROCESSED_RETRIES + 1):
            answer = dynamodb.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": True}})
            for item in answer.get("Responses", {}).get(table, []):
                if int(item.get(names.DEDUP_EXPIRY, {}).get("N", "0")) > now:
                    found.add(item[names.DEDUP_KEY]["S"])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                break
            if attempt == UNPROCESSED_RETRIES:
                raise RuntimeError(f"DynamoDB left {len(pending)} keys unread after {attempt + 1} attempts")
            time.sleep(0.05 * 2**attempt)
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
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        chunk = requests[start : start + BATCH_WRITE_LIMIT]
        for attempt in range(UNPROCESSED_RETRIES + 1):
            chunk = dynamodb.batch_write_item(RequestItems={table: chunk}).get("UnprocessedItems", {}).get(table, [])
            if not chunk:
                break
            if attempt == UNPROCESSED_RETRIES:
                raise RuntimeError(f"DynamoDB left {len(chunk)} writes undone after {attempt + 1} attempts")
            time.sleep(0.05 * 2**attempt)


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


def member_places(settings: ScanSettings, cloudformation: Any, sts: Any, session: Callable[..., Any]) -> list[Place]:
    """Organization mode: each instance (account and region) of the member StackSet, its EC2 client made through the
    account's audit role when it is first scanned (a role that cannot be assumed fails that place only). The home
    account's own instances are scanned as home places."""
    from sgwatch.runtime.watchdog import stack_set_instances  # noqa: PLC0415 - organization mode only

    partition = settings.topic_arn.split(":")[1]
    keys: dict[str, dict[str, str]] = {}

    def ec2_in(account: str, region: str) -> Any:
        if account not in keys:
            role = f"arn:{partition}:iam::{account}:role/{settings.role}"
            keys[account] = assumed_role_keys(sts, role, "sgwatch-scheduled-scan")
        return session("ec2", region, keys[account])

    instances = stack_set_instances(cloudformation, settings.stack_set, settings.call_as)
    return [
        (account, region, partial(ec2_in, account, region))
        for account, region in dict.fromkeys(instances)
        if account != settings.account
    ]


_clients: dict[str, Any] = {}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The schedule's target. Clients and settings are made once per container."""
    import boto3  # noqa: PLC0415 - at the first invocation, not at import
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    if "settings" not in _clients:
        settings = scan_settings_from_env(os.environ)
        _clients.update(
            settings=settings,
            dynamodb=boto3.client("dynamodb"),
            publisher=SnsPublisher(boto3.client("sns"), settings.topic_arn, structured=True),
        )
    settings = _clients["settings"]
    places = home_places(settings, lambda region: boto3.client("ec2", region_name=region, config=config))
    failures: list[str] = []
    if settings.stack_set:
        try:
            places += member_places(
                settings, boto3.client("cloudformation"), boto3.client("sts"),
                lambda service, region, keys: boto3.client(service, region_name=region, config=config, **keys),
            )  # fmt: skip
        except Exception as error:  # the StackSet could not be listed: the members are not scanned this time
            failures.append(f"the member accounts could not be listed: {error_text(error)}")
    outcome = run_scheduled_scan(settings, places, _clients["dynamodb"], _clients["publisher"], now=datetime.now(UTC))
    outcome.failures = [*failures, *(outcome.failures or [])]
    print(_metrics(outcome), flush=True)
    return outcome.to_dict()
