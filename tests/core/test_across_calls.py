"""Ranges split across the calls of one batch are judged by their union: four calls that each open a quarter of the
internet to SSH on one group are the internet opened, CRITICAL, each saying which calls went with it."""

from __future__ import annotations

import copy
from typing import Any

from sgwatch.core.classify import ACROSS_CALLS, Classification, classify, judged_across
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, load

SPLIT = load(CONSTRUCTED / "authorize_ingress_split_world_ssh.json")  # 22/tcp to the four /2s of IPv4, one call
QUARTERS = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]


def one_range(cidr: str, group: str = "sg-0aaa1111bbbb2222c", port: int = 22, **top: Any) -> dict[str, Any]:
    """The split record, cut down to one range: one call per quarter."""
    record: dict[str, Any] = copy.deepcopy(SPLIT)
    record["eventID"] = f"split-{cidr}-{group}-{port}"
    record["requestParameters"]["groupId"] = group
    permission = record["requestParameters"]["ipPermissions"]["items"][0]
    permission["fromPort"] = permission["toPort"] = port
    permission["ipRanges"] = {"items": [{"cidrIp": cidr}]}
    record.update(top)
    return record


def severities(results: list[Classification]) -> list[Severity]:
    return [result.severity for result in results]


def test_the_quarters_of_the_internet_in_four_calls_are_the_internet() -> None:
    alone = [classify(one_range(cidr)) for cidr in QUARTERS]
    assert severities(alone) == [Severity.HIGH] * 4  # each is a broad range on a sensitive port
    joined = judged_across(alone)
    assert severities(joined) == [Severity.CRITICAL] * 4
    [reason] = joined[1].reasons
    assert reason.startswith(
        f"SSH (22/tcp) opened to half of the internet or more (64.0.0.0/2, with 0.0.0.0/2, 128.0.0.0/2, 192.0.0.0/2,"
        f" {ACROSS_CALLS})"
    )


def test_only_the_same_group_ports_and_direction_go_together() -> None:
    mixed = [
        classify(one_range(QUARTERS[0])),
        classify(one_range(QUARTERS[1], group="sg-0ddd4444eeee5555f")),
        classify(one_range(QUARTERS[2], port=3389)),
        classify(one_range(QUARTERS[3], errorCode="Client.InvalidPermission.Duplicate")),  # failed: opened nothing
    ]
    assert judged_across(mixed) == mixed


def test_a_range_beside_one_already_as_open_by_itself_stays_what_it_is() -> None:
    """The split call is the world by itself (its four ranges judged together); a /24 added by another call is
    a /24, not a second world."""
    results = [classify(SPLIT), classify(one_range("203.0.113.0/24"))]
    assert severities(results) == [Severity.CRITICAL, Severity.LOW]
    joined = judged_across(results)
    assert all(after is before for after, before in zip(joined, results, strict=True))


def test_groups_known_only_by_name_are_not_joined() -> None:
    by_name = []
    for cidr, name in zip(QUARTERS, ["web", "db", "cache", "queue"], strict=True):
        record = one_range(cidr)
        del record["requestParameters"]["groupId"]
        record["requestParameters"]["groupName"] = name
        by_name.append(classify(record))
    assert judged_across(by_name) == by_name


def test_a_range_revoked_later_in_the_batch_is_not_part_of_the_union() -> None:
    halves = [classify(one_range(cidr)) for cidr in QUARTERS[:2]]  # two quarters: half of the internet together
    assert severities(judged_across(halves)) == [Severity.CRITICAL] * 2
    revoke = classify(one_range(QUARTERS[1], eventName="RevokeSecurityGroupIngress"))
    assert severities(judged_across([*halves, revoke])[:2]) == [Severity.HIGH] * 2


def test_rewrites_are_not_pieces_of_a_union() -> None:
    rewrite = load(CONSTRUCTED / "modify_security_group_rules_list_two_rules.json")
    results = [classify(rewrite), classify(rewrite)]
    assert judged_across(results) == results
