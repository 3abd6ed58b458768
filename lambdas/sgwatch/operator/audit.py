"""`sgwatch audit`: are security-group changes monitored? CloudTrail, AWS Config and sgwatch itself, per region.

The verdicts are pure functions of API answers; the calls go through clients that the caller builds (the CLI, from the
standard AWS environment). A denied call makes its check UNKNOWN, naming the permission, and the rest still runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sgwatch.core import names as sgwatch_names
from sgwatch.core.errors import error_code
from sgwatch.core.events import EVENTBRIDGE_SOURCE, MONITORED_BY_NAME
from sgwatch.core.names import SECURITY_GROUP_TYPE
from sgwatch.core.rules import DENIED_ERROR_CODES
from sgwatch.core.tamper import TAMPER_BY_NAME, TAMPER_CALLS, captures_management_writes
from sgwatch.core.text import clean

PASS, FAIL, UNKNOWN = "PASS", "FAIL", "UNKNOWN"
ACCOUNT = "account"
ClientFactory = Callable[[str, str], Any]  # (service, region) -> a boto3 client


@dataclass(frozen=True)
class Check:
    region: str
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class _Unknown(Exception):
    """A call was denied or failed: the check cannot say PASS or FAIL."""


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    try:
        return getattr(client, operation)(**kwargs)
    except Exception as error:
        code = error_code(error)
        prefix = client.meta.service_model.signing_name if hasattr(client, "meta") else "aws"
        permission = f"{prefix}:{''.join(part.title() for part in operation.split('_'))}"
        if code in DENIED_ERROR_CODES:
            raise _Unknown(f"{permission} was denied") from None
        raise _Unknown(f"{permission} failed: {code or type(error).__name__}: {error}") from None


# --- CloudTrail ---------------------------------------------------------------------------------------------------


def _cloudtrail(region: str, clients: ClientFactory, trails: list[dict[str, Any]], cache: dict[str, Any]) -> Check:
    name = "CloudTrail records management writes"
    covering = [trail for trail in trails if trail.get("IsMultiRegionTrail") or trail.get("HomeRegion") == region]
    if not covering:
        return Check(
            region,
            name,
            FAIL,
            "no trail covers this region: EventBridge receives no API-call events here",
            "make deploy ARGS='-c createTrail=true' (a multi-region trail), or: aws cloudtrail create-trail --name"
            " sgwatch --s3-bucket-name BUCKET --is-multi-region-trail && aws cloudtrail start-logging --name sgwatch",
        )
    problems = []
    for trail in covering:
        arn, home = trail["TrailARN"], trail.get("HomeRegion", region)
        if arn not in cache:
            client = clients("cloudtrail", home)
            cache[arn] = (
                _call(client, "get_trail_status", Name=arn).get("IsLogging", False),
                captures_management_writes(_call(client, "get_event_selectors", TrailName=arn)),
            )
        logging_on, (writes, how) = cache[arn]
        where = "multi-region" if trail.get("IsMultiRegionTrail") else "regional"
        if logging_on and writes:
            return Check(region, name, PASS, f"trail {trail['Name']} ({where}, home {home}) is logging: {how}")
        if not logging_on:
            problems.append((f"trail {trail['Name']} is not logging", f"aws cloudtrail start-logging --name {arn}"))
        else:
            problems.append(
                (
                    f"trail {trail['Name']}: {how}",
                    f"aws cloudtrail put-event-selectors --trail-name {arn} --event-selectors"
                    ' \'[{"ReadWriteType":"All","IncludeManagementEvents":true}]\'',
                )
            )
    return Check(region, name, FAIL, "; ".join(p for p, _ in problems), " ; ".join(f for _, f in problems))


# --- AWS Config ---------------------------------------------------------------------------------------------------


def records_security_groups(recorder: dict[str, Any]) -> tuple[bool, str]:
    group = recorder.get("recordingGroup") or {}
    strategy = (group.get("recordingStrategy") or {}).get("useOnly", "")
    excluded = (group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or []
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        if SECURITY_GROUP_TYPE in excluded:
            return False, f"{SECURITY_GROUP_TYPE} is excluded"
        return True, "all resource types but the excluded ones"
    if group.get("allSupported", True) and strategy != "INCLUSION_BY_RESOURCE_TYPES":
        return True, "all supported resource types"
    if SECURITY_GROUP_TYPE in (group.get("resourceTypes") or []):
        return True, f"{SECURITY_GROUP_TYPE} is listed"
    return False, f"{SECURITY_GROUP_TYPE} is not among the recorded types"


# sgwatch's opt-in recorder is made in the home and forwarder regions of the account it is deployed in; member
# accounts of an organization keep their own (often Control Tower's).
RECORDER_BY_SGWATCH = (
    "in the account sgwatch runs in, make deploy ARGS='-c recordSecurityGroups=true' makes both in its home and"
    " forwarder regions"
)


def _config(region: str, clients: ClientFactory) -> list[Check]:
    client = clients("config", region)
    name = "AWS Config records security groups"
    checks = []
    try:
        recorders = _call(client, "describe_configuration_recorders").get("ConfigurationRecorders", [])
        if not recorders:
            checks.append(
                Check(
                    region,
                    name,
                    FAIL,
                    "no configuration recorder in this region",
                    f"aws configservice put-configuration-recorder --region {region} ... (one recorder per region is"
                    f" allowed); {RECORDER_BY_SGWATCH}",
                )
            )
        else:
            recorder = recorders[0]
            statuses = _call(client, "describe_configuration_recorder_status").get("ConfigurationRecordersStatus", [])
            recording = any(s.get("recording") for s in statuses if s.get("name") == recorder["name"])
            covers, how = records_security_groups(recorder)
            if not recording:
                checks.append(
                    Check(
                        region,
                        name,
                        FAIL,
                        f"recorder {recorder['name']} is stopped",
                        f"aws configservice start-configuration-recorder --configuration-recorder-name {recorder['name']}",
                    )
                )
            elif not covers:
                checks.append(
                    Check(
                        region,
                        name,
                        FAIL,
                        f"recorder {recorder['name']}: {how}",
                        f"aws configservice put-configuration-recorder: add {SECURITY_GROUP_TYPE} to the recording group"
                        f" of {recorder['name']} (sgwatch does not replace an existing recorder)",
                    )
                )
            else:
                checks.append(Check(region, name, PASS, f"recorder {recorder['name']} is recording: {how}"))
    except _Unknown as unknown:
        checks.append(Check(region, name, UNKNOWN, str(unknown)))
    channel = "AWS Config delivery channel"
    try:
        channels = _call(client, "describe_delivery_channels").get("DeliveryChannels", [])
        if channels:
            checks.append(Check(region, channel, PASS, f"delivery channel {channels[0]['name']} exists"))
        else:
            checks.append(
                Check(
                    region,
                    channel,
                    FAIL,
                    "no delivery channel: the recorder cannot record without one",
                    f"aws configservice put-delivery-channel --region {region} ...; {RECORDER_BY_SGWATCH}",
                )
            )
    except _Unknown as unknown:
        checks.append(Check(region, channel, UNKNOWN, str(unknown)))
    return checks


# --- sgwatch ------------------------------------------------------------------------------------------------------


def is_sgwatch_pattern(pattern: dict[str, Any]) -> bool:
    """A rule built from sgwatch's pattern (any scope): aws.ec2, and only monitored event names."""
    if pattern.get("source") != [EVENTBRIDGE_SOURCE]:
        return False
    detail = pattern.get("detail") or {}
    names = list(detail.get("eventName", []))
    for branch in detail.get("$or", []):
        names += branch.get("eventName", [])
    return bool(names) and all(name in MONITORED_BY_NAME for name in names)


def is_guard_pattern(pattern: dict[str, Any]) -> bool:
    """A rule built from the guard's pattern: the tamper calls' services, and only tamper call names."""
    detail = pattern.get("detail") or {}
    names = [name if isinstance(name, str) else name.get("prefix", "") for name in detail.get("eventName", [])]
    sources = {call.source for call in TAMPER_CALLS}
    return bool(names) and set(detail.get("eventSource", [])) <= sources and all(n in TAMPER_BY_NAME for n in names)


RULE_CHECK = "sgwatch rule deployed and enabled"
GUARD_CHECK = "sgwatch guard rule deployed and enabled"
HEARTBEAT_CHECK = "sgwatch heartbeat arrives"
DEAD_LETTER_CHECK = "nothing waits in sgwatch's dead-letter queues"


def _guard(region: str, rules: list[dict[str, Any]]) -> Check:
    """The guard rule beside the detection rule: without it, the calls that blind the monitor are not alerted."""
    guards = [rule for rule in rules if rule.get("EventPattern") and is_guard_pattern(json.loads(rule["EventPattern"]))]
    if not guards:
        return Check(
            region,
            GUARD_CHECK,
            FAIL,
            "no guard rule in this region: StopLogging, DisableRule and the other calls that blind the monitor are"
            " not alerted",
            "make deploy (the stack, and each forwarder stack, carries one)",
        )
    disabled = [rule for rule in guards if rule.get("State") != "ENABLED"]
    if disabled:
        return Check(
            region,
            GUARD_CHECK,
            FAIL,
            f"guard rule {disabled[0]['Name']} is {disabled[0].get('State')}",
            f"aws events enable-rule --name {disabled[0]['Name']} --region {region}",
        )
    return Check(region, GUARD_CHECK, PASS, f"guard rule {guards[0]['Name']} is enabled")


def _rules(region: str, clients: ClientFactory) -> list[dict[str, Any]]:
    events = clients("events", region)
    rules = []
    token = None
    while True:
        page = _call(events, "list_rules", **({"NextToken": token} if token else {}))
        rules += page.get("Rules", [])
        token = page.get("NextToken")
        if not token:
            break
    return rules


def _sgwatch(region: str, clients: ClientFactory) -> list[Check]:
    """The rule (the pipeline's, or a forwarder's) and, when there is one, its dead-letter queues; the guard rule."""
    events = clients("events", region)
    rules = _rules(region, clients)
    guard = _guard(region, rules)
    ours = [rule for rule in rules if rule.get("EventPattern") and is_sgwatch_pattern(json.loads(rule["EventPattern"]))]
    if not ours:
        return [
            Check(
                region,
                RULE_CHECK,
                FAIL,
                "no sgwatch rule in this region",
                f"add {region} to the context key regions and make deploy: it gets a forwarder to the home region",
            ),
            guard,
        ]
    rule = ours[0]
    if rule.get("State") != "ENABLED":
        return [
            Check(
                region,
                RULE_CHECK,
                FAIL,
                f"rule {rule['Name']} is {rule.get('State')}",
                "make deploy ARGS='-c enabled=true'",
            ),
            guard,
        ]
    targets = _call(events, "list_targets_by_rule", Rule=rule["Name"]).get("Targets", [])
    checks = [_rule_target(region, rule["Name"], targets, clients)]
    try:
        checks.append(_dead_letters(region, rule["Name"], targets, clients))
    except _Unknown as unknown:
        checks.append(Check(region, DEAD_LETTER_CHECK, UNKNOWN, str(unknown)))
    return [*checks, guard]


# --- the heartbeat ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    """A heartbeat alarm found in the account: the region it watches, its state, where it lives, the last beat."""

    region: str
    state: str
    alarm: str
    home: str
    minutes: int  # the alarm's window
    last: str = ""  # the last heartbeat's time, ISO, when CloudWatch has one in the last day


def _heartbeats(region: str, clients: ClientFactory) -> list[Heartbeat]:
    """The heartbeat alarms in `region` (they all live in the home region), each with its last heartbeat."""
    cloudwatch = clients("cloudwatch", region)
    alarms: list[dict[str, Any]] = []
    token = None
    while True:
        page = _call(
            cloudwatch, "describe_alarms", AlarmTypes=["MetricAlarm"], **({"NextToken": token} if token else {})
        )
        alarms += page.get("MetricAlarms", [])
        token = page.get("NextToken")
        if not token:
            break
    found = []
    for alarm in alarms:
        if alarm.get("Namespace") != sgwatch_names.METRIC_NAMESPACE:
            continue
        if alarm.get("MetricName") != sgwatch_names.METRIC_HEARTBEATS:
            continue
        dimensions = alarm.get("Dimensions", [])
        watched = next((d["Value"] for d in dimensions if d["Name"] == sgwatch_names.REGION_DIMENSION), "")
        now = datetime.now(UTC)
        points = _call(
            cloudwatch,
            "get_metric_statistics",
            Namespace=sgwatch_names.METRIC_NAMESPACE,
            MetricName=sgwatch_names.METRIC_HEARTBEATS,
            Dimensions=dimensions,
            StartTime=now - timedelta(days=1),
            EndTime=now + timedelta(minutes=5),  # the current period, which may hold the newest heartbeat
            Period=300,
            Statistics=["Sum"],
        ).get("Datapoints", [])
        beats = [point["Timestamp"] for point in points if point.get("Sum", 0) > 0]
        last = max(beats).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if beats else ""
        window = int(alarm.get("Period", 0)) * int(alarm.get("EvaluationPeriods", 1)) // 60
        found.append(Heartbeat(watched, alarm.get("StateValue", ""), alarm["AlarmName"], region, window, last))
    return found


def heartbeat_checks(regions: Sequence[str], found: Sequence[Heartbeat]) -> list[Check]:
    """Per audited region: its heartbeat alarm's state and the last heartbeat. An account with no heartbeat alarm
    (heartbeatMinutes=0, or an organization's member: the central account watches) gets one UNKNOWN."""
    if not found:
        return [
            Check(
                ACCOUNT,
                HEARTBEAT_CHECK,
                UNKNOWN,
                "no sgwatch heartbeat alarm in the audited regions (heartbeatMinutes=0, an older sgwatch, or a member"
                " account: the central account's home region has them)",
                "make deploy ARGS='-c heartbeatMinutes=30' in the account that runs sgwatch",
            )
        ]
    by_region = {heartbeat.region: heartbeat for heartbeat in found}
    checks = []
    for region in regions:
        heartbeat = by_region.get(region)
        if heartbeat is None:
            checks.append(
                Check(
                    region,
                    HEARTBEAT_CHECK,
                    FAIL,
                    "no heartbeat canary covers this region: if sgwatch stopped seeing it, nothing would say so",
                    f"add {region} to the context key regions and make deploy (a forwarder stack with its canary)",
                )
            )
            continue
        last = f"last heartbeat {heartbeat.last}" if heartbeat.last else "no heartbeat in the last day"
        where = f"alarm {heartbeat.alarm} in {heartbeat.home}"
        if heartbeat.state == "OK":
            checks.append(Check(region, HEARTBEAT_CHECK, PASS, f"{last} ({where})"))
        elif heartbeat.state == "ALARM":
            checks.append(
                Check(
                    region,
                    HEARTBEAT_CHECK,
                    FAIL,
                    f"no heartbeat for {heartbeat.minutes} minutes: {last} ({where}); changes made here are not seen",
                    "the path is broken somewhere: read the checks above for this region (trail, rules, dead letters),"
                    " then the canary's and the function's logs",
                )
            )
        else:
            checks.append(Check(region, HEARTBEAT_CHECK, UNKNOWN, f"{where} is {heartbeat.state or 'unknown'}; {last}"))
    return checks


def _rule_target(region: str, rule: str, targets: list[dict[str, Any]], clients: ClientFactory) -> Check:
    functions = clients("lambda", region)
    for target in targets:
        arn = target["Arn"]
        if ":lambda:" in arn:
            return Check(region, RULE_CHECK, PASS, f"rule {rule} is enabled and invokes {arn}")
        if ":event-bus/" in arn:  # a forwarder: the pipeline runs where that bus is (checked there)
            return Check(region, RULE_CHECK, PASS, f"rule {rule} is enabled and forwards to {arn}")
        if ":sqs:" in arn:
            mappings = _call(functions, "list_event_source_mappings", EventSourceArn=arn).get("EventSourceMappings", [])
            enabled = [m for m in mappings if m.get("State") in ("Enabled", "Enabling", "Updating")]
            if enabled:
                feeds = enabled[0]["FunctionArn"].rsplit(":", 1)[-1]
                return Check(region, RULE_CHECK, PASS, f"rule {rule} is enabled; its queue feeds {feeds}")
    return Check(region, RULE_CHECK, FAIL, f"rule {rule} reaches no function", "make deploy (the stack is incomplete)")


def _queue(clients: ClientFactory, arn: str) -> tuple[Any, str]:
    """The SQS client of the queue's region and the queue's URL."""
    _, _, _, region, account, name = arn.split(":", 5)
    sqs = clients("sqs", region)
    return sqs, _call(sqs, "get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _dead_letters(region: str, rule: str, targets: list[dict[str, Any]], clients: ClientFactory) -> Check:
    """Each message in a dead-letter queue is a change sgwatch did not alert on: EventBridge could not deliver it, or
    the function could not process it."""
    queues: list[tuple[str, str, str]] = []  # (queue ARN, what its messages are, how to act)
    for target in targets:
        undelivered = (target.get("DeadLetterConfig") or {}).get("Arn")
        if undelivered:
            queues.append((
                undelivered,
                f"that rule {rule} could not deliver",
                "read why in the messages' ERROR_CODE and ERROR_MESSAGE attributes"
                " (aws sqs receive-message --message-attribute-names All --queue-url URL) and fix the target",
            ))  # fmt: skip
        if ":sqs:" in target["Arn"]:
            sqs, url = _queue(clients, target["Arn"])
            redrive = _call(sqs, "get_queue_attributes", QueueUrl=url, AttributeNames=["RedrivePolicy"])
            policy = json.loads(redrive.get("Attributes", {}).get("RedrivePolicy") or "{}")
            if policy.get("deadLetterTargetArn"):
                queues.append((
                    policy["deadLetterTargetArn"],
                    "that the function could not process",
                    "see the function's errors in its log group, fix them, then send the messages back:"
                    f" aws sqs start-message-move-task --source-arn {policy['deadLetterTargetArn']}",
                ))  # fmt: skip
    if not queues:
        return Check(region, DEAD_LETTER_CHECK, PASS, f"rule {rule} has no dead-letter queue to look at")
    waiting = []
    for arn, what, fix in queues:
        sqs, url = _queue(clients, arn)
        attributes = _call(sqs, "get_queue_attributes", QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        count = int(attributes.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))
        if count:
            waiting.append((f"{count} {'change' if count == 1 else 'changes'} {what}, in {arn}", fix))
    if waiting:
        return Check(
            region, DEAD_LETTER_CHECK, FAIL, "; ".join(w for w, _ in waiting), "; ".join(f for _, f in waiting)
        )
    return Check(region, DEAD_LETTER_CHECK, PASS, "empty: " + ", ".join(arn.rsplit(":", 1)[-1] for arn, _, _ in queues))


# --- the audit ----------------------------------------------------------------------------------------------------


def enabled_regions(clients: ClientFactory, default_region: str) -> list[str]:
    """The regions enabled for the account. Raises RuntimeError when they cannot be listed."""
    try:
        regions = _call(clients("ec2", default_region), "describe_regions").get("Regions", [])
    except _Unknown as unknown:
        raise RuntimeError(f"cannot list the account's regions: {unknown}") from None
    return sorted(region["RegionName"] for region in regions)


def _region(
    region: str, clients: ClientFactory, cache: dict[str, Any]
) -> tuple[list[Check], list[dict[str, Any]], list[Heartbeat]]:
    checks: list[Check] = []
    trails: list[dict[str, Any]] = []
    try:
        trails = _call(clients("cloudtrail", region), "describe_trails", includeShadowTrails=True).get("trailList", [])
        checks.append(_cloudtrail(region, clients, trails, cache))
    except _Unknown as unknown:
        checks.append(Check(region, "CloudTrail records management writes", UNKNOWN, str(unknown)))
    checks += _config(region, clients)
    try:
        checks += _sgwatch(region, clients)
    except _Unknown as unknown:
        checks.append(Check(region, RULE_CHECK, UNKNOWN, str(unknown)))
    heartbeats: list[Heartbeat] = []
    try:
        heartbeats = _heartbeats(region, clients)
    except _Unknown as unknown:
        checks.append(Check(region, HEARTBEAT_CHECK, UNKNOWN, str(unknown)))
    return checks, trails, heartbeats


def run_audit(
    regions: Sequence[str], clients: ClientFactory, workers: int = 8, progress: Callable[[str], None] | None = None
) -> list[Check]:
    """Every check in every region (regions in parallel), then the account-wide multi-region trail check."""
    cache: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(regions)))) as pool:
        results = []
        for region, (checks, trails, heartbeats) in zip(
            regions, pool.map(lambda r: _region(r, clients, cache), regions), strict=True
        ):
            results.append((checks, trails, heartbeats))
            if progress:
                progress(region)
    checks = [check for region_checks, _, _ in results for check in region_checks]
    all_trails = [trail for _, trails, _ in results for trail in trails]
    if not any(check.name == HEARTBEAT_CHECK for check in checks):  # the alarms could be read
        beats = heartbeat_checks(regions, [beat for _, _, found in results for beat in found])
        order = {region: index for index, region in enumerate([ACCOUNT, *regions])}
        # each region's heartbeat after its other checks (a stable sort keeps their order)
        checks = sorted([*checks, *beats], key=lambda check: order.get(check.region, len(order)))
    name = "a multi-region trail exists"
    if any(c.name.startswith("CloudTrail") and c.status == UNKNOWN for c in checks) and not all_trails:
        checks.insert(0, Check(ACCOUNT, name, UNKNOWN, "the trails could not be listed"))
    elif any(trail.get("IsMultiRegionTrail") for trail in all_trails):
        multi = sorted({trail["Name"] for trail in all_trails if trail.get("IsMultiRegionTrail")})
        checks.insert(0, Check(ACCOUNT, name, PASS, f"multi-region trail: {', '.join(multi)}"))
    else:
        checks.insert(
            0,
            Check(
                ACCOUNT,
                name,
                FAIL,
                "no multi-region trail: a new region would go unrecorded",
                "make deploy ARGS='-c createTrail=true', or: aws cloudtrail update-trail --name NAME --is-multi-region-trail",
            ),
        )
    return checks


def exit_status(checks: Iterable[Check]) -> int:
    """0 when every check passed, 1 when any failed, 2 when some could not be run (and none failed)."""
    statuses = {check.status for check in checks}
    if FAIL in statuses:
        return 1
    return 2 if UNKNOWN in statuses else 0


def render_table(checks: Sequence[Check]) -> str:
    """One line per check (and one for its fix), every field made inert: details quote names and errors from AWS."""
    rows = [
        (clean(c.region, 80), clean(c.name, 80), clean(c.status, 10), clean(c.detail, 2000), clean(c.fix, 2000))
        for c in checks
    ]
    width = max([len(row[0]) for row in rows] + [7])
    name_width = max(len(row[1]) for row in rows) if rows else 10
    lines = [f"{'REGION':<{width}}  {'CHECK':<{name_width}}  {'STATUS':<7}  DETAIL"]
    for region, name, status, detail, fix in rows:
        lines.append(f"{region:<{width}}  {name:<{name_width}}  {status:<7}  {detail}")
        if fix:
            lines.append(f"{'':<{width}}  {'':<{name_width}}  {'':<7}  fix: {fix}")
    counts = {status: sum(1 for c in checks if c.status == status) for status in (PASS, FAIL, UNKNOWN)}
    lines.append(f"\naudit: {counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[UNKNOWN]} UNKNOWN")
    return "\n".join(lines) + "\n"
