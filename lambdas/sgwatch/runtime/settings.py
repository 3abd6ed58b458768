"""The function's settings: its environment, validated once into a frozen object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sgwatch.core import names
from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.events import SCOPES
from sgwatch.core.policy import read_policy
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import GUESSED_BY_NAME, OwnResources, exact_resources
from sgwatch.runtime.pipeline import PipelineSettings

if TYPE_CHECKING:
    from sgwatch.core.remediation import RemediationSettings


@dataclass(frozen=True)
class HandlerSettings:
    topic_arn: str
    pipeline: PipelineSettings
    dedup_table: str = ""
    claim_stale_seconds: int = 0
    enrichment_role: str = ""  # the role name to describe groups in member accounts; "" for the home account only
    chat_topic_arn: str = ""  # the chat topic (Amazon Q Developer in chat applications); "" for none
    remediate_max_per_hour: int = 0  # the circuit breaker's limit, with remediation

    @property
    def home_account(self) -> str:
        return self.topic_arn.split(":")[4] if self.topic_arn.count(":") >= 5 else ""

    @property
    def partition(self) -> str:
        return self.topic_arn.split(":")[1]


def settings_from_env(environ: Mapping[str, str]) -> HandlerSettings:
    topic_arn = environ.get(names.ENV_TOPIC_ARN, "")
    if not topic_arn.startswith("arn:"):
        raise ConfigError(f"{names.ENV_TOPIC_ARN} must be the ARN of the alert topic, got {topic_arn!r}")
    try:
        minimum = Severity.parse(environ.get(names.ENV_PUBLISH_MIN_SEVERITY, "LOW"))
    except ValueError as error:
        raise ConfigError(f"{names.ENV_PUBLISH_MIN_SEVERITY}: {error}") from None
    domain = environ.get(names.ENV_CONSOLE_DOMAIN, "console.aws.amazon.com")
    policy = None
    policy_file = environ.get(names.ENV_POLICY_FILE, "")
    if policy_file:
        try:
            policy = read_policy(policy_file)
        except PolicyError as error:
            raise ConfigError(f"{names.ENV_POLICY_FILE}: {error}") from None
    dedup_table = environ.get(names.ENV_DEDUP_TABLE, "")
    stale = environ.get(names.ENV_CLAIM_STALE_SECONDS, "")
    if dedup_table and not (stale.isdigit() and 0 < int(stale) <= 43_200):
        raise ConfigError(
            f"{names.ENV_CLAIM_STALE_SECONDS} must be the seconds after which a pending deduplication claim is stale"
            f" (the buffer's visibility timeout less the batching window and the function timeout), got {stale!r}"
        )
    own = own_resources_from_env(environ)
    findings_from = environ.get(names.ENV_SECURITY_HUB_MIN_SEVERITY, "")
    try:
        findings_min_severity = Severity.parse(findings_from) if findings_from else None
    except ValueError as error:
        raise ConfigError(f"{names.ENV_SECURITY_HUB_MIN_SEVERITY}: {error}") from None
    chat_topic_arn = environ.get(names.ENV_CHAT_TOPIC_ARN, "")
    chat_from = environ.get(names.ENV_CHAT_MIN_SEVERITY, "")
    if bool(chat_topic_arn) != bool(chat_from) or (chat_topic_arn and not chat_topic_arn.startswith("arn:")):
        raise ConfigError(
            f"{names.ENV_CHAT_TOPIC_ARN} (the chat topic's ARN) and {names.ENV_CHAT_MIN_SEVERITY} go together,"
            f" got {chat_topic_arn!r} and {chat_from!r}"
        )
    try:
        chat_min_severity = Severity.parse(chat_from) if chat_from else None
    except ValueError as error:
        raise ConfigError(f"{names.ENV_CHAT_MIN_SEVERITY}: {error}") from None
    remediation, max_per_hour = _remediation(environ, policy.break_glass_tag if policy else "")
    if remediation is not None and not dedup_table:
        raise ConfigError(f"{names.ENV_REMEDIATE} needs {names.ENV_DEDUP_TABLE}: the circuit breaker counts there")
    return HandlerSettings(
        topic_arn,
        PipelineSettings(
            publish_min_severity=minimum,
            console_domain=domain,
            policy=policy,
            own=own,
            # organization mode only (members forward there): a heartbeat from another account is a member's
            home_account=(
                topic_arn.split(":")[4] if topic_arn.count(":") >= 5 and environ.get(names.ENV_ENRICHMENT_ROLE) else ""
            ),
            findings_min_severity=findings_min_severity,
            findings_account=topic_arn.split(":")[4] if topic_arn.count(":") >= 5 else "",
            chat_min_severity=chat_min_severity,
            remediation=remediation,
        ),
        dedup_table,
        int(stale) if dedup_table else 0,
        environ.get(names.ENV_ENRICHMENT_ROLE, ""),
        chat_topic_arn,
        max_per_hour,
    )


def _remediation(environ: Mapping[str, str], break_glass_tag: str) -> tuple[RemediationSettings | None, int]:
    """The remediate setting (severities, mode, the hour's limit); None when it is not set. Loaded only then."""
    text = environ.get(names.ENV_REMEDIATE, "").strip()
    if not text:
        return None, 0
    from sgwatch.core.remediation import Mode, RemediationSettings  # noqa: PLC0415 - only where it is set

    try:
        severities = frozenset(Severity.parse(part) for part in text.split(",") if part.strip())
        mode = Mode(environ.get(names.ENV_REMEDIATE_MODE, Mode.DRY_RUN.value))
    except ValueError as error:
        raise ConfigError(
            f"{names.ENV_REMEDIATE} must list severities (CRITICAL,HIGH) and {names.ENV_REMEDIATE_MODE} be dry-run or"
            f" enforce: {error}"
        ) from None
    limit = environ.get(names.ENV_REMEDIATE_MAX_PER_HOUR, "10")
    if not (limit.isdigit() and 1 <= int(limit) <= 1000):
        raise ConfigError(f"{names.ENV_REMEDIATE_MAX_PER_HOUR} must be 1 to 1000, got {limit!r}")
    tag = environ.get(names.ENV_REMEDIATE_TAG, "")
    if tag and "=" not in tag:
        raise ConfigError(f"{names.ENV_REMEDIATE_TAG} must be KEY=VALUE, got {tag!r}")
    tag_key, _, tag_value = tag.partition("=")
    only_tagged = (tag_key, tag_value) if tag else None
    return RemediationSettings(severities, mode, break_glass_tag, only_tagged), int(limit)


def own_resources_from_env(environ: Mapping[str, str]) -> OwnResources:
    """sgwatch's own resources: the stack's names (SGWATCH_OWN_RESOURCES) and the function's own name, which Lambda
    sets (a function cannot name itself in its environment). Unset: guessed from the name "sgwatch", as the CLI does."""
    text = environ.get(names.ENV_OWN_RESOURCES, "")
    if not text:
        return GUESSED_BY_NAME
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{names.ENV_OWN_RESOURCES} must be JSON: {error}") from None
    lists = ("names", "detectionRules", "guardRules")
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("stack"), str)
        or any(not isinstance(document.get(key, []), list) for key in lists)
        or any(not isinstance(item, str) for key in lists for item in document.get(key, []))
    ):
        raise ConfigError(
            f"{names.ENV_OWN_RESOURCES} must be an object with a string 'stack' and string lists"
            f" {', '.join(repr(key) for key in lists)}, got {text[:200]!r}"
        )
    monitor = document.get("monitor", "all")
    if monitor not in SCOPES:
        raise ConfigError(f"{names.ENV_OWN_RESOURCES}: monitor must be one of {', '.join(SCOPES)}, got {monitor!r}")
    function = environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    return exact_resources(
        document["stack"],
        [*document.get("names", []), function],
        document.get("detectionRules", []),
        document.get("guardRules", []),
        monitor,
    )
