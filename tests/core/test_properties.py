"""Malformed and random records never make classification raise: it returns a result or a clear error."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sgwatch.core.classify import classify
from sgwatch.core.envelopes import unwrap
from sgwatch.core.events import monitored_event_names
from sgwatch.core.severity import Severity
from sgwatch.operator.sources import read_bytes

from tests.conftest import CONSTRUCTED, load, real_record_files

JSON_LEAVES = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
SAMPLES = [load(path) for path in real_record_files()] + [load(path) for path in sorted(CONSTRUCTED.glob("*.json"))]
RECORDS = [item.record for sample in SAMPLES for item in unwrap(sample, "") if isinstance(item.record, dict)]
INTERESTING_KEYS = [
    "requestParameters", "responseElements", "ipPermissions", "items", "ipRanges", "cidrIp", "fromPort", "toPort",
    "ipProtocol", "groupId", "groupName", "userIdentity", "errorCode", "groupSet", "ModifySecurityGroupRulesRequest",
    "SecurityGroupRule", "securityGroupRuleSet", "eventName", "arn",
]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(record: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    mutated = copy.deepcopy(record)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return mutated


def _assert_result(record: Any) -> None:
    result = classify(record, location="fuzz")
    if result.error:
        assert result.error.startswith("fuzz: ")
        assert result.record is None
    elif result.watched:
        assert result.severity > Severity.NONE
        assert result.reasons
        json.dumps(result.to_dict())  # the output is always serialisable
    else:
        assert result.severity is Severity.NONE


@given(JSON_VALUES)
def test_any_json_value_gives_a_result(value: Any) -> None:
    _assert_result(value)


@given(
    st.sampled_from(monitored_event_names()),
    st.dictionaries(st.sampled_from(INTERESTING_KEYS), JSON_VALUES, max_size=6),
)
def test_monitored_names_with_random_bodies_give_a_result(name: str, body: dict[str, Any]) -> None:
    _assert_result({"eventSource": "ec2.amazonaws.com", "eventName": name, **body})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_records_with_one_value_replaced_give_a_result(data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(RECORDS))
    path = data.draw(st.sampled_from(_paths(record)))
    new = data.draw(JSON_VALUES | st.sampled_from(["0.0.0.0/0", "::/0", "not-a-cidr", "-1", "65536", "99999", {}, []]))
    _assert_result(_replace(record, path, new))


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_any_bytes_read_as_input_give_items_not_exceptions(data: bytes) -> None:
    for item in read_bytes(data, "fuzz.bin"):
        if item.error:
            assert item.error.startswith("fuzz.bin")
        else:
            _assert_result(item.record)


def _split(network: ipaddress.IPv4Network | ipaddress.IPv6Network, cuts: list[bool], depth: int) -> list[str]:
    """The network cut in halves where `cuts` says, down to depth levels: a partition of it into CIDRs."""
    if depth == 0 or not cuts or not cuts.pop():
        return [str(network)]
    low, high = network.subnets(prefixlen_diff=1)
    return _split(low, cuts, depth - 1) + _split(high, cuts, depth - 1)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["0.0.0.0/0", "2000::/3"]),
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=12),
    st.sampled_from([("tcp", 22), ("tcp", 3389), ("-1", -1)]),
)
def test_no_split_of_the_world_rates_lower_than_the_world(
    world: str, cuts: list[bool], depth: int, service: tuple[str, int]
) -> None:
    """The internet opened in pieces, in one call, is the internet: splitting it into ranges never lowers the verdict
    below what the whole range gets."""
    record = copy.deepcopy(load(CONSTRUCTED / "authorize_ingress_split_world_ssh.json"))
    item = record["requestParameters"]["ipPermissions"]["items"][0]
    item["ipProtocol"], item["fromPort"], item["toPort"] = service[0], service[1], service[1]
    ranges = _split(ipaddress.ip_network(world), list(cuts), depth)
    key, peer = ("ipv6Ranges", "cidrIpv6") if ":" in world else ("ipRanges", "cidrIp")
    item["ipRanges"], item["ipv6Ranges"] = {}, {}
    item[key] = {"items": [{peer: cidr} for cidr in ranges]}
    whole = copy.deepcopy(record)
    whole["requestParameters"]["ipPermissions"]["items"][0][key] = {"items": [{peer: world}]}
    split_result, whole_result = classify(record), classify(whole)
    assert whole_result.severity is Severity.CRITICAL
    assert split_result.severity >= whole_result.severity, (ranges, split_result.reasons)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["0.0.0.0/0", "2000::/3"]),
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=12),
)
def test_no_split_of_the_world_added_to_a_prefix_list_rates_lower_than_the_world(
    world: str, cuts: list[bool], depth: int
) -> None:
    """The same for a prefix list: the internet added as many entries in one edit is the internet."""
    record = copy.deepcopy(load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json"))
    request = record["requestParameters"]["ModifyManagedPrefixListRequest"]
    ranges = _split(ipaddress.ip_network(world), list(cuts), depth)
    request["AddEntry"] = [{"cidr": cidr, "tag": str(index + 1)} for index, cidr in enumerate(ranges)]
    result = classify(record)
    assert [verdict.rule.id for verdict in result.verdicts] == ["prefix-list-world-entry"], (ranges, result.reasons)
