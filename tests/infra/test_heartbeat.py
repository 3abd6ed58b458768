"""The heartbeat as deployed: a canary in the home region and each forwarder region whose role may only rewrite its
own group's rule description, in a VPC without subnets; a schedule; an alarm per region that treats missing data as
breaching; the canary's own errors alarmed, from forwarder regions by the forwarder's alarm rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from sgwatch.core import names
from sgwatch.core.heartbeat import CANARY_PEER, CANARY_PORT

from infra.config import ConfigError
from infra.forwarder import FORWARDER_ID
from infra.heartbeat import CANARY_SOURCE
from infra.stack import SgwatchStack
from tests.infra.conftest import dashboard_body, logical_id, resource, synth
from tests.infra.test_organization import ORG, _member_template
from tests.infra.test_regions import _stacks

Built = tuple[SgwatchStack, Template]


def test_the_canary_can_change_one_description_and_nothing_else(default_stack: Built) -> None:
    stack, template = default_stack
    group = resource(template, stack, "Canary", "Group")["Properties"]
    assert group["SecurityGroupEgress"] == [
        {"IpProtocol": "tcp", "FromPort": CANARY_PORT, "ToPort": CANARY_PORT, "CidrIp": CANARY_PEER,
         "Description": "sgwatch heartbeat"}
    ]  # fmt: skip
    assert "SecurityGroupIngress" not in group
    assert group["VpcId"] == {"Ref": logical_id(stack, "Canary", "Vpc")}
    assert not template.find_resources("AWS::EC2::Subnet")  # nothing can run in the canary's VPC
    role = resource(template, stack, "Canary", "Role")["Properties"]
    assert role["RoleName"] == {"Fn::Join": ["", ["sgwatch-canary-", {"Ref": "AWS::Region"}]]}
    [policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in template.find_resources("AWS::IAM::Policy").values()
        if r["Properties"]["Roles"] == [{"Ref": logical_id(stack, "Canary", "Role")}]
    ]
    ec2 = [statement for statement in policy if "ec2" in json.dumps(statement["Action"])]
    assert [statement["Action"] for statement in ec2] == ["ec2:UpdateSecurityGroupRuleDescriptionsEgress"]
    assert "GroupId" in json.dumps(ec2[0]["Resource"])  # the canary group's ARN only


def test_the_canary_runs_on_schedule_with_its_group(default_stack: Built) -> None:
    stack, template = default_stack
    function = resource(template, stack, "Canary", "Function")["Properties"]
    assert function["Handler"] == "index.handler"
    assert function["Code"]["ZipFile"] == CANARY_SOURCE.read_text(encoding="utf-8")  # inline: no asset to fetch
    assert function["Environment"]["Variables"][names.ENV_CANARY_GROUP] == {
        "Fn::GetAtt": [logical_id(stack, "Canary", "Group"), "GroupId"]
    }
    schedule = resource(template, stack, "Canary", "Schedule")["Properties"]
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"
    assert schedule["Targets"][0]["Arn"] == {"Fn::GetAtt": [logical_id(stack, "Canary", "Function"), "Arn"]}
    errors = resource(template, stack, "Canary", "Errors")["Properties"]
    assert errors["AlarmActions"] == [{"Ref": logical_id(stack, "Alerting", "Operations")}]


def _heartbeat_alarms(template: Template) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == names.METRIC_HEARTBEATS
    ]


def test_a_silent_region_raises_an_alarm_missing_data_included() -> None:
    stack, template = synth(regions="us-east-1,eu-central-1", homeRegion="eu-west-1", heartbeatMinutes=20)
    alarms = _heartbeat_alarms(template)
    regions = [next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == names.REGION_DIMENSION) for alarm in alarms]
    assert sorted(regions) == ["eu-central-1", "eu-west-1", "us-east-1"]
    for alarm in alarms:
        assert alarm["Period"] == (2 * 20 + 15) * 60  # two intervals and the delivery allowance
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 1, "LessThanThreshold")
        assert alarm["TreatMissingData"] == "breaching"
        assert alarm["AlarmActions"] == [{"Ref": logical_id(stack, "Alerting", "Operations")}]


def test_every_forwarder_region_has_a_canary_whose_errors_go_home() -> None:
    _, [forwarder] = _stacks(regions="us-east-1", homeRegion="eu-west-1")
    template = Template.from_stack(forwarder)
    errors = resource(template, forwarder, "Canary", "Errors")["Properties"]
    assert errors["AlarmName"] == "sgwatch-forwarder-us-east-1-canary-errors"  # the home rule's prefix
    alarm_rule = resource(template, forwarder, FORWARDER_ID, "AlarmRule")["Properties"]
    assert {"Fn::GetAtt": [logical_id(forwarder, "Canary", "Errors"), "Arn"]} in alarm_rule["EventPattern"]["resources"]
    role = resource(template, forwarder, "Canary", "Role")["Properties"]
    assert role["RoleName"] == "sgwatch-canary-us-east-1"


def test_no_heartbeat_when_asked() -> None:
    _, template = synth(heartbeatMinutes=0)
    assert not template.find_resources("AWS::EC2::VPC")
    assert not _heartbeat_alarms(template)


@pytest.mark.parametrize("minutes", [3, 361, -1])
def test_an_interval_cloudwatch_cannot_alarm_on_is_refused(minutes: int) -> None:
    with pytest.raises(ConfigError, match="heartbeatMinutes"):
        synth(heartbeatMinutes=minutes)


def test_in_an_organization_each_member_region_has_a_canary_and_the_watchdog_counts_the_silent_ones() -> None:
    stack, template = synth(**ORG)
    member = _member_template(stack, template)["Resources"]
    canaries = {logical: r for logical, r in member.items() if logical.startswith("Canary")}
    assert {r["Condition"] for r in canaries.values()} == {"NotCentralBus"}  # the central region has its own
    [role] = [r["Properties"] for r in canaries.values() if r["Type"] == "AWS::IAM::Role"]
    assert role["RoleName"] == {"Fn::Join": ["", ["sgwatch-canary-", {"Ref": "AWS::Region"}]]}
    [function] = [r["Properties"] for r in canaries.values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Code"]["ZipFile"] == CANARY_SOURCE.read_text(encoding="utf-8")  # members cannot fetch assets

    watchdog = resource(template, stack, "Organization", "Watchdog", "Function")["Properties"]
    assert watchdog["Handler"] == "sgwatch.runtime.watchdog.handler"
    variables = watchdog["Environment"]["Variables"]
    assert variables[names.ENV_WATCHDOG_STACK_SET] == "sgwatch-members"
    assert variables[names.ENV_WATCHDOG_CALL_AS] == "DELEGATED_ADMIN"
    assert variables[names.ENV_WATCHDOG_WINDOW_MINUTES] == "75"
    alarm = resource(template, stack, "Organization", "Watchdog", "Missing")["Properties"]
    assert alarm["MetricName"] == names.METRIC_HEARTBEATS_MISSING
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Maximum", 75 * 60, 1)
    assert alarm["TreatMissingData"] == "breaching"  # a watchdog that stopped is a silence too
    assert alarm["AlarmActions"] == [{"Ref": logical_id(stack, "Alerting", "Operations")}]
    shown = json.dumps(dashboard_body(template))
    assert all(metric in shown for metric in names.ORGANIZATION_METRICS)
