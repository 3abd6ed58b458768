"""The heartbeat as the function tells it: the canary role's description update on the canary rule is counted, never
alerted; anything else, even by that role, is judged as a change (tests/fixtures/constructed/README.md)."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sgwatch.core.classify import DEFAULT_SETTINGS, classify
from sgwatch.core.heartbeat import (
    CANARY_PEER,
    alarm_period_minutes,
    canary_permission,
    canary_role_name,
)
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import OwnResources

from tests.conftest import CONSTRUCTED, load

HEARTBEAT = CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json"


def heartbeat() -> Any:
    return copy.deepcopy(load(HEARTBEAT))


def test_the_canarys_call_is_a_heartbeat_not_a_change() -> None:
    result = classify(heartbeat())
    assert result.heartbeat and not result.watched
    assert result.severity is Severity.NONE and not result.verdicts
    assert result.region == "eu-west-1"


def _permission(record: Any) -> Any:
    return record["requestParameters"]["ipPermissions"]["items"][0]


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: r.update(errorCode="Client.UnauthorizedOperation"),
        lambda r: r["userIdentity"]["sessionContext"]["sessionIssuer"].update(
            arn="arn:aws:iam::111122223333:role/PlatformAdmin"
        ),
        lambda r: _permission(r)["ipRanges"]["items"][0].update(description="office VPN"),
        lambda r: _permission(r)["ipRanges"]["items"][0].update(cidrIp="0.0.0.0/0"),
        lambda r: _permission(r).update(fromPort=22, toPort=22),
        lambda r: r.update(eventName="AuthorizeSecurityGroupEgress"),
    ],
    ids=["failed", "another role", "another description", "another peer", "another port", "another call"],
)
def test_anything_else_is_judged_as_a_change(forge: Any) -> None:
    record = heartbeat()
    forge(record)
    result = classify(record)
    assert not result.heartbeat and result.watched and result.verdicts


def test_another_stacks_canary_is_not_this_stacks_heartbeat() -> None:
    other = replace(DEFAULT_SETTINGS, own=OwnResources(stack_name="monitor"))
    assert not classify(heartbeat(), settings=other).heartbeat


def test_the_canary_writes_what_the_function_recognises() -> None:
    permission = canary_permission(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    assert permission["IpRanges"] == [{"CidrIp": CANARY_PEER, "Description": "sgwatch heartbeat 2026-11-20T09:30:00Z"}]
    assert _permission(heartbeat())["ipRanges"]["items"][0]["description"] == permission["IpRanges"][0]["Description"]
    assert canary_role_name("sgwatch", "eu-west-1") == "sgwatch-canary-eu-west-1"


def test_the_alarm_waits_two_intervals_and_the_delivery_allowance() -> None:
    assert alarm_period_minutes(30) == 75
