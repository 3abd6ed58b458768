"""One Lambda batch, from SQS messages to published alerts, as small stages over one carrier per record:

    read -> classify -> join -> enrich -> apply policy -> deduplicate -> (count) -> group -> publish -> settle
    -> (file findings, when Security Hub is on) -> (post to chat, when a channel is set)

Each stage has its own failure boundary, the smallest unit it works on: a message (read), a record (classify to
deduplicate), a place (describing groups) or an alert (publish). A failure there fails only that unit's SQS messages
(SQS delivers them again, then dead-letters them); the rest of the batch goes on. The AWS edges are the ports
(runtime/ports.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sgwatch.core import names
from sgwatch.core.addresses import classify_cidr
from sgwatch.core.alerts import (
    REGION_NAME,
    Alert,
    Publication,
    group_key,
    minimal_publication,
    publication,
    subject,
)
from sgwatch.core.asff import security_hub_finding
from sgwatch.core.chat import chat_notification
from sgwatch.core.classify import (
    DEFAULT_SETTINGS,
    Classification,
    Settings,
    classify,
    judged_across,
    reported_severity,
)
from sgwatch.core.enrich import (
    MAX_REFERENCING_RATED,
    GroupFacts,
    PrefixListFacts,
    apply_facts,
    apply_prefix_list_facts,
    apply_trail_facts,
    needs_trail_facts,
    prefix_list_ids,
)
from sgwatch.core.envelopes import Item, unwrap
from sgwatch.core.parse import parse_time
from sgwatch.core.policy import Policy, apply_policy, lowered_by_policy
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import GUESSED_BY_NAME, OwnResources, TrailFacts
from sgwatch.core.text import json_line
from sgwatch.runtime.ports import (
    Claim,
    Deduplicator,
    Enricher,
    FindingSink,
    MessageRefused,
    MetricsSink,
    PrefixListReader,
    Publisher,
    Remediator,
    TrailInspector,
)

if TYPE_CHECKING:  # loaded where remediation is set, not at every cold start
    from sgwatch.core.remediation import Outcome, Plan, RemediationSettings


@dataclass(frozen=True)
class PipelineSettings:
    """Validated once (see settings.settings_from_env); the defaults are those of the stack."""

    publish_min_severity: Severity = Severity.LOW
    console_domain: str = "console.aws.amazon.com"
    policy: Policy | None = None
    own: OwnResources = GUESSED_BY_NAME  # the stack's exact names in the function; a guess by name elsewhere
    home_account: str = ""  # organization mode: the central account; a heartbeat from another is a member's
    publish_workers: int = 8  # alerts of a batch sent side by side
    findings_min_severity: Severity | None = None  # Security Hub findings from this severity up; None: none
    findings_account: str = ""  # the function's own account: the only one it can file findings for
    chat_min_severity: Severity | None = None  # chat notifications from this severity up; None: no chat
    remediation: RemediationSettings | None = None  # opt-in: revoke (or, dry-run, say) what a change added

    @cached_property
    def classification(self) -> Settings:
        return replace(self.policy.settings if self.policy else DEFAULT_SETTINGS, own=self.own)


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
class BatchRecord:
    """One record on its way to an alert. `found` is what the read stage took out of the message; the classify stage
    replaces it with `result` (so a decoded record is not held longer than it is needed). `raw` is what an alert and
    the log show of an unreadable record: the message body, or the record that could not be classified."""

    message_id: str
    found: Item | None = None
    result: Classification | None = None
    raw: Any = None

    @property
    def classified(self) -> Classification:
        """The result, for the stages after classify."""
        if self.result is None:
            raise LookupError(f"message {self.message_id}: a record reached a later stage unclassified")
        return self.result


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


def _not_json(constant: str) -> Any:
    """NaN and Infinity, which Python's decoder takes but JSON has not: a body holding one is not valid JSON (the
    alert's document carries the raw body, and must stay JSON that any parser reads)."""
    raise ValueError(f"{constant} is not a JSON value")


def read_message(message: Any) -> list[BatchRecord]:
    """Every record of one SQS message, unclassified. An undecodable body is an unreadable record, not an exception."""
    message_id = str(message.get("messageId", "")) if isinstance(message, dict) else ""
    body = message.get("body") if isinstance(message, dict) else None
    location = f"sqs message {message_id or '(no id)'}"
    try:
        document = json.loads(body, parse_constant=_not_json) if isinstance(body, str) else body
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than the decoder goes
        problem = "nested too deeply to decode" if isinstance(error, RecursionError) else f"not valid JSON ({error})"
        return [BatchRecord(message_id, Item(location, error=f"{location}: body is {problem}"), raw=body)]
    return [BatchRecord(message_id, item, raw=body if item.error else None) for item in unwrap(document, location)]


def classify_record(record: BatchRecord, settings: Settings) -> BatchRecord:
    """The record's result; an unreadable record (its envelope or its fields) is a result with an error."""
    item = record.found
    if item is None:
        return record
    if item.error:
        return replace(record, found=None, result=Classification(error=item.error, location=item.location))
    result = classify(item.record, location=item.location, account=item.account, region=item.region, settings=settings)
    return BatchRecord(record.message_id, result=result, raw=item.record if result.error else None)


def group_records(records: Sequence[BatchRecord]) -> list[list[BatchRecord]]:
    """Records grouped into alerts by alerts.group_key, in order of first appearance; a repeated eventID counts once
    (its message is acknowledged: the first copy stands for it, and is retried if its alert fails)."""
    groups: dict[tuple[str, ...], list[BatchRecord]] = {}
    seen: set[str] = set()
    for record in records:
        result = record.classified
        if result.event_id:
            if result.event_id in seen:
                continue
            seen.add(result.event_id)
        groups.setdefault(group_key(result), []).append(record)
    return list(groups.values())


def _latency_ms(event_time: str, now: datetime) -> float | None:
    moment = parse_time(event_time)
    return max(0.0, (now - moment).total_seconds() * 1000) if moment else None


#: A per-record stage: the record carried on, or None when it goes no further (dropped, suppressed, retried later).
RecordStage = Callable[[BatchRecord], BatchRecord | None]


@dataclass
class _Batch:
    """One invocation's ports, settings and bookkeeping; its methods are the stages."""

    enricher: Enricher
    publisher: Publisher
    metrics: MetricsSink
    logger: Any
    settings: PipelineSettings
    clock: Callable[[], datetime]
    deduplicator: Deduplicator | None
    trail_inspector: TrailInspector | None = None
    prefix_list_reader: PrefixListReader | None = None
    finding_sink: FindingSink | None = None
    chat: Publisher | None = None
    remediator: Remediator | None = None
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    failed: dict[str, None] = field(default_factory=dict)  # message ids, in order, without repeats
    claimed: set[str] = field(default_factory=set)
    settled_done: list[str] = field(default_factory=list)  # event ids alerted (or decided): claims to mark done
    settled_released: list[str] = field(default_factory=list)  # event ids whose alert must be retried
    facts: dict[str, GroupFacts] = field(default_factory=dict)  # the describe stage's, for the whole batch
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # of the groups described, for the policy
    trails: dict[tuple[str, str], Sequence[TrailFacts]] = field(default_factory=dict)  # by (region, account)
    prefix_lists: dict[tuple[str, str], dict[str, PrefixListFacts]] = field(default_factory=dict)  # by place, id
    remediations: dict[str, list[Outcome]] = field(default_factory=dict)  # by event id

    def fail(self, records: Sequence[BatchRecord]) -> None:
        self.failed.update(dict.fromkeys(record.message_id for record in records))

    # read: one message at a time, so one decoded message is held at a time
    def read(self, messages: Sequence[Any]) -> Iterator[BatchRecord]:
        for message in messages:
            try:
                records = read_message(message)
            except Exception:  # a defect, not bad input (that is an unreadable record): retry, then dead-letter
                message_id = str(message.get("messageId", "")) if isinstance(message, dict) else ""
                self.logger.exception("could not process message", extra={"message_id": message_id})
                self.failed[message_id] = None
                continue
            yield from records

    # classify: security-group records and unreadable ones go on; other events are logged and dropped
    def classify(self, record: BatchRecord) -> BatchRecord | None:
        try:
            record = classify_record(record, self.settings.classification)
        except Exception:  # a defect on one record: its message is retried, the others go on
            self.logger.exception("could not process message", extra={"message_id": record.message_id})
            self.fail([record])
            return None
        result = record.classified
        if result.error:
            self.metrics.add(names.METRIC_CLASSIFICATION_ERRORS, 1)
            self.logger.warning(
                "unreadable record",
                extra={"error": result.error, "message_id": record.message_id, "raw": _excerpt(record.raw)},
            )
            return record
        if result.heartbeat:  # the canary's call made the whole path: counted per region, never alerted
            region = region_dimension(result.region)
            home = self.settings.home_account
            if home and result.account and result.account != home:  # a member's: by account and region
                source = f"{result.account}/{region}" if result.account.isdigit() else f"unknown/{region}"
                self.metrics.add(names.METRIC_MEMBER_HEARTBEATS, 1, dimension=(names.SOURCE_DIMENSION, source))
            else:
                self.metrics.add(names.METRIC_HEARTBEATS, 1, dimension=(names.REGION_DIMENSION, region))
            self.logger.info(
                names.LOG_HEARTBEAT, extra={"region": region, "account": result.account, "eventID": result.event_id}
            )
            return None
        if not result.watched:
            self.logger.info("not a watched change", extra={"eventName": result.event_name, "eventID": result.event_id})
            return None
        return record

    # join: ranges that several records of the batch open on one group are judged by their union
    def join(self, records: list[BatchRecord]) -> list[BatchRecord]:
        try:
            joined = judged_across([record.classified for record in records], self.settings.classification)
        except Exception:  # a defect here must not cost the alerts: each record keeps its own verdicts
            self.logger.exception("could not judge the batch's ranges together")
            return records
        return [
            record if result is record.result else replace(record, result=result)
            for record, result in zip(records, joined, strict=True)
        ]

    # enrich, batch part: what EC2 says of the groups, asked where each change happened (forwarders bring every
    # region and account); one place failing leaves its groups without facts, and the alerts say so
    def describe(self, records: Sequence[BatchRecord]) -> None:
        self._describe_prefix_lists(records)  # first: the groups whose rules reference an edited list are described too
        by_place: dict[tuple[str, str], dict[str, None]] = {}
        referencing: dict[tuple[str, str], dict[str, None]] = {}
        for record in records:
            result = record.classified
            by_place.setdefault((result.region, result.account), {}).update(dict.fromkeys(result.group_ids))
            edit = result.record.prefix_list if result.record is not None else None
            facts = self.prefix_lists.get((result.region, result.account), {}).get(edit.list_id) if edit else None
            if facts is not None and facts.references:
                inbound = [rule.group_id for rule in facts.references if not rule.egress][:MAX_REFERENCING_RATED]
                referencing.setdefault((result.region, result.account), {}).update(dict.fromkeys(inbound))
        for place, groups in referencing.items():  # after the records' own groups, which they must not crowd out
            by_place.setdefault(place, {}).update(groups)
        for (region, account), place_groups in by_place.items():
            if not place_groups:
                continue
            try:
                self.facts.update(self.enricher.facts(list(place_groups), region, account))
            except Exception as error:  # a defect in the enricher must not cost the alerts
                self.facts.update(
                    {
                        gid: GroupFacts(gid, error=f"the enricher failed ({type(error).__name__})")
                        for gid in place_groups
                    }
                )
        for missing in (group for group in self.facts.values() if group.error):
            self.metrics.add(names.METRIC_ENRICHMENT_FAILURES, 1)
            self.logger.warning("enrichment failed", extra={"groupId": missing.group_id, "error": missing.error})
        self.tags = {group_id: group.tags for group_id, group in self.facts.items() if not group.error}
        self._describe_trails(records)

    def _describe_prefix_lists(self, records: Sequence[BatchRecord]) -> None:
        """The prefix lists edited or named as a source: their entries and the rules that reference them. Failing to
        ask leaves the verdict as the record alone gives it."""
        if self.prefix_list_reader is None:
            return
        by_place: dict[tuple[str, str], dict[str, None]] = {}
        for record in records:
            result = record.classified
            found = prefix_list_ids(result)
            if found:
                by_place.setdefault((result.region, result.account), {}).update(dict.fromkeys(found))
        for (region, account), list_ids in by_place.items():
            try:
                described = self.prefix_list_reader.prefix_lists(list(list_ids), region, account)
            except Exception as error:  # a defect in the reader must not cost the alerts
                described = {
                    list_id: PrefixListFacts(list_id, error=f"the reader failed ({type(error).__name__})")
                    for list_id in list_ids
                }
            for list_id, facts in described.items():
                self.prefix_lists.setdefault((region, account), {})[list_id] = facts
                if facts.error:
                    self.metrics.add(names.METRIC_ENRICHMENT_FAILURES, 1)
                    self.logger.warning("enrichment failed", extra={"prefixListId": list_id, "error": facts.error})

    def _describe_trails(self, records: Sequence[BatchRecord]) -> None:
        """The trails where a trail was stopped or narrowed: another one may still record the changes. Failing to
        ask leaves the verdict as it is (never lower without the facts)."""
        if self.trail_inspector is None:
            return
        places = {(r.classified.region, r.classified.account) for r in records if needs_trail_facts(r.classified)}
        for region, account in places:
            try:
                self.trails[region, account] = self.trail_inspector.trails(region, account)
            except Exception as error:  # denied, throttled, a region the SDK cannot reach
                self.metrics.add(names.METRIC_ENRICHMENT_FAILURES, 1)
                self.logger.warning("trails not described", extra={"region": region, "error": repr(error)})

    # enrich, record part
    def enrich(self, record: BatchRecord) -> BatchRecord:
        result = record.classified
        if result.error:
            return record
        lists = self.prefix_lists.get((result.region, result.account), {})
        result = apply_prefix_list_facts(result, lists, self.settings.classification)
        result = apply_facts(result, self.facts, self.settings.classification)
        result = apply_trail_facts(result, self.trails.get((result.region, result.account), ()))
        return replace(record, result=result)

    def apply_policy(self, record: BatchRecord) -> BatchRecord:
        result = record.classified
        if result.error or self.settings.policy is None:
            return record
        result = apply_policy(result, self.settings.policy, tags=self.tags)
        if lowered_by_policy(result):
            self.metrics.add(names.METRIC_LOWERED_BY_POLICY, 1)
        return replace(record, result=result)

    def deduplicate(self, record: BatchRecord) -> BatchRecord | None:
        """The record when it is to be alerted now. Unreadable records are claimed too: a redelivery is the same
        record. Only an alert published ("done") suppresses; a claim in flight fails the message, to be retried."""
        event_id = record.classified.event_id
        if self.deduplicator is None or not event_id or event_id in self.claimed:
            return record
        claim = self.deduplicator.claim(event_id)
        if claim is Claim.ALERTED:
            self.metrics.add(names.METRIC_DUPLICATES_SUPPRESSED, 1)
            self.logger.info("duplicate record: already alerted", extra={"eventID": event_id})
            return None
        if claim is Claim.IN_FLIGHT:
            # Claimed but not published: alive in another invocation, or lost with one that died. Either way this
            # message comes back after the visibility timeout, when a dead invocation's claim is stale.
            self.logger.warning("record claimed but not yet alerted: retried later", extra={"eventID": event_id})
            self.fail([record])
            return None
        if claim is Claim.UNAVAILABLE:
            self.metrics.add(names.METRIC_DEDUP_FAILURES, 1)
            self.logger.warning("deduplication store unavailable: alerting anyway", extra={"eventID": event_id})
        else:
            self.claimed.add(event_id)
        return record

    def count(self, record: BatchRecord) -> BatchRecord:
        """A change to be alerted: counted by severity, call and region, and logged in full."""
        result = record.classified
        if result.error:
            return record
        if hasattr(self.logger, "set_correlation_id"):
            self.logger.set_correlation_id(result.event_id)
        if result.tamper is not None:  # counted apart: the security-group figures stay what they were
            self.metrics.add(names.METRIC_TAMPER_EVENTS, 1, dimension=(names.SEVERITY_DIMENSION, result.severity.name))
            self.logger.info(names.LOG_TAMPER, extra={"result": result.to_dict()})
            return record
        self.metrics.add(names.METRIC_CHANGES, 1, dimension=(names.SEVERITY_DIMENSION, result.severity.name))
        self.metrics.add(names.METRIC_CHANGES_BY_EVENT, 1, dimension=(names.EVENT_NAME_DIMENSION, result.event_name))
        self.metrics.add(
            names.METRIC_CHANGES_BY_REGION, 1, dimension=(names.REGION_DIMENSION, region_dimension(result.region))
        )
        self.logger.info(names.LOG_CHANGE, extra={"result": result.to_dict()})
        return record

    def judge(self, record: BatchRecord) -> BatchRecord | None:
        """The per-record stages in order; a defect in any of them fails only this record's message."""
        stages: tuple[RecordStage, ...] = (self.enrich, self.apply_policy, self.deduplicate, self.count)
        carried: BatchRecord | None = record
        for stage in stages:
            if carried is None:
                return None
            try:
                carried = stage(carried)
            except Exception:  # a defect on one record: its message is retried, the others go on
                self.logger.exception("could not judge record", extra={"message_id": record.message_id})
                self.fail([record])
                return None
        return carried

    def send(self, records: Sequence[BatchRecord]) -> _Sending:
        """One alert, published; if SNS refuses the message itself (or it cannot be built), its minimal form. Runs in
        a worker thread beside the batch's other alerts: it writes nothing shared but the log, and `account` settles
        what it did once all are sent."""
        results = tuple(record.classified for record in records)
        group_ids = dict.fromkeys(group for result in results for group in result.group_ids)
        alert = Alert(
            results,
            tuple(self.facts[group] for group in group_ids if group in self.facts),
            next((record.raw for record in records if record.raw is not None), None),
            tuple(outcome for result in results for outcome in self.remediations.get(result.event_id, [])),
        )
        sending = _Sending(alert, [result.event_id for result in results if result.event_id in self.claimed])
        if alert.severity < self.settings.publish_min_severity:
            sending.suppressed = True
            return sending
        now = sending.sent_at = self.clock()
        rendered: Publication | None = None
        try:
            rendered = publication(alert, published_at=now, domain=self.settings.console_domain)
        except Exception:  # a defect in rendering must not cost the alert
            self.logger.exception("alert could not be rendered", extra={"eventIDs": sending.event_ids})
        refused = self._send(rendered, sending) if rendered is not None else None
        if rendered is None or isinstance(refused, MessageRefused):
            self.logger.error(
                "alert not published in full: publishing its minimal form",
                extra={"error": repr(refused), "alert": [result.to_dict() for result in results]},
            )
            refused = self._send(minimal_publication(alert, published_at=now), sending)
        sending.delivered = refused is None
        return sending

    def _send(self, rendered: Publication, sending: _Sending) -> Exception | None:
        """None when SNS took it; otherwise the error (logged, and counted by `account`)."""
        try:
            self.publisher.publish(rendered.subject, rendered.message, rendered.attributes)
        except Exception as error:  # any failure to publish: the caller decides between the minimal form and a retry
            sending.failures += 1
            self.logger.error("publish failed", extra={"error": repr(error), "subject": rendered.subject})
            return error
        return None

    def account(self, records: Sequence[BatchRecord], sending: _Sending) -> None:
        """What sending one alert did, in the batch's order: the outcome, the metrics, the messages to retry, and its
        events' claims (done, so redeliveries are duplicates; or released, so the retry alerts)."""
        self.outcome.alerts.append(sending.alert)
        for _ in range(sending.failures):
            self.metrics.add(names.METRIC_PUBLISH_FAILURES, 1)
        if sending.suppressed:
            self.outcome.suppressed += 1
            self.metrics.add(names.METRIC_ALERTS_SUPPRESSED, 1)
            self.settled_done.extend(sending.event_ids)  # decided: a retry would decide the same
            return
        if not sending.delivered:
            self.fail(records)
            self.settled_released.extend(sending.event_ids)
            return
        self.settled_done.extend(sending.event_ids)
        self.outcome.published += 1
        self.metrics.add(names.METRIC_ALERTS_PUBLISHED, 1)
        latency = _latency_ms(sending.alert.first.event_time, sending.sent_at) if sending.sent_at else None
        if latency is not None:
            self.metrics.add(names.METRIC_DETECTION_LATENCY, latency, unit="Milliseconds")

    def settle(self) -> None:
        """The batch's claims, settled in one go at its end (the store batches its writes). A claim left pending by
        a failure here expires by itself and is taken over when stale: it can delay a retry, never lose an alert."""
        if self.deduplicator is None:
            return
        for settled, write in (
            (self.settled_done, self.deduplicator.done),
            (self.settled_released, self.deduplicator.release),
        ):
            if not settled:
                continue
            try:
                write(list(dict.fromkeys(settled)))
            except Exception:  # the store's own errors are its business; a defect here must not fail the batch
                self.logger.exception("claims not settled", extra={"eventIDs": settled[:100]})

    # remediate (opt-in): what the setting covers among the rules each change added, revoked by id (enforce) or
    # said (dry-run), before the alert is built, so that it says what was done
    def remediate(self, records: Sequence[BatchRecord]) -> None:
        settings = self.settings.remediation
        if settings is None or self.remediator is None:
            return
        from sgwatch.core.remediation import Done, Mode, dry_run, plan  # noqa: PLC0415 - only where it is set

        for record in records:
            result = record.classified
            if result.event_id in self.remediations:  # the same event twice in a batch: acted on once
                continue
            try:
                found = plan(result, settings, self.tags)
                if found is None:
                    continue
                if result.account != self.settings.findings_account:
                    outcomes = self._elsewhere(found, settings, result.account)
                elif settings.mode is Mode.DRY_RUN:
                    outcomes = dry_run(found, settings)
                else:
                    outcomes = self._enforce(found, settings)
            except Exception:  # a defect here must not cost the alert: it goes out without the remediation
                self.logger.exception("could not remediate", extra={"eventID": result.event_id})
                continue
            self.remediations[result.event_id] = outcomes
            counted = {
                Done.REVOKED: names.METRIC_RULES_REVOKED,
                Done.WOULD_REVOKE: names.METRIC_REVOCATIONS_DRY_RUN,
                Done.NOT_REVOKED: names.METRIC_REVOCATIONS_REFUSED,
            }
            for outcome in outcomes:
                if outcome.done in counted:
                    self.metrics.add(counted[outcome.done], 1)
            self.logger.info("remediation", extra={"eventID": result.event_id,
                                                   "outcomes": [outcome.to_dict() for outcome in outcomes]})  # fmt: skip

    def _elsewhere(self, found: Plan, settings: RemediationSettings, account: str) -> list[Outcome]:
        from sgwatch.core.remediation import Done, Outcome, refusals  # noqa: PLC0415

        why = f"made in account {account}: sgwatch revokes only in its own account (its roles elsewhere are read-only)"
        kept = [
            Outcome(Done.NOT_REVOKED, r.group_id, r.rule_id, settings.setting, why, r.restore) for r in found.revoke
        ]
        return [*kept, *refusals(found, settings)]

    def _enforce(self, found: Plan, settings: RemediationSettings) -> list[Outcome]:
        from sgwatch.core.remediation import Done, Outcome, refusals  # noqa: PLC0415

        assert self.remediator is not None
        outcomes: list[Outcome] = []
        by_group: dict[str, list[Any]] = {}
        for revocation in found.revoke:
            by_group.setdefault(revocation.group_id, []).append(revocation)
        for group_id, candidates in by_group.items():
            try:  # what EC2 has now: a break-glass tag put on since, a rule rewritten since, a rule gone
                tags, now = self.remediator.current(found.region, group_id, [r.rule_id for r in candidates])
            except Exception as error:
                why = f"EC2 could not say what the group holds now ({error!r}): nothing was revoked"
                outcomes += [Outcome(Done.NOT_REVOKED, group_id, r.rule_id, settings.setting, why, r.restore)
                             for r in candidates]  # fmt: skip
                continue
            revocations = []
            for revocation in candidates:
                rule = now.get(revocation.rule_id)
                why = self._changed_since(revocation, rule, tags, settings)
                if rule is None:
                    outcomes.append(Outcome(Done.ALREADY_GONE, group_id, revocation.rule_id, settings.setting,
                                            restore=revocation.restore))  # fmt: skip
                elif why:
                    outcomes.append(Outcome(Done.NOT_REVOKED, group_id, revocation.rule_id, settings.setting, why,
                                            revocation.restore))  # fmt: skip
                else:
                    revocations.append(revocation)
            if not revocations:
                continue
            try:
                admitted = self.remediator.admit(len(revocations))
                held = "" if admitted else "the circuit breaker held it: the hour's revocations reached the limit"
            except Exception as error:
                held = f"the hour's count could not be kept ({error!r}): held, as the circuit breaker would"
            if held:
                self.metrics.add(names.METRIC_REVOCATIONS_HELD, len(revocations))
                outcomes += [Outcome(Done.NOT_REVOKED, group_id, r.rule_id, settings.setting, held, r.restore)
                             for r in revocations]  # fmt: skip
                continue
            answers = self.remediator.revoke(found.region, group_id, [r.rule_id for r in revocations])
            for revocation in revocations:
                answer = answers.get(revocation.rule_id, "no answer")
                done = {"revoked": Done.REVOKED, "already gone": Done.ALREADY_GONE}.get(answer, Done.NOT_REVOKED)
                detail = "" if done is not Done.NOT_REVOKED else f"EC2 refused: {answer}"
                outcomes.append(
                    Outcome(done, group_id, revocation.rule_id, settings.setting, detail, revocation.restore)
                )
        return [*outcomes, *refusals(found, settings)]

    @staticmethod
    def _changed_since(revocation: Any, rule: Any, tags: dict[str, str], settings: RemediationSettings) -> str:
        """Why a rule the plan would revoke must not be, now that EC2 has been asked: "" when it may."""
        from sgwatch.core.model import protocol_name, rule_shape  # noqa: PLC0415

        if rule is None:
            return ""
        if settings.break_glass_tag and settings.break_glass_tag in tags:
            return f"the group carries the break-glass tag {settings.break_glass_tag} (put on since the change)"
        if settings.only_tagged is not None and tags.get(settings.only_tagged[0]) != settings.only_tagged[1]:
            return f"remediation is limited to groups tagged {'='.join(settings.only_tagged)}, and this one is not"
        source = (
            rule.get("CidrIpv4")
            or rule.get("CidrIpv6")
            or rule.get("PrefixListId")
            or (rule.get("ReferencedGroupInfo") or {}).get("GroupId", "")
        )
        shape = rule_shape(protocol_name(str(rule.get("IpProtocol", ""))), rule.get("FromPort"), rule.get("ToPort"),
                           _canonical(str(source)))  # fmt: skip
        if rule.get("IsEgress") or shape != revocation.added:
            return "the rule has been rewritten since the change: it no longer is the rule that was added"
        return ""

    def file_findings(self, sent: Sequence[_Sending]) -> None:
        """Security Hub findings for the records of the alerts sent, from the threshold up: one per record, whose Id
        is the record's, so a redelivery updates it. Only the function's own account can file them (Security Hub takes
        a finding under an account's default product only from that account); a member's change stays in its alert.
        A failure here is counted and logged; the alert has gone out already."""
        threshold = self.settings.findings_min_severity
        if self.finding_sink is None or threshold is None:
            return
        now, elsewhere = self.clock(), 0
        by_region: dict[str, list[dict[str, Any]]] = {}
        failures: list[str] = []
        for result in (result for sending in sent for result in sending.alert.results):
            if reported_severity(result) < threshold:
                continue
            if result.account != self.settings.findings_account:
                elsewhere += 1
                continue
            try:
                finding = security_hub_finding(
                    result, updated_at=now, domain=self.settings.console_domain, groups=self.facts
                )
            except ValueError as error:  # a record whose region is no region name: nowhere to file it
                failures.append(str(error))
                continue
            by_region.setdefault(result.region, []).append(finding)
        imported = 0
        for region, findings in by_region.items():
            try:
                refused = self.finding_sink.import_findings(region, findings)
            except Exception:  # a defect in the importer must not fail the batch: its alerts went out
                self.logger.exception("findings not imported", extra={"region": region})
                refused = [finding["Id"] for finding in findings]
            imported += len(findings) - len(refused)
            failures += refused
        if imported:
            self.metrics.add(names.METRIC_FINDINGS_IMPORTED, imported)
        if failures:
            self.metrics.add(names.METRIC_FINDING_IMPORT_FAILURES, len(failures))
            self.logger.warning("findings not imported", extra={"count": len(failures), "first": failures[:10]})
        if elsewhere:
            self.logger.info("findings of other accounts are not imported here", extra={"count": elsewhere})

    def post_to_chat(self, sent: Sequence[_Sending]) -> None:
        """The alerts sent, from the chat threshold up, as chat notifications on the chat topic. A copy for the team's
        channel: one that cannot be published is counted and logged, and the alert (already out) is not retried."""
        threshold = self.settings.chat_min_severity
        if self.chat is None or threshold is None:
            return
        for sending in sent:
            if sending.alert.severity < threshold:
                continue
            try:
                notification = chat_notification(sending.alert, domain=self.settings.console_domain)
                self.chat.publish(subject(sending.alert), json_line(notification), {})
            except Exception as error:  # any failure: the email alert went out; chat is the copy
                self.metrics.add(names.METRIC_CHAT_FAILURES, 1)
                self.logger.error("chat notification not published", extra={"error": repr(error)})


@dataclass
class _Sending:
    """What sending one alert did, written by the one worker thread that sends it and read after all are sent."""

    alert: Alert
    event_ids: list[str]
    suppressed: bool = False
    delivered: bool = False
    failures: int = 0
    sent_at: datetime | None = None


def _send_all(batch: _Batch, alerts: list[list[BatchRecord]], workers: int) -> list[_Sending | None]:
    """Each alert sent by `batch.send`, `workers` side by side (an SNS publish is a round trip; ten one after
    another are the slowest part of a batch). None for an alert whose sending hit a defect."""

    def guarded(records: list[BatchRecord]) -> _Sending | None:
        try:
            return batch.send(records)
        except Exception:  # a defect around one alert: its messages are retried, the other alerts go out
            batch.logger.exception("could not alert", extra={"message_ids": [r.message_id for r in records]})
            return None

    if workers <= 1 or len(alerts) <= 1:
        return [guarded(records) for records in alerts]
    with ThreadPoolExecutor(max_workers=min(workers, len(alerts)), thread_name_prefix="publish") as pool:
        return list(pool.map(guarded, alerts))


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
    trail_inspector: TrailInspector | None = None,
    prefix_list_reader: PrefixListReader | None = None,
    finding_sink: FindingSink | None = None,
    chat: Publisher | None = None,
    remediator: Remediator | None = None,
) -> BatchOutcome:
    """Read, classify, enrich, apply policy, deduplicate, group and publish one SQS batch. A failure fails only the
    messages it concerns."""
    batch = _Batch(
        enricher, publisher, metrics, logger, settings, clock, deduplicator, trail_inspector, prefix_list_reader,
        finding_sink, chat, remediator,
    )  # fmt: skip
    messages = event.get("Records", []) if isinstance(event, dict) else []
    findings = [
        kept
        for record in batch.read(messages if isinstance(messages, list) else [])
        if (kept := batch.classify(record)) is not None
    ]
    findings = batch.join(findings)
    batch.describe(findings)
    judged = [kept for record in findings if (kept := batch.judge(record)) is not None]
    batch.remediate(judged)
    alerts = group_records(judged)
    sendings = _send_all(batch, alerts, settings.publish_workers)
    for records, sending in zip(alerts, sendings, strict=True):
        if sending is None:  # a defect while sending (logged): retried at once, its claims released
            batch.fail(records)
            batch.settled_released += [r.classified.event_id for r in records if r.classified.event_id in batch.claimed]
            continue
        try:
            batch.account(records, sending)
        except Exception:  # a defect around one alert: its messages are retried, the other alerts go out
            logger.exception("could not alert", extra={"message_ids": [r.message_id for r in records]})
            batch.fail(records)
    batch.settle()
    delivered = [sending for sending in sendings if sending is not None and sending.delivered]
    for copies in (batch.file_findings, batch.post_to_chat):  # copies of alerts that went out: never fail the batch
        try:
            copies(delivered)
        except Exception:
            logger.exception("could not copy the alerts", extra={"to": copies.__name__})
    batch.outcome.failed_message_ids = [message_id for message_id in batch.failed if message_id]
    return batch.outcome


def _canonical(source: str) -> str:
    """A source as the record's parser writes it (classify_cidr: 10.0.0.1/8 is 10.0.0.0/8); any other as it is."""
    try:
        return classify_cidr(source).address
    except ValueError:
        return source
