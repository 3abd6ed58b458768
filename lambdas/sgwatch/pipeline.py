"""One Lambda batch, from SQS messages to published alerts. The AWS edges come in as small interfaces."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sgwatch import names
from sgwatch.alerts import Alert, group_results, publication
from sgwatch.classify import DEFAULT_SETTINGS, Classification, Settings, classify
from sgwatch.enrich import GroupFacts, apply_facts
from sgwatch.envelopes import unwrap
from sgwatch.parse import parse_time
from sgwatch.policy import Policy, apply_policy, lowered_by_policy
from sgwatch.severity import Severity


class Enricher(Protocol):
    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]: ...


class Publisher(Protocol):
    def publish(self, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None: ...


class Deduplicator(Protocol):
    def claim(self, event_id: str) -> bool | None: ...
    def done(self, event_ids: list[str]) -> None: ...
    def release(self, event_ids: list[str]) -> None: ...


class MetricsSink(Protocol):
    def add(self, name: str, value: float, unit: str = "Count", dimension: tuple[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class PipelineSettings:
    """Validated once (see handler.settings_from_env); the defaults are those of the stack."""

    publish_min_severity: Severity = Severity.LOW
    console_domain: str = "console.aws.amazon.com"
    policy: Policy | None = None

    @property
    def classification(self) -> Settings:
        return self.policy.settings if self.policy else DEFAULT_SETTINGS


@dataclass
class BatchOutcome:
    failed_message_ids: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    published: int = 0
    suppressed: int = 0

    @property
    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch response: the messages SQS must deliver again."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed_message_ids]}


@dataclass(frozen=True)
class _Read:
    message_id: str
    result: Classification
    raw: Any = None


def _read_message(message: Any, settings: Settings) -> list[_Read]:
    """Every record of one SQS message, classified. An undecodable body is an unreadable record, not an exception."""
    message_id = str(message.get("messageId", "")) if isinstance(message, dict) else ""
    body = message.get("body") if isinstance(message, dict) else None
    location = f"sqs message {message_id or '(no id)'}"
    try:
        document = json.loads(body) if isinstance(body, str) else body
    except ValueError as error:
        failure = Classification(
            Severity.NONE, error=f"{location}: body is not valid JSON ({error})", location=location
        )
        return [_Read(message_id, failure, body)]
    reads = []
    for item in unwrap(document, location):
        if item.error:
            reads.append(
                _Read(message_id, Classification(Severity.NONE, error=item.error, location=item.location), body)
            )
            continue
        result = classify(
            item.record, location=item.location, account=item.account, region=item.region, settings=settings
        )
        reads.append(_Read(message_id, result, item.record if result.error else None))
    return reads


def _latency_ms(event_time: str, now: datetime) -> float | None:
    moment = parse_time(event_time)
    return max(0.0, (now - moment).total_seconds() * 1000) if moment else None


def process_batch(
    event: Any,
    *,
    enricher: Enricher,
    publisher: Publisher,
    metrics: MetricsSink,
    logger: logging.Logger | Any,
    settings: PipelineSettings = PipelineSettings(),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    deduplicator: Deduplicator | None = None,
) -> BatchOutcome:
    """Classify, enrich, group and publish one SQS batch. Publishing failures fail only their own messages."""
    outcome = BatchOutcome()
    messages = event.get("Records", []) if isinstance(event, dict) else []
    reads: list[_Read] = []
    failed: dict[str, None] = {}
    for message in messages:
        try:
            reads.extend(_read_message(message, settings.classification))
        except Exception:  # a defect, not bad input (that is classified): retry, then keep it in the dead-letter queue
            logger.exception("could not process message", extra={"message_id": message.get("messageId")})
            failed[str(message.get("messageId", ""))] = None

    findings: list[_Read] = []
    for read in reads:
        result = read.result
        if result.error:
            metrics.add(names.METRIC_CLASSIFICATION_ERRORS, 1)
            logger.warning("unreadable record", extra={"error": result.error, "message_id": read.message_id})
            findings.append(read)
        elif result.record is None:
            logger.info(
                "not a security-group change", extra={"eventName": result.event_name, "eventID": result.event_id}
            )
        else:
            findings.append(read)

    # Each change is described where it happened: forwarders bring changes from every region and member account.
    by_place: dict[tuple[str, str], dict[str, None]] = {}
    for read in findings:
        by_place.setdefault((read.result.region, read.result.account), {}).update(dict.fromkeys(read.result.group_ids))
    facts: dict[str, GroupFacts] = {}
    for (region, account), place_groups in by_place.items():
        if place_groups:
            facts.update(enricher.facts(list(place_groups), region, account))
    for missing in (group for group in facts.values() if group.error):
        metrics.add(names.METRIC_ENRICHMENT_FAILURES, 1)
        logger.warning("enrichment failed", extra={"groupId": missing.group_id, "error": missing.error})

    message_of: dict[int, str] = {}
    raw_of: dict[int, Any] = {}
    enriched = []
    tags = {group_id: group.tags for group_id, group in facts.items() if not group.error}
    claimed: set[str] = set()
    for read in findings:
        result = read.result
        if not result.error:
            result = apply_facts(result, facts, settings.classification)
            if settings.policy is not None:
                result = apply_policy(result, settings.policy, tags=tags)
                if lowered_by_policy(result):
                    metrics.add(names.METRIC_LOWERED_BY_POLICY, 1)
            if deduplicator is not None and result.event_id and result.event_id not in claimed:
                verdict = deduplicator.claim(result.event_id)
                if verdict is False:
                    metrics.add(names.METRIC_DUPLICATES_SUPPRESSED, 1)
                    logger.info("duplicate record: already alerted", extra={"eventID": result.event_id})
                    continue
                if verdict is None:
                    metrics.add(names.METRIC_DEDUP_FAILURES, 1)
                    logger.warning(
                        "deduplication store unavailable: alerting anyway", extra={"eventID": result.event_id}
                    )
                else:
                    claimed.add(result.event_id)
        message_of[id(result)] = read.message_id
        raw_of[id(result)] = read.raw
        enriched.append(result)
        if not result.error:
            metrics.add(names.METRIC_CHANGES, 1, dimension=(names.SEVERITY_DIMENSION, result.severity.name))
            metrics.add(names.METRIC_CHANGES_BY_EVENT, 1, dimension=(names.EVENT_NAME_DIMENSION, result.event_name))
            metrics.add(
                names.METRIC_CHANGES_BY_REGION, 1, dimension=(names.REGION_DIMENSION, result.region or "unknown")
            )
            if hasattr(logger, "set_correlation_id"):
                logger.set_correlation_id(result.event_id)
            logger.info("security-group change", extra={"result": result.to_dict()})

    for results in group_results(enriched):
        alert_facts = tuple(facts[g] for g in dict.fromkeys(g for r in results for g in r.group_ids) if g in facts)
        raw = next((raw_of[id(r)] for r in results if raw_of[id(r)] is not None), None)
        alert = Alert(tuple(results), alert_facts, raw)
        outcome.alerts.append(alert)
        event_ids = [r.event_id for r in results if r.event_id in claimed]
        if alert.severity < settings.publish_min_severity:
            outcome.suppressed += 1
            metrics.add(names.METRIC_ALERTS_SUPPRESSED, 1)
            if deduplicator is not None:
                deduplicator.done(event_ids)
            continue
        now = clock()
        rendered = publication(alert, published_at=now, domain=settings.console_domain)
        try:
            publisher.publish(rendered.subject, rendered.message, rendered.attributes)
        except Exception as error:  # any failure to publish: SQS redelivers these messages, then dead-letters them
            metrics.add(names.METRIC_PUBLISH_FAILURES, 1)
            logger.error("publish failed", extra={"error": repr(error), "subject": rendered.subject})
            failed.update(dict.fromkeys(message_of[id(r)] for r in results))
            if deduplicator is not None:
                deduplicator.release(event_ids)
            continue
        if deduplicator is not None:
            deduplicator.done(event_ids)
        outcome.published += 1
        metrics.add(names.METRIC_ALERTS_PUBLISHED, 1)
        latency = _latency_ms(alert.first.event_time, now)
        if latency is not None:
            metrics.add(names.METRIC_DETECTION_LATENCY, latency, unit="Milliseconds")
    outcome.failed_message_ids = [message_id for message_id in failed if message_id]
    return outcome
