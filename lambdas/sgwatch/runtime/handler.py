"""The Lambda entry point: Powertools Logger and Metrics around the pipeline. Clients are built once, lazily."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sgwatch.core import names
from sgwatch.core.errors import ConfigError, PolicyError
from sgwatch.core.policy import read_policy
from sgwatch.core.severity import Severity
from sgwatch.core.text import json_line
from sgwatch.runtime.aws import DynamoDeduplicator, Ec2Enricher, SnsPublisher, assumed_role_keys
from sgwatch.runtime.pipeline import PipelineSettings, process_batch

# Log lines go through the same JSON writer as the CLI: a lone surrogate or a line separator in a record cannot make
# a line fail to encode (and vanish) or split in two.
logger = Logger(service=names.SERVICE, json_serializer=json_line)
metrics = Metrics(namespace=names.METRIC_NAMESPACE, service=names.SERVICE)


@dataclass(frozen=True)
class HandlerSettings:
    topic_arn: str
    pipeline: PipelineSettings
    dedup_table: str = ""
    claim_stale_seconds: int = 0


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
    )


class PowertoolsMetrics:
    """The pipeline's metrics as EMF: dimensioned counts as single metrics, the rest on the handler's Metrics."""

    def add(self, name: str, value: float, unit: str = "Count", dimension: tuple[str, str] | None = None) -> None:
        if dimension is None:
            metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
            return
        with single_metric(
            name=name,
            unit=MetricUnit(unit),
            value=value,
            namespace=names.METRIC_NAMESPACE,
            default_dimensions={names.SERVICE_DIMENSION: names.SERVICE},
        ) as metric:
            metric.add_dimension(name=dimension[0], value=dimension[1])


@dataclass(frozen=True)
class _Runtime:
    settings: HandlerSettings
    enricher: Ec2Enricher
    publisher: SnsPublisher
    deduplicator: DynamoDeduplicator | None = None


_runtime: _Runtime | None = None


def _get_runtime() -> _Runtime:
    global _runtime  # noqa: PLW0603 - one set of clients per warm container, built on first use
    if _runtime is None:
        import boto3  # noqa: PLC0415 - deferred to the first invocation, not paid at import
        from botocore.config import Config  # noqa: PLC0415

        settings = settings_from_env(os.environ)
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)
        deduplicator = (
            DynamoDeduplicator(
                boto3.client("dynamodb", config=config),
                settings.dedup_table,
                stale_seconds=settings.claim_stale_seconds,
            )
            if settings.dedup_table
            else None
        )
        role_name = os.environ.get(names.ENV_ENRICHMENT_ROLE, "")
        home_account = settings.topic_arn.split(":")[4] if settings.topic_arn.count(":") >= 5 else ""

        def client_for(region: str, account: str) -> Any:
            """EC2 in another region, or through the enrichment role of a member account."""
            if not account or not role_name:
                return boto3.client("ec2", region_name=region, config=config)
            partition = settings.topic_arn.split(":")[1]
            keys = assumed_role_keys(
                boto3.client("sts", config=config),
                f"arn:{partition}:iam::{account}:role/{role_name}",
                "sgwatch-enrichment",
            )
            return boto3.client("ec2", region_name=region, config=config, **keys)

        _runtime = _Runtime(
            settings,
            Ec2Enricher(boto3.client("ec2", config=config), client_for=client_for, home_account=home_account),
            SnsPublisher(boto3.client("sns", config=config), settings.topic_arn),
            deduplicator,
        )
    return _runtime


def reset_runtime() -> None:
    """Forget the clients (a new environment, as in tests and the demo)."""
    global _runtime  # noqa: PLW0603
    _runtime = None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = _get_runtime()
    outcome = process_batch(
        event,
        enricher=runtime.enricher,
        publisher=runtime.publisher,
        metrics=PowertoolsMetrics(),
        logger=logger,
        settings=runtime.settings.pipeline,
        deduplicator=runtime.deduplicator,
    )
    logger.info(
        "batch done",
        extra={
            "records": len(event.get("Records", [])),
            "alerts": len(outcome.alerts),
            "published": outcome.published,
            "suppressed": outcome.suppressed,
            "failed_messages": len(outcome.failed_message_ids),
        },
    )
    return outcome.response
