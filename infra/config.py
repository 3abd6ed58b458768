"""The stack's settings, read once from CDK context and validated into a frozen object."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.events import SCOPES
from sgwatch.core.policy import Policy, read_policy

__all__ = ["ConfigError", "load_config"]
from sgwatch.core.severity import Severity

from infra.forwarder import forwarder_alarm_rule_name, forwarder_role_name
from infra.regions import COMMERCIAL_REGIONS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[\w-]+:\d+$")

#: Every context key the app reads, with its default and what it means (the README's table is built from this).
CONTEXT_KEYS: dict[str, tuple[Any, str]] = {
    "alertEmail": ("", "address that receives alerts at or above minSeverity (none: subscribe something else)"),
    "operationsEmail": ("", "address that receives the operational alarms (default: alertEmail)"),
    "minSeverity": ("MEDIUM", "lowest severity emailed (SNS filter policy on severity_rank)"),
    "publishMinSeverity": ("LOW", "lowest severity the function publishes; lower changes are logged and counted"),
    "batchWindowSeconds": (20, "how long the function waits to fill a batch (0-20 s): the detection delay it adds"),
    "batchSize": (10, "SQS messages per invocation (1-100)"),
    "maxConcurrency": (
        10,
        "most invocations the buffer runs at once (2-1000): what a burst may draw on the account's Lambda concurrency",
    ),
    "reservedConcurrency": (
        0,
        "concurrency reserved for the function (0: unreserved; else at least maxConcurrency): other functions cannot"
        " starve it, but the reserve is taken from the account's unreserved pool even when sgwatch is idle",
    ),
    "maxReceiveCount": (5, "failed receives before a message goes to the dead-letter queue"),
    "logRetentionDays": (90, "retention of the function's log group"),
    "powertoolsLayerArn": ("", "pin the Powertools layer (default: the public SSM parameter, resolved at deploy)"),
    "enabled": (True, "false disables the detection rule without destroying anything"),
    "monitor": ("all", "all, or ingress: leave out the egress-only calls (scale monitoring down)"),
    "createTrail": (False, "true creates a multi-region trail for management events, with its encrypted log bucket"),
    "trailEncryption": (
        True,
        "with createTrail: encrypt the trail's log files with a customer-managed KMS key ($1 a month);"
        " false: the bucket's S3-managed encryption only",
    ),
    "recordSecurityGroups": (False, "true creates an AWS Config recorder and delivery channel for security groups"),
    "complianceLogDays": (365, "with createTrail or recordSecurityGroups: days before their logs expire"),
    "policyFile": ("", "a policy file (TOML), validated at synth and shipped to the function"),
    "regions": ("", "other regions to watch: a comma list, or all (infra/regions.py); each gets a forwarder stack"),
    "homeRegion": ("", "with regions: the region that runs the pipeline (required then)"),
    "organizationId": ("", "organization mode: this (central) account admits the organization's events (o-...)"),
    "organizationUnits": ("", "organization mode: the OUs (or the root, r-...) whose accounts get the member StackSet"),
    "memberAlarms": (
        True,
        "organization mode: each member forwarder's two alarms (events in its dead-letter queue, failed deliveries),"
        " reported to the operations topic ($0.20 per member account and region per month; false: rely on"
        " `sgwatch audit --accounts`)",
    ),
    "centralForwarders": (
        False,
        "organization mode: forwarder stacks in the central account's other regions too (true only when the central"
        " account is in none of organizationUnits: the StackSet covers it otherwise)",
    ),
    "delegatedAdmin": (
        True,
        "organization mode: deploy the StackSet as a delegated administrator (false: from the management account)",
    ),
    "heartbeatMinutes": (
        30,
        "the heartbeat canary's interval in the home region, each forwarder region and each member region (5-360;"
        " 0: no heartbeat); an alarm per region (for members, the watchdog's) fires when none arrives for two"
        " intervals and 15 minutes (about $0.50 per region a month)",
    ),
    "securityHub": (
        False,
        "true: each published change from securityHubMinSeverity up is also a Security Hub finding in its region (the"
        " account's default product; Security Hub must be enabled there)",
    ),
    "securityHubMinSeverity": ("MEDIUM", "with securityHub: the lowest severity imported as a finding"),
    "slackWorkspaceId": ("", "with slackChannelId: the Slack workspace (team) id, authorized once in the console"),
    "slackChannelId": ("", "a Slack channel (its id, C...) that shows alerts from chatMinSeverity up"),
    "teamsTenantId": (
        "",
        "with teamsTeamId and teamsChannelId: the Microsoft Teams tenant, authorized once in the console",
    ),
    "teamsTeamId": ("", "the Microsoft Teams team id"),
    "teamsChannelId": ("", "a Microsoft Teams channel that shows alerts from chatMinSeverity up"),
    "chatMinSeverity": ("HIGH", "with a Slack or Teams channel: the lowest severity posted there"),
    "remediate": (
        "",
        "severities whose added inbound rules the function revokes by rule id (CRITICAL, or CRITICAL,HIGH); none: no"
        " remediation. Read docs/remediation.md first: a revoke can break a service someone needed",
    ),
    "remediateMode": ("dry-run", "with remediate: dry-run (say what would be revoked) or enforce"),
    "remediateMaxPerHour": (10, "with remediate: the circuit breaker, revocations an hour (1-1000); more are held"),
    "remediateTag": (
        "",
        "with remediate: KEY=VALUE, only groups that carry this tag are remediated (the function's revoke permission"
        " is conditioned on it too)",
    ),
    "scanSchedule": (
        "",
        "a schedule (rate(1 day), or cron(...)) for `sgwatch scan` of the home region and each watched region: an"
        " alert per region of the open rules no earlier scan reported, or whose approval has expired (none: no"
        " scheduled scan)",
    ),
    "scanMinSeverity": ("MEDIUM", "with scanSchedule: the lowest severity the scheduled scan reports"),
    "stackName": ("sgwatch", "name of the CloudFormation stack"),
}

_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


@dataclass(frozen=True)
class SlackChannel:
    workspace_id: str
    channel_id: str


@dataclass(frozen=True)
class TeamsChannel:
    team_id: str
    channel_id: str
    tenant_id: str


@dataclass(frozen=True)
class MonitorConfig:
    alert_email: str
    operations_email: str
    min_severity: Severity
    publish_min_severity: Severity
    batch_window_seconds: int
    batch_size: int
    max_concurrency: int
    reserved_concurrency: int
    max_receive_count: int
    log_retention_days: int
    powertools_layer_arn: str
    enabled: bool
    stack_name: str
    monitor: str
    create_trail: bool
    trail_encryption: bool
    record_security_groups: bool
    compliance_log_days: int
    policy_file: str
    policy_text: str
    home_region: str
    forwarded_regions: tuple[str, ...]
    organization_id: str
    organizational_units: tuple[str, ...]
    delegated_admin: bool
    member_alarms: bool
    central_forwarders: bool
    heartbeat_minutes: int
    security_hub_min_severity: Severity | None = None  # None: no Security Hub findings
    slack: SlackChannel | None = None
    teams: TeamsChannel | None = None
    chat_min_severity: Severity = Severity.HIGH
    remediate: tuple[Severity, ...] = ()  # the severities remediated; () for none
    remediate_mode: str = "dry-run"
    remediate_max_per_hour: int = 10
    remediate_tag: str = ""  # KEY=VALUE
    scan_schedule: str = ""  # an EventBridge schedule expression; "" for no scheduled scan
    scan_min_severity: Severity = Severity.MEDIUM

    @property
    def scan_keep_seconds(self) -> int:
        """How long the scheduled scan remembers a finding it has not seen again (each scan renews what stands): two
        intervals and an hour for a rate, at least a day; 45 days for a cron expression, whose interval is at most a
        month. Shorter than the interval, every scan would report everything again."""
        found = _RATE.match(self.scan_schedule)
        if not found:
            return 45 * 86_400
        seconds = int(found.group(1)) * _RATE_UNITS[found.group(2).rstrip("s")]
        return max(86_400, 2 * seconds + 3600)

    @property
    def regional_forwarders(self) -> tuple[str, ...]:
        """The regions that get a forwarder stack in this account: in organization mode the StackSet forwards
        instead, unless the central account is outside its OUs."""
        return self.forwarded_regions if not self.organization_id or self.central_forwarders else ()

    @property
    def forwarding_bus(self) -> str:
        """The home bus that forwarders send to: in organization mode a bus of sgwatch's own, whose policy admits
        only the members' forwarders; otherwise the default bus (same account: no bus policy needed)."""
        return self.stack_name if self.organization_id else "default"


def _integer(key: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"context {key}: expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"context {key}: {number} is outside {low}-{high}")
    return number


def _boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(f"context {key}: expected true or false, got {value!r}")


def _email(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if text and not _EMAIL.match(text):
        raise ConfigError(f"context {key}: {text!r} is not an email address")
    return text


def _severity(key: str, value: Any) -> Severity:
    try:
        severity = Severity.parse(str(value))
    except ValueError as error:
        raise ConfigError(f"context {key}: {error}") from None
    if severity is Severity.NONE:
        raise ConfigError(f"context {key}: NONE would send changes that are not security-group changes; use INFO")
    return severity


def load_config(get: Callable[[str], Any]) -> MonitorConfig:
    """Read every key through `get` (node.try_get_context), apply defaults, validate, freeze."""

    def value(key: str) -> Any:
        found = get(key)
        return CONTEXT_KEYS[key][0] if found is None or found == "" else found

    retention = _integer("logRetentionDays", value("logRetentionDays"), 1, 3653)
    if retention not in _RETENTION_DAYS:
        raise ConfigError(f"context logRetentionDays: {retention} is not one CloudWatch Logs offers: {_RETENTION_DAYS}")
    layer = str(value("powertoolsLayerArn"))
    if layer and not _LAYER_ARN.match(layer):
        raise ConfigError(f"context powertoolsLayerArn: {layer!r} is not a Lambda layer version ARN")
    alert_email = _email("alertEmail", value("alertEmail"))
    max_concurrency = _integer("maxConcurrency", value("maxConcurrency"), 2, 1000)  # the event source's own bounds
    policy_file, policy_text, policy = _policy(str(value("policyFile")))
    channels = policy.channels if policy else {}
    config = MonitorConfig(
        alert_email=alert_email,
        operations_email=_email("operationsEmail", value("operationsEmail")) or alert_email,
        # A policy's channels, reviewed with the rest of it, win over the context.
        min_severity=channels.get("email") or _severity("minSeverity", value("minSeverity")),
        publish_min_severity=channels.get("publish") or _severity("publishMinSeverity", value("publishMinSeverity")),
        batch_window_seconds=_integer("batchWindowSeconds", value("batchWindowSeconds"), 0, 20),
        batch_size=_integer("batchSize", value("batchSize"), 1, 100),
        max_concurrency=max_concurrency,
        reserved_concurrency=_reserved_concurrency(value("reservedConcurrency"), max_concurrency),
        max_receive_count=_integer("maxReceiveCount", value("maxReceiveCount"), 1, 1000),
        log_retention_days=retention,
        powertools_layer_arn=layer,
        enabled=_boolean("enabled", value("enabled")),
        stack_name=str(value("stackName")),
        monitor=_scope(str(value("monitor"))),
        create_trail=_boolean("createTrail", value("createTrail")),
        trail_encryption=_boolean("trailEncryption", value("trailEncryption")),
        record_security_groups=_boolean("recordSecurityGroups", value("recordSecurityGroups")),
        compliance_log_days=_integer("complianceLogDays", value("complianceLogDays"), 1, 3653),
        policy_file=policy_file,
        policy_text=policy_text,
        **_regions(str(value("regions")), str(value("homeRegion"))),
        **_organization(str(value("organizationId")), str(value("organizationUnits")), str(value("homeRegion"))),
        delegated_admin=_boolean("delegatedAdmin", value("delegatedAdmin")),
        member_alarms=_boolean("memberAlarms", value("memberAlarms")),
        central_forwarders=_boolean("centralForwarders", value("centralForwarders")),
        heartbeat_minutes=_heartbeat(value("heartbeatMinutes")),
        security_hub_min_severity=(
            _severity("securityHubMinSeverity", value("securityHubMinSeverity"))
            if _boolean("securityHub", value("securityHub"))
            else None
        ),
        **_chat(value),
        **_scan(value),
        **_remediate(value),
    )
    _check_names(config)
    return config


_SLACK_ID = re.compile(r"^[A-Z0-9]{1,255}$")
_TEAMS_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: CloudFormation's pattern for a Teams channel id: URL-encoded, as it appears in the channel's link (19%3a...%40thread...)
_TEAMS_CHANNEL = re.compile(r"^([a-zA-Z0-9-_=+/.,])*%3[aA]([a-zA-Z0-9-_=+/.,])*%40([a-zA-Z0-9-_=+/.,])*$")


_RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86_400}
#: A cron expression whose minutes field is one minute: it runs at most hourly.
_CRON = re.compile(r"^cron\(\d{1,2} \S+ \S+ \S+ \S+ \S+\)$")


def _remediate(value: Callable[[str], Any]) -> dict[str, Any]:
    """Remediation: the severities (default none), the mode (dry-run unless told enforce), the hour's limit."""
    text = str(value("remediate")).strip()
    mode = str(value("remediateMode")).strip()
    if mode not in ("dry-run", "enforce"):
        raise ConfigError(f"context remediateMode: {mode!r} is not dry-run or enforce")
    severities = tuple(_severity("remediate", part.strip()) for part in text.split(",") if part.strip())
    if any(severity < Severity.HIGH for severity in severities):
        raise ConfigError("context remediate: only HIGH and CRITICAL: a revoke can break a service someone needed")
    limit = _integer("remediateMaxPerHour", value("remediateMaxPerHour"), 1, 1000)
    tag = str(value("remediateTag")).strip()
    if tag and not re.match(r"^[^=\s]{1,128}=[^=]{0,256}$", tag):
        raise ConfigError(f"context remediateTag: {tag!r} is not KEY=VALUE")
    return {"remediate": severities, "remediate_mode": mode, "remediate_max_per_hour": limit, "remediate_tag": tag}


def _scan(value: Callable[[str], Any]) -> dict[str, Any]:
    """The scheduled scan: an EventBridge schedule expression, no more often than hourly (a scan reads every page)."""
    schedule = str(value("scanSchedule")).strip()
    minimum = _severity("scanMinSeverity", value("scanMinSeverity"))
    if not schedule:
        return {"scan_schedule": "", "scan_min_severity": minimum}
    rate = _RATE.match(schedule)
    if rate is None and not _CRON.match(schedule):
        raise ConfigError(
            f"context scanSchedule: {schedule!r} is not a schedule expression that runs at most hourly: rate(1 day),"
            " rate(12 hours), or cron(MINUTE hours day-of-month month day-of-week year) with one minute"
        )
    seconds = int(rate.group(1)) * _RATE_UNITS[rate.group(2).rstrip("s")] if rate else 3600
    if not 3600 <= seconds <= 30 * 86_400:
        raise ConfigError(
            f"context scanSchedule: {schedule!r}: from hourly to every 30 days (a scan reads every page; a rarer one"
            " reports drift too late)"
        )
    return {"scan_schedule": schedule, "scan_min_severity": minimum}


def _chat(value: Callable[[str], Any]) -> dict[str, Any]:
    """The chat channels: Slack's two ids together, Teams' three together, each in the form the service takes."""
    slack = {key: str(value(key)) for key in ("slackWorkspaceId", "slackChannelId")}
    teams = {key: str(value(key)) for key in ("teamsTenantId", "teamsTeamId", "teamsChannelId")}
    for group in (slack, teams):
        if any(group.values()) and not all(group.values()):
            missing = ", ".join(key for key, given in group.items() if not given)
            raise ConfigError(f"context {', '.join(group)} go together: {missing} missing")
    for key, given in slack.items():
        if given and not _SLACK_ID.match(given):
            raise ConfigError(f"context {key}: {given!r} is not a Slack id (capital letters and digits, as T0123ABC)")
    for key in ("teamsTenantId", "teamsTeamId"):
        if teams[key] and not _TEAMS_UUID.match(teams[key]):
            raise ConfigError(f"context {key}: {teams[key]!r} is not a UUID")
    if teams["teamsChannelId"]:  # as Teams shows it (19:...@thread.tacv2) or as its link has it: stored encoded
        teams["teamsChannelId"] = quote(unquote(teams["teamsChannelId"]), safe="")
        if not _TEAMS_CHANNEL.match(teams["teamsChannelId"]):
            raise ConfigError(
                f"context teamsChannelId: {teams['teamsChannelId']!r} is not a Teams channel id (19:...@thread.tacv2)"
            )
    return {
        "slack": SlackChannel(slack["slackWorkspaceId"], slack["slackChannelId"]) if all(slack.values()) else None,
        "teams": (
            TeamsChannel(teams["teamsTeamId"], teams["teamsChannelId"], teams["teamsTenantId"])
            if all(teams.values())
            else None
        ),
        "chat_min_severity": _severity("chatMinSeverity", value("chatMinSeverity")),
    }


#: EventBridge rule names and IAM role names, both at most 64 characters.
_NAME_LIMIT = 64


def _check_names(config: MonitorConfig) -> None:
    """The stack name prefixes the forwarders' rules (by name, so that their roles trust only them) and, in
    organization mode, the members' forwarder roles (by name, so that the central bus admits only them)."""
    names = []
    if config.regional_forwarders or config.organization_id:
        names.append(forwarder_alarm_rule_name(config.stack_name))
    if config.organization_id:
        regions = (config.home_region, *config.forwarded_regions)
        names += [forwarder_role_name(config.stack_name, region) for region in regions]
    for name in names:
        if len(name) > _NAME_LIMIT:
            raise ConfigError(
                f"context stackName: {config.stack_name!r} makes the forwarder name {name!r}, longer than"
                f" {_NAME_LIMIT} characters; choose a stack name of at most"
                f" {len(config.stack_name) - len(name) + _NAME_LIMIT} characters"
            )


def _heartbeat(value: Any) -> int:
    """0 (off), or an interval whose alarm window (two intervals and 15 minutes) CloudWatch allows (at most a day)."""
    minutes = _integer("heartbeatMinutes", value, 0, 360)
    if 0 < minutes < 5:
        raise ConfigError(f"context heartbeatMinutes: {minutes} is too often; use 5 to 360, or 0 for no heartbeat")
    return minutes


def _reserved_concurrency(value: Any, max_concurrency: int) -> int:
    """0 (unreserved), or enough for every invocation the event source may run: AWS advises reserved concurrency
    of at least the SQS event source's maximum concurrency, or the function is throttled below it."""
    reserved = _integer("reservedConcurrency", value, 0, 1000)
    if 0 < reserved < max_concurrency:
        raise ConfigError(
            f"context reservedConcurrency: {reserved} is below maxConcurrency ({max_concurrency}), so the buffer's"
            f" invocations would be throttled; reserve at least {max_concurrency}, lower maxConcurrency, or set 0"
            " (unreserved)"
        )
    return reserved


def _organization(organization_id: str, units: str, home: str) -> dict[str, Any]:
    if not organization_id:
        return {"organization_id": "", "organizational_units": ()}
    if not re.match(r"^o-[a-z0-9]{10,32}$", organization_id):
        raise ConfigError(f"context organizationId: {organization_id!r} is not an organization id (o-...)")
    listed = tuple(unit.strip() for unit in units.split(",") if unit.strip())
    if not listed:
        raise ConfigError(
            "context organizationUnits: organization mode needs the OUs (ou-...) or the root (r-...) to deploy to"
        )
    for unit in listed:
        if not re.match(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$", unit):
            raise ConfigError(f"context organizationUnits: {unit!r} is not an OU id (ou-...) or a root id (r-...)")
    if not home:
        raise ConfigError("context homeRegion: required in organization mode (the central region)")
    return {"organization_id": organization_id, "organizational_units": listed}


def _regions(text: str, home: str) -> dict[str, Any]:
    """The home region and the regions that forward to it (never the home region itself: no loops)."""
    if not text:
        return {"home_region": home, "forwarded_regions": ()}
    listed = (
        COMMERCIAL_REGIONS if text == "all" else tuple(region.strip() for region in text.split(",") if region.strip())
    )
    if not home:
        raise ConfigError("context homeRegion: required with regions (the region that runs the pipeline)")
    for region in (*listed, home):
        if not _REGION.match(region):
            raise ConfigError(f"context regions: {region!r} is not a region name such as eu-west-1")
    return {"home_region": home, "forwarded_regions": tuple(dict.fromkeys(r for r in listed if r != home))}


def _policy(path: str) -> tuple[str, str, Policy | None]:
    """The policy file, read and validated now: a bad policy fails the synth, not the function at run time."""
    if not path:
        return "", "", None
    try:
        policy = read_policy(path)
    except PolicyError as error:
        raise ConfigError(f"context policyFile: {error}") from None
    return path, policy.text, policy


def _scope(text: str) -> str:
    if text not in SCOPES:
        raise ConfigError(f"context monitor: {text!r} is not a scope; expected one of {', '.join(SCOPES)}")
    return text
