"""Tamper calls through the deployed path under moto: EventBridge's guard rule (real pattern matching, moto's) ->
the buffer -> the function -> the alert topic, as the stack wires them (emulation.account). Stopping the trail,
disabling sgwatch's rule and zeroing its function's concurrency each arrive as the stated alert; another team's
rule does not; every fixture record that is a tamper call matches the guard pattern."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sgwatch.core.classify import classify
from sgwatch.emulation.account import run_pipeline

from tests.conftest import FIXTURES

TAMPER = FIXTURES / "tamper"
#: sgwatch's resources as the fixtures name them (tests/fixtures/tamper/README.md), as the stack tells the function.
OWN = {
    "stack": "sgwatch",
    "detectionRules": ["sgwatch-DetectionRule5A1B2C3D-1Q2W3E4R5T6Y"],
    "guardRules": ["sgwatch-GuardRule9F8E7D6C-7U8I9O0P1A2S"],
    "names": ["sgwatch-BufferQueue7A8B9C0D-AbCdEfGhIjKl", "1234abcd-12ab-34cd-56ef-1234567890ab"],
    "function": "sgwatch-ProcessorFunction3C4D5E6F-Z9Y8X7W6V5U4",
}


def records(*names: str) -> list[dict[str, Any]]:
    return [json.loads((TAMPER / name).read_text()) for name in names]


@pytest.fixture(scope="module")
def replayed() -> Any:
    own = {**OWN, "names": [*OWN["names"], OWN["function"]]}
    return run_pipeline(
        records(
            "cloudtrail__stop_logging.json",
            "events__disable_rule__sgwatch.json",
            "lambda__put_function_concurrency__sgwatch_zero.json",
            "events__disable_rule__other.json",
        ),
        own_resources=own,
    )


def alert_for(result: Any, event_name: str) -> dict[str, Any]:
    alert: dict[str, Any]
    [alert] = [a for a in result.alerts if json.loads(a["Message"])["results"][0]["eventName"] == event_name]
    return alert


def test_every_call_reaches_the_function_through_the_guard_rule(replayed: Any) -> None:
    assert replayed.delivered == replayed.replayed == 4
    assert replayed.failed_messages == 0


@pytest.mark.parametrize(
    ("event_name", "subject", "undo"),
    [
        (
            "StopLogging",
            "CRITICAL: StopLogging on CloudTrail trail org-trail",
            "Undo: aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail",
        ),
        (
            "DisableRule",
            "CRITICAL: DisableRule on EventBridge rule sgwatch-DetectionRule5A1B2C3D-1Q2W3E4R5T6Y",
            "Undo: aws events enable-rule --name sgwatch-DetectionRule5A1B2C3D-1Q2W3E4R5T6Y",
        ),
        (
            "PutFunctionConcurrency20171031",
            "CRITICAL: PutFunctionConcurrency on Lambda function sgwatch-ProcessorFunction3C4D5E6F-Z9Y8X7W6V5U4",
            "Undo: aws lambda delete-function-concurrency --function-name",
        ),
    ],
)
def test_each_blinding_arrives_as_its_alert(replayed: Any, event_name: str, subject: str, undo: str) -> None:
    alert = alert_for(replayed, event_name)
    assert alert["Subject"] == subject
    assert undo in replayed.emails[alert["MessageId"]].text
    assert alert["MessageId"] in replayed.emailed  # CRITICAL passes the email subscription's filter


def test_another_teams_rule_is_delivered_but_not_alerted(replayed: Any) -> None:
    assert len(replayed.alerts) == 3
    assert not any("billing-nightly-export" in alert["Message"] for alert in replayed.alerts)
    assert not any("billing-nightly-export" in email.text for email in replayed.emails.values())


def test_the_metrics_count_tampering_apart_from_security_group_changes(replayed: Any) -> None:
    assert sum(value for _, value in replayed.metrics["TamperEvents"]) == 3
    assert "SecurityGroupChanges" not in replayed.metrics


def test_every_tamper_fixture_matches_the_guard_rule_in_moto() -> None:
    every = records(*sorted(path.name for path in TAMPER.glob("*.json")))
    result = run_pipeline(every, own_resources={**OWN, "names": [*OWN["names"], OWN["function"]]})
    assert result.delivered == len(every)
    judged = [classify(record) for record in every]
    assert all(r.tamper is not None or not r.watched for r in judged)
