"""The Lambda entry point, `lambda_handler`: Powertools Logger and Metrics around the pipeline, on a Runtime (settings
and AWS clients) built once per container, at its first invocation: importing this module builds nothing.

`build_runtime` is the seam: tests, the demo and benchmarks build a Runtime (their own clients, their own ports) and
run the entry point on it with `running_on`."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sgwatch.core import names
from sgwatch.core.text import json_line
from sgwatch.runtime.aws import (
    CloudTrailInspector,
    DynamoDeduplicator,
    Ec2Enricher,
    Ec2Remediator,
    SecurityHubImporter,
    SnsPublisher,
    assumed_role_keys,
)
from sgwatch.runtime.pipeline import process_batch
from sgwatch.runtime.ports import (
    Deduplicator,
    Enricher,
    FindingSink,
    MetricsSink,
    PrefixListReader,
    Publisher,
    Remediator,
    TrailInspector,
)
from sgwatch.runtime.settings import HandlerSettings, settings_from_env

# Log lines go through the same JSON writer as the CLI: a lone surrogate or a line separator in a record cannot make
# a line fail to encode (and vanish) or split in two.
logger = Logger(service=names.SERVICE, json_serializer=json_line)
metrics = Metrics(namespace=names.METRIC_NAMESPACE, service=names.SERVICE)


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


#: Makes an AWS client, as boto3.client does: clients("ec2", region_name="us-east-1", aws_access_key_id=...).
ClientFactory = Callable[..., Any]


def aws_clients() -> ClientFactory:
    """boto3 clients with the function's retries and timeouts (short: a batch must finish within the function's)."""
    import boto3  # noqa: PLC0415 - deferred to the first invocation, not paid at import
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)

    def client(service: str, **options: Any) -> Any:
        return boto3.client(service, config=config, **options)

    return client


@dataclass(frozen=True)
class Runtime:
    """What an invocation runs on: the settings, and the ports with AWS (or a test's fakes) behind them."""

    settings: HandlerSettings
    enricher: Enricher
    publisher: Publisher
    metrics: MetricsSink
    deduplicator: Deduplicator | None = None
    trail_inspector: TrailInspector | None = None
    prefix_list_reader: PrefixListReader | None = None
    finding_sink: FindingSink | None = None
    chat: Publisher | None = None
    remediator: Remediator | None = None


def build_runtime(
    settings: HandlerSettings, *, clients: ClientFactory | None = None, metrics: MetricsSink | None = None
) -> Runtime:
    """The function's runtime: EC2 (in the change's region, and through the enrichment role in member accounts), SNS
    and, with a deduplication table, DynamoDB, from `clients` (boto3's by default); metrics as EMF by default."""
    client = clients or aws_clients()

    def service_for(service: str) -> Callable[[str, str], Any]:
        def client_for(region: str, account: str) -> Any:
            """The service in another region, or through the enrichment role of a member account."""
            here = {"region_name": region} if region else {}
            if not account or not settings.enrichment_role or account == settings.home_account:
                return client(service, **here)
            keys = assumed_role_keys(
                client("sts"),
                f"arn:{settings.partition}:iam::{account}:role/{settings.enrichment_role}",
                "sgwatch-enrichment",
            )
            return client(service, **here, **keys)

        return client_for

    deduplicator = (
        DynamoDeduplicator(client("dynamodb"), settings.dedup_table, stale_seconds=settings.claim_stale_seconds)
        if settings.dedup_table
        else None
    )
    enricher = Ec2Enricher(client("ec2"), client_for=service_for("ec2"), home_account=settings.home_account)
    return Runtime(
        settings,
        enricher,
        SnsPublisher(client("sns"), settings.topic_arn, structured=True),
        metrics if metrics is not None else PowertoolsMetrics(),
        deduplicator,
        CloudTrailInspector(service_for("cloudtrail")),
        prefix_list_reader=enricher,  # the same EC2 clients and their cache
        finding_sink=(
            SecurityHubImporter(functools.cache(lambda region: client("securityhub", region_name=region)))
            if settings.pipeline.findings_min_severity is not None
            else None
        ),
        chat=SnsPublisher(client("sns"), settings.chat_topic_arn) if settings.chat_topic_arn else None,
        remediator=(
            Ec2Remediator(
                functools.cache(lambda region: client("ec2", region_name=region)),
                client("dynamodb"),
                settings.dedup_table,
                max_per_hour=settings.remediate_max_per_hour,
            )
            if settings.pipeline.remediation is not None
            else None
        ),
    )


_runtime: Runtime | None = None  # the container's: built at the first invocation, kept while the container is warm


def _container_runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one set of clients per warm container
    if _runtime is None:
        _runtime = build_runtime(settings_from_env(os.environ))
    return _runtime


@contextmanager
def running_on(runtime: Runtime | None) -> Iterator[Runtime | None]:
    """`lambda_handler` runs on `runtime` inside the block (None: a new container, which builds its own at its first
    invocation), as tests, the demo and benchmarks need; afterwards on the runtime it had before."""
    global _runtime  # noqa: PLW0603
    previous, _runtime = _runtime, runtime
    try:
        yield runtime
    finally:
        _runtime = previous


def handle(runtime: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    """One batch on `runtime`: the partial-batch response, and a summary line in the log."""
    outcome = process_batch(
        event,
        enricher=runtime.enricher,
        publisher=runtime.publisher,
        metrics=runtime.metrics,
        logger=logger,
        settings=runtime.settings.pipeline,
        deduplicator=runtime.deduplicator,
        trail_inspector=runtime.trail_inspector,
        prefix_list_reader=runtime.prefix_list_reader,
        finding_sink=runtime.finding_sink,
        chat=runtime.chat,
        remediator=runtime.remediator,
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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_container_runtime(), event)
