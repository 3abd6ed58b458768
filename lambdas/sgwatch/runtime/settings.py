"""The function's settings: its environment, validated once into a frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sgwatch.core import names
from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.policy import read_policy
from sgwatch.core.severity import Severity
from sgwatch.runtime.pipeline import PipelineSettings


@dataclass(frozen=True)
class HandlerSettings:
    topic_arn: str
    pipeline: PipelineSettings
    dedup_table: str = ""
    claim_stale_seconds: int = 0
    enrichment_role: str = ""  # the role name to describe groups in member accounts; "" for the home account only

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
    return HandlerSettings(
        topic_arn,
        PipelineSettings(publish_min_severity=minimum, console_domain=domain, policy=policy),
        dedup_table,
        int(stale) if dedup_table else 0,
        environ.get(names.ENV_ENRICHMENT_ROLE, ""),
    )
