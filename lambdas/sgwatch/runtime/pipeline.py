"""One Lambda batch, from SQS messages to published alerts. The AWS edges come in as small interfaces."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from sgwatch.core import names
from sgwatch.core.alerts import REGION_NAME, Alert, Publication, group_key, minimal_publication, publication
from sgwatch.core.classify import DEFAULT_SETTINGS, Classification, Settings, classify
from sgwatch.core.enrich import GroupFacts, apply_facts
from sgwatch.core.envelopes import unwrap
from sgwatch.core.parse import parse_time
from sgwatch.core.policy import Policy, apply_policy, lowered_by_policy
from sgwatch.core.severity import Severity


class Enricher(Protocol):
    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]: ...


class MessageRefused(Exception):
    """SNS refused the message itself (too long, malformed): sending it again would fail the same way."""


class Publisher(Protocol):
    """Raises MessageRefused when the message itself is refused, any other exception when SNS could not be reached."""

    def publish(self, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None: ...


class Claim(Enum):
    """What the deduplication store says of a CloudTrail event."""

    NEW = "new"  # first time: alert it
    ALERTED = "alerted"  # an alert was published: a duplicate delivery
    IN_FLIGHT = "in-flight"  # claimed, not yet published (alive elsewhere, or died): retry the message later
    UNAVAILABLE = "unavailable"  # the store could not be asked: alert anyway, a duplicate beats a loss


class Deduplicator(Protocol):
    def claim(self, event_id: str) -> Claim: ...
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
    """A record on its way to an alert: its result, the SQS message it came in, the raw record when unreadable."""

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
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than the decoder goes
        problem = "nested too deeply to decode" if isinstance(error, RecursionError) else f"not valid JSON ({error})"
        failure = Classification(error=f"{location}: body is {problem}", location=location)
        return [_Read(message_id, failure, body)]
    reads = []
    for item in unwrap(document, location):
        if item.error:
            reads.append(_Read(message_id, Classification(error=item.error, location=item.location), body))
            continue
        result = classify(
            item.record, location=item.location, account=item.account, region=item.region, settings=settings
        )
        reads.append(_Read(message_id, result, item.record if result.error else None))
    return reads


_LOGGED_RAW = 64 * 1024


def _excerpt(raw: Any) -> str:
    """The unreadable record as the log keeps it: its text, cut to a size a log event holds."""
    if isinstance(raw, str):
        return raw[:_LOGGED_RAW]
    try:
        return json.dumps(raw, default=str)[:_LOGGED_RAW]
    except (RecursionError, ValueError):
        return "(nested too deeply to show)"


def region_dimension(region: str) -> str:
    """A metric dimension from a record's region: a region name, or "unknown" for anything a record made up."""
    return region if REGION_NAME.match(region) else "unknown"


def group_reads(reads: Sequence[_Read]) -> list[list[_Read]]:
    """Records grouped into alerts by alerts.group_key, in order of first appearance; a repeated eventID counts once
    (its message is acknowledged: the first copy stands for it, and is retried if its alert fails)."""
    groups: dict[tuple[str, ...], list[_Read]] = {}
    seen: set[str] = set()
    for read in reads:
        result = read.result
        if result.event_id:
            if result.event_id in seen:
                continue
            seen.add(result.event_id)
        groups.setdefault(group_key(result), []).append(read)
    return list(groups.values())


def _latency_ms(event_time: str, now: datetime) -> float | None:
    moment = parse_time(event_time)
    return max(0.0, (now - moment).total_seconds() * 1000) if moment else None


@dataclass
class _Batch:
    """One invocation's edges and bookkeeping: each stage below works on one record or one alert at a time, and a
    failure there fails only that record's or alert's messages (SQS delivers them again, then dead-letters them)."""

    enricher: Enricher
    publisher: Publisher
    metrics: MetricsSink
    logger: Any
    settings: PipelineSettings
    clock: Callable[[], datetime]
    deduplicator: Deduplicator | None
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    failed: dict[str, None] = field(default_factory=dict)  # message ids, in order, without repeats
    claimed: set[str] = field(default_factory=set)

    def fail(self, reads: Sequence[_Read]) -> None:
        self.failed.update(dict.fromkeys(read.message_id for read in reads))

    def read(self, messages: Sequence[Any]) -> list[_Read]:
        """Security-group records and unreadable ones; other events are logged and dropped."""
        findings: list[_Read] = []
        for message in messages:
            message_id = str(message.get("messageId", "")) if isinstance(message, dict) else ""
            try:
                reads = _read_message(message, self.settings.classification)
            except Exception:  # a defect, not bad input (that is classified): retry, then keep it in the dead letters
                self.logger.exception("could not process message", extra={"message_id": message_id})
                self.failed[message_id] = None
                continue
            for read in reads:
                result = read.result
                if result.error:
                    self.metrics.add(names.METRIC_CLASSIFICATION_ERRORS, 1)
                    self.logger.warning(
                        "unreadable record",
                        extra={"error": result.error, "message_id": read.message_id, "raw": _excerpt(read.raw)},
                    )
                    findings.append(read)
                elif result.record is None:
                    self.logger.info(
                        "not a security-group change",
                        extra={"eventName": result.event_name, "eventID": result.event_id},
                    )
                else:
                    findings.append(read)
        return findings

    def describe(self, findings: Sequence[_Read]) -> dict[str, GroupFacts]:
        """What EC2 says of the groups, asked where each change happened (forwarders bring every region and account).
        A failure leaves the groups without facts: the alerts still go out and say so."""
        by_place: dict[tuple[str, str], dict[str, None]] = {}
        for read in findings:
            place = by_place.setdefault((read.result.region, read.result.account), {})
            place.update(dict.fromkeys(read.result.group_ids))
        facts: dict[str, GroupFacts] = {}
        for (region, account), place_groups in by_place.items():
            if not place_groups:
                continue
            try:
                facts.update(self.enricher.facts(list(place_groups), region, account))
            except Exception as error:  # a defect in the enricher must not cost the alerts
                facts.update(
                    {gid: GroupFacts(gid, error=f"not described ({type(error).__name__})") for gid in place_groups}
                )
        for missing in (group for group in facts.values() if group.error):
            self.metrics.add(names.METRIC_ENRICHMENT_FAILURES, 1)
            self.logger.warning("enrichment failed", extra={"groupId": missing.group_id, "error": missing.error})
        return facts

    def judge(self, read: _Read, facts: dict[str, GroupFacts], tags: dict[str, dict[str, str]]) -> _Read | None:
        """The record with facts and policy applied, claimed for alerting; None when it is not to be alerted now."""
        result = read.result
        if not result.error:
            result = apply_facts(result, facts, self.settings.classification)
            if self.settings.policy is not None:
                result = apply_policy(result, self.settings.policy, tags=tags)
                if lowered_by_policy(result):
                    self.metrics.add(names.METRIC_LOWERED_BY_POLICY, 1)
        if not self._claim(read, result.event_id):
            return None
        if result.error:
            return read
        self.metrics.add(names.METRIC_CHANGES, 1, dimension=(names.SEVERITY_DIMENSION, result.severity.name))
        self.metrics.add(names.METRIC_CHANGES_BY_EVENT, 1, dimension=(names.EVENT_NAME_DIMENSION, result.event_name))
        self.metrics.add(
            names.METRIC_CHANGES_BY_REGION, 1, dimension=(names.REGION_DIMENSION, region_dimension(result.region))
        )
        if hasattr(self.logger, "set_correlation_id"):
            self.logger.set_correlation_id(result.event_id)
        self.logger.info("security-group change", extra={"result": result.to_dict()})
        return _Read(read.message_id, result, read.raw)

    def _claim(self, read: _Read, event_id: str) -> bool:
        """Whether to alert this record now. Unreadable records are claimed too: a redelivery is the same record."""
        if self.deduplicator is None or not event_id or event_id in self.claimed:
            return True
        claim = self.deduplicator.claim(event_id)
        if claim is Claim.ALERTED:
            self.metrics.add(names.METRIC_DUPLICATES_SUPPRESSED, 1)
            self.logger.info("duplicate record: already alerted", extra={"eventID": event_id})
            return False
        if claim is Claim.IN_FLIGHT:
            # Claimed but not published: alive in another invocation, or lost with one that died. Either way this
            # message comes back after the visibility timeout, when a dead invocation's claim is stale.
            self.logger.warning("record claimed but not yet alerted: retried later", extra={"eventID": event_id})
            self.fail([read])
            return False
        if claim is Claim.UNAVAILABLE:
            self.metrics.add(names.METRIC_DEDUP_FAILURES, 1)
            self.logger.warning("deduplication store unavailable: alerting anyway", extra={"eventID": event_id})
        else:
            self.claimed.add(event_id)
        return True

    def alert(self, reads: Sequence[_Read], facts: dict[str, GroupFacts]) -> None:
        """Publish one alert; if SNS refuses the message itself (or it cannot be built), publish its minimal form."""
        results = tuple(read.result for read in reads)
        event_ids = [result.event_id for result in results if result.event_id in self.claimed]
        group_ids = dict.fromkeys(group for result in results for group in result.group_ids)
        alert = Alert(
            results,
            tuple(facts[group] for group in group_ids if group in facts),
            next((read.raw for read in reads if read.raw is not None), None),
        )
        self.outcome.alerts.append(alert)
        if alert.severity < self.settings.publish_min_severity:
            self.outcome.suppressed += 1
            self.metrics.add(names.METRIC_ALERTS_SUPPRESSED, 1)
            if self.deduplicator is not None:
                self.deduplicator.done(event_ids)
            return
        now = self.clock()
        rendered: Publication | None = None
        try:
            rendered = publication(alert, published_at=now, domain=self.settings.console_domain)
        except Exception:  # a defect in rendering must not cost the alert
            self.logger.exception("alert could not be rendered", extra={"eventIDs": event_ids})
        refused = self._publish(rendered) if rendered is not None else None
        if rendered is None or isinstance(refused, MessageRefused):
            self.logger.error(
                "alert not published in full: publishing its minimal form",
                extra={"error": repr(refused), "alert": [result.to_dict() for result in results]},
            )
            refused = self._publish(minimal_publication(alert, published_at=now))
        if refused is not None:
            self.fail(reads)
            if self.deduplicator is not None:
                self.deduplicator.release(event_ids)
            return
        if self.deduplicator is not None:
            self.deduplicator.done(event_ids)
        self.outcome.published += 1
        self.metrics.add(names.METRIC_ALERTS_PUBLISHED, 1)
        latency = _latency_ms(alert.first.event_time, now)
        if latency is not None:
            self.metrics.add(names.METRIC_DETECTION_LATENCY, latency, unit="Milliseconds")

    def _publish(self, rendered: Publication) -> Exception | None:
        """None when SNS took it; otherwise the error (counted and logged)."""
        try:
            self.publisher.publish(rendered.subject, rendered.message, rendered.attributes)
        except Exception as error:  # any failure to publish: the caller decides between the minimal form and a retry
            self.metrics.add(names.METRIC_PUBLISH_FAILURES, 1)
            self.logger.error("publish failed", extra={"error": repr(error), "subject": rendered.subject})
            return error
        return None


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
    """Classify, enrich, group and publish one SQS batch. A failure fails only the messages it concerns."""
    batch = _Batch(enricher, publisher, metrics, logger, settings, clock, deduplicator)
    messages = event.get("Records", []) if isinstance(event, dict) else []
    findings = batch.read(messages if isinstance(messages, list) else [])
    facts = batch.describe(findings)
    tags = {group_id: group.tags for group_id, group in facts.items() if not group.error}
    judged: list[_Read] = []
    for read in findings:
        try:
            kept = batch.judge(read, facts, tags)
        except Exception:  # a defect on one record: its message is retried, the others go on
            logger.exception("could not judge record", extra={"message_id": read.message_id})
            batch.fail([read])
            continue
        if kept is not None:
            judged.append(kept)
    for reads in group_reads(judged):
        try:
            batch.alert(reads, facts)
        except Exception:  # a defect around one alert: its messages are retried, the other alerts go out
            logger.exception("could not alert", extra={"message_ids": [read.message_id for read in reads]})
            batch.fail(reads)
    batch.outcome.failed_message_ids = [message_id for message_id in batch.failed if message_id]
    return batch.outcome
