"""New or moved hosts behind groups: launches, new interfaces and endpoints are watched when the record names groups
(in the request or, for a launch from a template, in the response), rated LOW, and HIGH once EC2 says a group is open
to the world; everything else about these calls is not sgwatch's business."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sgwatch.core.classify import classify
from sgwatch.core.enrich import GroupFacts, apply_facts
from sgwatch.core.events import MONITORED_EVENTS, event_pattern
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import guard_pattern

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load

CONSOLE_LAUNCH = REAL_RECORDS / "panther-analysis/vulnxzimage__runinstances_console_networkinterfaceset.json"
TEMPLATE_LAUNCH = CONSTRUCTED / "run_instances_launch_template_groups_in_response.json"
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
WEB_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_a_console_launch_names_its_instance_and_the_groups_of_its_interface() -> None:
    result = classify(load(CONSOLE_LAUNCH))
    assert result.record is not None and result.group_ids == ["sg-00000000000000000"]
    assert result.record.target == "i-00000000000000000"
    [reason] = result.reasons
    assert (
        reason
        == "Instance i-00000000000000000 launched behind sg-00000000000000000 by assumed-role/ARole/user.name via console"
    )


def test_a_launch_from_a_template_is_judged_by_the_groups_in_the_response() -> None:
    record = load(TEMPLATE_LAUNCH)
    assert "groupSet" not in record["requestParameters"]
    result = classify(record)
    assert result.group_ids == ["sg-0aaa1111bbbb2222c"]
    assert result.reasons[0].startswith("Instances i-0aaa1111bbbb2222c, i-0ddd4444eeee5555f launched behind")


@pytest.mark.parametrize(
    ("exposure", "expected"),
    [((SSH_WORLD,), Severity.HIGH), ((WEB_WORLD,), Severity.LOW), ((), Severity.LOW)],
    ids=["ssh to the world", "web to the world", "no inbound rule"],
)
def test_a_launch_behind_a_group_open_to_the_world_on_a_non_web_port_is_high(
    exposure: tuple[dict[str, object], ...], expected: Severity
) -> None:
    result = classify(load(TEMPLATE_LAUNCH))
    facts = {"sg-0aaa1111bbbb2222c": GroupFacts("sg-0aaa1111bbbb2222c", "bastion", ingress_permissions=exposure)}
    rated = apply_facts(result, facts)
    assert rated.severity is expected
    if expected is Severity.HIGH:
        assert rated.verdicts[-1].rule.id == "open-group-attached"
        assert rated.verdicts[-1].summary.startswith(
            "sg-0aaa1111bbbb2222c, which has SSH (22/tcp) opened to the whole internet (0.0.0.0/0), now guards"
            " i-0aaa1111bbbb2222c, i-0ddd4444eeee5555f"
        )


def test_a_launch_of_thousands_names_a_few_and_counts_the_rest() -> None:
    record = copy.deepcopy(load(TEMPLATE_LAUNCH))
    [first, _] = record["responseElements"]["instancesSet"]["items"]
    record["responseElements"]["instancesSet"]["items"] = [
        {**first, "instanceId": f"i-{index:017x}"} for index in range(5000)
    ]
    result = classify(record)
    assert result.record is not None and result.record.target.endswith(", i-00000000000000004 and 4995 more")
    assert result.group_ids == ["sg-0aaa1111bbbb2222c"]


def test_a_denied_launch_is_a_failed_call_but_a_denied_group_change_stays_a_signal() -> None:
    launch = classify(load(CONSTRUCTED / "run_instances_denied_groupset.json"))
    assert [verdict.rule.id for verdict in launch.verdicts] == ["failed-call"]
    attach = copy.deepcopy(load(CONSTRUCTED / "modify_instance_attribute_groupset.json"))
    attach.update(errorCode="Client.UnauthorizedOperation", errorMessage="You are not authorized")
    assert [verdict.rule.id for verdict in classify(attach).verdicts] == ["denied-attempt"]


@pytest.mark.parametrize(
    "name",
    [
        "modify_vpc_endpoint_policy_only.json",
        "run_instances_launch_template_groups_in_response.json",
        "create_launch_template_version_no_groups.json",
        "create_vpc_endpoint_gateway_no_groups.json",
    ],
)
def test_the_calls_are_none_of_sgwatchs_business_without_groups(name: str) -> None:
    record = copy.deepcopy(load(CONSTRUCTED / name))
    record["responseElements"] = None  # a launch whose response names no group either
    result = classify(record)
    assert result.record is None and result.severity is Severity.NONE and not result.error


def test_every_place_a_call_names_groups_is_a_branch_of_the_one_pattern() -> None:
    pattern = event_pattern()
    branches = pattern["detail"]["$or"]
    for event in (event for event in MONITORED_EVENTS if event.pattern_checks_groups):
        for path in event.groups_at:
            leaf: Any = [{"exists": True}]
            for step in reversed(path.split(".")):
                leaf = {step: leaf}
            assert any(event.name in branch["eventName"] and leaf.items() <= branch.items() for branch in branches), (
                path
            )
    always = branches[0]["eventName"]
    by_name = {event.name for event in MONITORED_EVENTS if not event.groups_at or not event.pattern_checks_groups}
    assert by_name == set(always)


def test_a_launch_template_names_the_groups_its_instances_get() -> None:
    created = classify(load(CONSTRUCTED / "create_launch_template_security_groups.json"))
    assert created.group_ids == ["sg-0aaa1111bbbb2222c", "sg-0ddd4444eeee5555f"]
    assert created.reasons[0].startswith("Launch template workers-staging created: instances launched from it will be")
    version = classify(load(CONSTRUCTED / "create_launch_template_version_interface_groups.json"))
    assert version.group_ids == ["sg-0aaa1111bbbb2222c"] and version.record is not None
    assert version.record.target == "lt-0abc1234def567890"


def test_the_patterns_fit_eventbridges_default_size() -> None:
    """EventBridge takes an event pattern of up to 2,048 characters unless the quota is raised (Amazon EventBridge
    quotas, "Event pattern size"): the detection and guard patterns stay within it."""
    for pattern in (event_pattern(), event_pattern("ingress"), guard_pattern()):
        assert len(json.dumps(pattern, separators=(",", ":"))) <= 2048
