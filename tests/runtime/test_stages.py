"""The pipeline's stage boundaries, on in-memory fakes of its ports: a failure in one record, one place or one alert
fails only its own messages; a claim in flight is retried; only an alert published suppresses its redelivery."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sgwatch.core import classify as classification
from sgwatch.core import enrich, names
from sgwatch.core.alerts import Alert, publication
from sgwatch.core.severity import Severity
from sgwatch.runtime import pipeline
from sgwatch.runtime.pipeline import BatchOutcome, PipelineSettings, classify_record, process_batch, read_message

from tests.conftest import CONSTRUCTED, load
from tests.runtime.fakes import REVOKE, SSH_WORLD, Counts, Facts, Log, Store, Topic, batch, change

NOW = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)


def run(
    event: dict[str, Any],
    *,
    topic: Topic | None = None,
    store: Store | None = None,
    facts: Facts | None = None,
    counts: Counts | None = None,
    log: Log | None = None,
    settings: PipelineSettings | None = None,
    hub: Any = None,
    chat: Topic | None = None,
) -> BatchOutcome:
    return process_batch(
        event,
        enricher=facts or Facts(),
        publisher=topic if topic is not None else Topic(),
        metrics=counts if counts is not None else Counts(),
        logger=log if log is not None else Log(),
        settings=settings or PipelineSettings(publish_min_severity=Severity.LOW),
        clock=lambda: NOW,
        deduplicator=store,
        finding_sink=hub,
        chat=chat,
    )


def test_a_publisher_that_fails_once_fails_only_that_alerts_message_and_the_retry_alerts_it() -> None:
    topic, store, counts = Topic(fail_once_on={"event-1"}), Store(), Counts()
    first, second = change("sg-0aaaaaaaaaaaaaaa1", "event-1"), change("sg-0bbbbbbbbbbbbbbb2", "event-2")
    event = batch(first, second)
    assert run(event, topic=topic, store=store, counts=counts).failed_message_ids == ["message-0"]
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["event-2"]
    assert store.states == {"event-2": "done"}  # event-1's claim released: its retry is not taken for a duplicate
    assert counts.totals[names.METRIC_PUBLISH_FAILURES] == 1
    assert counts.totals[names.METRIC_ALERTS_PUBLISHED] == 1

    retried = run(event, topic=topic, store=store)  # SQS delivers the batch again
    assert retried.failed_message_ids == []
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["event-2", "event-1"]


def test_an_alert_that_always_fails_never_costs_another() -> None:
    topic = Topic(fail_on={"poisoned"})
    outcome = run(
        batch(change("sg-0aaaaaaaaaaaaaaa1", "poisoned"), change("sg-0bbbbbbbbbbbbbbb2", "healthy")), topic=topic
    )
    assert outcome.failed_message_ids == ["message-0"]
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["healthy"]


def test_an_unavailable_deduplicator_still_alerts_and_is_counted() -> None:
    topic, counts, log = Topic(), Counts(), Log()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), topic=topic, store=Store(unavailable=True),
                  counts=counts, log=log)  # fmt: skip
    assert outcome.failed_message_ids == [] and len(topic.sent) == 1
    assert counts.totals[names.METRIC_DEDUP_FAILURES] == 1
    assert "deduplication store unavailable: alerting anyway" in log.messages("warning")


def test_a_claim_in_flight_fails_its_message_for_a_retry_and_alerts_the_rest() -> None:
    topic, counts, log = Topic(), Counts(), Log()
    store = Store(states={"in-flight": "pending"})
    event = batch(change("sg-0aaaaaaaaaaaaaaa1", "in-flight"), change("sg-0bbbbbbbbbbbbbbb2", "fresh"))
    outcome = run(event, topic=topic, store=store, counts=counts, log=log)
    assert outcome.failed_message_ids == ["message-0"]
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["fresh"]
    assert counts.totals[names.METRIC_DUPLICATES_SUPPRESSED] == 0  # in flight is not "already alerted"
    assert "record claimed but not yet alerted: retried later" in log.messages("warning")
    assert store.states["in-flight"] == "pending"  # not ours to release


def test_only_a_published_alert_suppresses_its_redelivery() -> None:
    topic, store, counts = Topic(), Store(), Counts()
    event = batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1"))
    run(event, topic=topic, store=store)
    outcome = run(event, topic=topic, store=store, counts=counts)
    assert outcome.failed_message_ids == [] and len(topic.sent) == 1
    assert counts.totals[names.METRIC_DUPLICATES_SUPPRESSED] == 1


def test_a_below_threshold_alert_is_settled_as_done_not_published() -> None:
    topic, store, counts = Topic(), Store(), Counts()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "revoke", REVOKE)), topic=topic, store=store, counts=counts)
    assert (outcome.suppressed, outcome.published, topic.sent) == (1, 0, [])
    assert store.states == {"revoke": "done"}
    assert counts.dimensioned[names.METRIC_CHANGES, "INFO"] == 1


def test_a_refused_message_goes_out_in_minimal_form() -> None:
    topic, log = Topic(refuse_full=True), Log()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), topic=topic, log=log)
    assert outcome.failed_message_ids == [] and outcome.published == 1
    [sent] = topic.sent
    assert sent.payload["minimal"] is True and sent.payload["eventIDs"] == ["event-1"]
    assert "alert not published in full: publishing its minimal form" in log.messages("error")


def test_an_enricher_that_raises_costs_the_facts_not_the_alert() -> None:
    topic, counts = Topic(), Counts()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1")), topic=topic, facts=Facts(failure=RuntimeError("defect")),
                  counts=counts)  # fmt: skip
    assert outcome.failed_message_ids == [] and len(topic.sent) == 1
    assert "sg-0aaaaaaaaaaaaaaa1: not described (the enricher failed (RuntimeError))" in topic.sent[0].text
    assert counts.totals[names.METRIC_ENRICHMENT_FAILURES] == 1


def test_a_defect_in_a_per_record_stage_fails_only_that_records_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real = enrich.apply_facts

    def fail_on_one(result: Any, *args: Any) -> Any:
        if result.event_id == "defect":
            raise RuntimeError("a defect")
        return real(result, *args)

    monkeypatch.setattr(pipeline, "apply_facts", fail_on_one)
    topic, store, log = Topic(), Store(), Log()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "defect"), change("sg-0bbbbbbbbbbbbbbb2", "healthy")),
                  topic=topic, store=store, log=log)  # fmt: skip
    assert outcome.failed_message_ids == ["message-0"]
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["healthy"]
    assert "could not judge record" in log.messages("exception")
    assert "defect" not in store.states  # failed before its claim: the retry finds nothing in flight


def test_a_defect_classifying_one_record_fails_only_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real = classification.classify

    def fail_on_one(record: Any, **kwargs: Any) -> Any:
        if record.get("eventID") == "defect":
            raise RuntimeError("a defect")
        return real(record, **kwargs)

    monkeypatch.setattr(pipeline, "classify", fail_on_one)
    topic = Topic()
    outcome = run(
        batch(change("sg-0aaaaaaaaaaaaaaa1", "defect"), change("sg-0bbbbbbbbbbbbbbb2", "healthy")), topic=topic
    )
    assert outcome.failed_message_ids == ["message-0"]
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["healthy"]


def test_an_unreadable_body_is_a_record_that_carries_its_body() -> None:
    [read] = read_message({"messageId": "m-1", "body": "not json"})
    classified = classify_record(read, PipelineSettings().classification)
    assert classified.found is None and classified.raw == "not json"
    assert classified.classified.error.startswith("sqs message m-1: body is not valid JSON")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_body_with_a_number_json_has_not_is_unreadable_and_its_alert_stays_json(constant: str) -> None:
    """Python's decoder takes NaN and Infinity; JSON has neither, and a consumer in another language would refuse a
    document that carried one back."""
    body = f'{{"detail": {{"eventName": "AuthorizeSecurityGroupIngress", "x": {constant}}}}}'
    [read] = read_message({"messageId": "m-1", "body": body})
    classified = classify_record(read, PipelineSettings().classification)
    assert classified.classified.error == f"sqs message m-1: body is not valid JSON ({constant} is not a JSON value)"
    document = publication(Alert((classified.classified,), raw=classified.raw)).document

    def refuse(value: str) -> None:
        raise AssertionError(f"{value} in the document")

    assert json.loads(document, parse_constant=refuse)["rawRecord"] == body


def test_a_record_that_fails_to_classify_carries_the_record_itself() -> None:
    broken = change("sg-0aaaaaaaaaaaaaaa1", "broken")
    broken["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "ssh"
    [read] = read_message(batch(broken)["Records"][0])
    classified = classify_record(read, PipelineSettings().classification)
    assert classified.raw == broken and classified.classified.error


def test_changes_are_described_where_they_happened() -> None:
    facts = Facts()
    home, far = change("sg-0aaaaaaaaaaaaaaa1"), change("sg-0bbbbbbbbbbbbbbb2")
    far["awsRegion"], far["recipientAccountId"] = "us-east-1", "111122223333"
    run(batch(home, far), facts=facts)
    assert facts.asked == [
        (("sg-0aaaaaaaaaaaaaaa1",), home["awsRegion"], home["recipientAccountId"]),
        (("sg-0bbbbbbbbbbbbbbb2",), "us-east-1", "111122223333"),
    ]


def test_a_heartbeat_is_counted_for_its_region_and_never_alerted() -> None:
    topic, counts = Topic(), Counts()
    beat = load(CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json")
    outcome = run(batch(beat, change("sg-0aaaaaaaaaaaaaaa1", "event-1")), topic=topic, counts=counts)
    assert outcome.failed_message_ids == []
    assert counts.dimensioned[names.METRIC_HEARTBEATS, "eu-west-1"] == 1
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["event-1"]  # the change alone
    assert counts.totals[names.METRIC_CHANGES] == 1  # the heartbeat is not a security-group change


def test_a_members_heartbeat_is_counted_by_account_and_region() -> None:
    counts = Counts()
    beat = load(CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json")  # account 111122223333
    process_batch(
        batch(beat),
        enricher=Facts(),
        publisher=Topic(),
        metrics=counts,
        logger=Log(),
        settings=PipelineSettings(home_account="999999999999"),
        clock=lambda: NOW,
    )
    assert counts.dimensioned[names.METRIC_MEMBER_HEARTBEATS, "111122223333/eu-west-1"] == 1
    assert counts.totals[names.METRIC_HEARTBEATS] == 0  # the home account's regions only


def test_ranges_split_across_the_messages_of_a_batch_are_judged_together() -> None:
    topic = Topic()
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    records = []
    for index, cidr in enumerate(quarters):
        record = change("sg-0aaaaaaaaaaaaaaa1", f"event-{index}")
        record["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"] = {"items": [{"cidrIp": cidr}]}
        record["responseElements"]["securityGroupRuleSet"]["items"][0]["cidrIpv4"] = cidr
        records.append(record)
    assert run(batch(*records), topic=topic).failed_message_ids == []
    [alert] = topic.sent  # one actor, one group: one alert
    assert alert.attributes[names.ATTRIBUTE_SEVERITY]["StringValue"] == "CRITICAL"
    assert [result["severity"] for result in alert.payload["results"]] == ["CRITICAL"] * 4


def test_groups_behind_an_edited_prefix_list_are_described_after_the_records_own_groups() -> None:
    """A list referenced by many groups must not crowd the batch's own groups out of the describe call."""
    edit = load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json")
    list_id = edit["requestParameters"]["ModifyManagedPrefixListRequest"]["PrefixListId"]
    rules = tuple(
        enrich.ReferencingRule(f"sg-{index:017x}", f"sgr-{index:017x}", False, "tcp", 22, 22) for index in range(300)
    )

    class Lists:
        def prefix_lists(self, list_ids: Any, region: str = "", account: str = "") -> dict[str, Any]:
            return {list_id: enrich.PrefixListFacts(list_id, "office", "111122223333", ("0.0.0.0/0",), rules)}

    facts, topic = Facts(), Topic()
    own = change("sg-0aaaaaaaaaaaaaaa1", "own-change")
    own.update(awsRegion=edit["awsRegion"], recipientAccountId=edit["recipientAccountId"])  # the same place
    process_batch(
        batch(edit, own), enricher=facts, publisher=topic, metrics=Counts(), logger=Log(),
        settings=PipelineSettings(publish_min_severity=Severity.LOW), clock=lambda: NOW, prefix_list_reader=Lists(),
    )  # fmt: skip
    [(asked, _, _)] = facts.asked
    assert asked[0] == "sg-0aaaaaaaaaaaaaaa1"
    assert len([group for group in asked if group.startswith("sg-000")]) == enrich.MAX_REFERENCING_RATED
    edited = next(sent for sent in topic.sent if sent.payload["results"][0]["eventName"] == "ModifyManagedPrefixList")
    assert len(edited.payload["results"][0]["findings"]) == enrich.MAX_REFERENCING_RATED


class Gathering(Topic):
    """A topic whose publish waits until `expected` publishes are in flight at once: alerts sent one after another
    never get there, and the wait fails them."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(expected, timeout=10)

    def publish(self, subject: str, message: str, attributes: Any) -> None:
        self.barrier.wait()
        super().publish(subject, message, attributes)


def test_a_batchs_alerts_are_published_side_by_side() -> None:
    topic = Gathering(3)
    changes = [change(f"sg-0aaaaaaaaaaaaaaa{i}", f"event-{i}") for i in range(3)]
    outcome = run(batch(*changes), topic=topic)
    assert outcome.failed_message_ids == []
    assert sorted(sent.payload["results"][0]["eventID"] for sent in topic.sent) == ["event-0", "event-1", "event-2"]
    assert [alert.first.event_id for alert in outcome.alerts] == ["event-0", "event-1", "event-2"]  # batch order


class CountingStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, list[str]]] = []

    def done(self, event_ids: list[str]) -> None:
        self.writes.append(("done", event_ids))
        super().done(event_ids)

    def release(self, event_ids: list[str]) -> None:
        self.writes.append(("release", event_ids))
        super().release(event_ids)


def test_a_batchs_claims_are_settled_together_at_its_end() -> None:
    store, topic = CountingStore(), Topic(fail_on={"event-1"})
    changes = [change(f"sg-0aaaaaaaaaaaaaaa{i}", f"event-{i}") for i in range(4)]
    outcome = run(batch(*changes), topic=topic, store=store)
    assert outcome.failed_message_ids == ["message-1"]
    assert store.writes == [("done", ["event-0", "event-2", "event-3"]), ("release", ["event-1"])]
    assert store.states == {"event-0": "done", "event-2": "done", "event-3": "done"}


class Hub:
    """Security Hub: the findings imported, by region; `refuse` names ids it reports as failed, `down` raises."""

    def __init__(self, refuse: frozenset[str] = frozenset(), down: bool = False) -> None:
        self.imported: dict[str, list[dict[str, Any]]] = {}
        self.refuse, self.down = refuse, down

    def import_findings(self, region: str, findings: Any) -> list[str]:
        if self.down:
            raise ConnectionError("Security Hub could not be reached")
        taken = [finding for finding in findings if finding["Id"] not in self.refuse]
        self.imported.setdefault(region, []).extend(taken)
        return [f"{finding['Id']}: InvalidInput" for finding in findings if finding["Id"] in self.refuse]


#: Security Hub findings from MEDIUM up, for the records' own account.
WITH_HUB = PipelineSettings(findings_min_severity=Severity.MEDIUM, findings_account=SSH_WORLD["recipientAccountId"])
WITH_CHAT = PipelineSettings(chat_min_severity=Severity.HIGH)


def test_the_records_of_alerts_sent_from_the_threshold_up_become_security_hub_findings() -> None:
    hub, counts = Hub(), Counts()
    open_ssh, revoked = change("sg-0aaaaaaaaaaaaaaa1", "event-1"), change("sg-0bbbbbbbbbbbbbbb2", "event-2", REVOKE)
    revoked["recipientAccountId"] = SSH_WORLD["recipientAccountId"]
    elsewhere = change("sg-0ccccccccccccccc3", "event-3")
    elsewhere["recipientAccountId"] = "210987654321"  # a member's change: Security Hub takes it only from there
    outcome = run(batch(open_ssh, revoked, elsewhere), hub=hub, counts=counts, settings=WITH_HUB)
    assert outcome.failed_message_ids == []
    [(region, findings)] = hub.imported.items()
    assert region == SSH_WORLD["awsRegion"]
    assert [finding["ProductFields"]["sgwatch/eventID"] for finding in findings] == ["event-1"]  # LOW revoke: not
    assert findings[0]["Id"] == f"sgwatch/{region}/event-1"
    assert counts.totals[names.METRIC_FINDINGS_IMPORTED] == 1
    assert names.METRIC_FINDING_IMPORT_FAILURES not in counts.totals


def test_a_finding_security_hub_refuses_or_cannot_take_is_counted_and_the_alert_still_goes_out() -> None:
    for hub in (Hub(refuse=frozenset({f"sgwatch/{SSH_WORLD['awsRegion']}/event-1"})), Hub(down=True)):
        topic, counts = Topic(), Counts()
        outcome = run(
            batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), hub=hub, topic=topic, counts=counts, settings=WITH_HUB
        )
        assert outcome.failed_message_ids == [] and len(topic.sent) == 1
        assert counts.totals[names.METRIC_FINDING_IMPORT_FAILURES] == 1


def test_an_alert_that_was_not_sent_files_no_finding() -> None:
    hub = Hub()
    outcome = run(
        batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), hub=hub, topic=Topic(fail_on={"event-1"}), settings=WITH_HUB
    )
    assert outcome.failed_message_ids == ["message-0"]  # the retry files it, once it is alerted
    assert hub.imported == {}


def test_alerts_sent_from_the_chat_threshold_up_go_to_chat_as_custom_notifications() -> None:
    chat = Topic()
    critical, low = change("sg-0aaaaaaaaaaaaaaa1", "event-1"), change("sg-0bbbbbbbbbbbbbbb2", "event-2", REVOKE)
    assert run(batch(critical, low), chat=chat, settings=WITH_CHAT).failed_message_ids == []
    [sent] = chat.sent
    notification = json.loads(sent.message)
    assert notification["version"] == "1.0" and notification["source"] == "custom"
    assert notification["content"]["title"].startswith("CRITICAL") and sent.subject.startswith("CRITICAL")
    assert notification["id"] == "event-1"


def test_chat_that_cannot_be_reached_is_counted_and_the_alert_stands() -> None:
    counts, topic = Counts(), Topic()
    unreachable = Topic(fail_on={"event-1"})
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), chat=unreachable, topic=topic, counts=counts,
                  settings=WITH_CHAT)  # fmt: skip
    assert outcome.failed_message_ids == [] and len(topic.sent) == 1
    assert counts.totals[names.METRIC_CHAT_FAILURES] == 1


def test_a_defect_while_sending_one_alert_retries_it_at_once_and_the_others_go_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send = pipeline._Batch.send

    def broken_for_event_1(self: Any, records: Any) -> Any:
        if records[0].classified.event_id == "event-1":
            raise RuntimeError("a defect")
        return send(self, records)

    monkeypatch.setattr(pipeline._Batch, "send", broken_for_event_1)
    store, topic = Store(), Topic()
    outcome = run(batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1"), change("sg-0bbbbbbbbbbbbbbb2", "event-2")),
                  store=store, topic=topic)  # fmt: skip
    assert outcome.failed_message_ids == ["message-0"]
    assert store.states == {"event-2": "done"}  # event-1's claim released: the retry is not taken for a duplicate
    assert [sent.payload["results"][0]["eventID"] for sent in topic.sent] == ["event-2"]


def test_a_defect_in_the_copies_fails_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(pipeline, "security_hub_finding", broken)
    topic, chat = Topic(), Topic()
    settings = PipelineSettings(
        findings_min_severity=Severity.MEDIUM, findings_account=SSH_WORLD["recipientAccountId"],
        chat_min_severity=Severity.HIGH,
    )  # fmt: skip
    outcome = run(
        batch(change("sg-0aaaaaaaaaaaaaaa1", "event-1")), topic=topic, hub=Hub(), chat=chat, settings=settings
    )
    assert outcome.failed_message_ids == [] and len(topic.sent) == 1
    assert len(chat.sent) == 1  # the chat copy still goes out after the findings' defect
