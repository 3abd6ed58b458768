"""The guard: a rule beside the detection rule in the home region, in every forwarder region and member account,
always enabled, whose events reach the same function; the function knows sgwatch's own resources by name; a
CRITICAL tamper event raises an alarm on the operations topic as well."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template
from sgwatch.core import names
from sgwatch.core.tamper import guard_pattern

from infra.forwarder import FORWARDER_ID, forwarder_guard_rule_name
from infra.stack import SgwatchStack
from tests.infra.conftest import logical_id, resource, synth
from tests.infra.test_organization import ORG, _member_template
from tests.infra.test_regions import _stacks

Built = tuple[SgwatchStack, Template]


def test_the_guard_rule_sends_the_tamper_calls_to_the_buffer_even_when_detection_is_off() -> None:
    stack, template = synth(enabled="false")
    guard = resource(template, stack, "Detection", "GuardRule")["Properties"]
    assert guard["EventPattern"] == guard_pattern()
    assert guard["State"] == "ENABLED"
    assert resource(template, stack, "Detection", "Rule")["Properties"]["State"] == "DISABLED"
    [target] = guard["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(stack, "Detection", "Buffer"), "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": [logical_id(stack, "Detection", "UndeliveredEvents"), "Arn"]
    }


def _token(part: Any) -> str:
    """A piece of an Fn::Join: text as is, a Ref as {Id}, a GetAtt as {Id.Attribute}."""
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return "{" + str(part["Ref"]) + "}"
    return "{" + ".".join(part["Fn::GetAtt"]) + "}"


def _own_resources(template: Template, stack: SgwatchStack) -> dict[str, Any]:
    """The function's SGWATCH_OWN_RESOURCES, its tokens written {LogicalId} or {LogicalId.Attribute}."""
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    document: dict[str, Any] = json.loads(
        "".join(_token(part) for part in variables[names.ENV_OWN_RESOURCES]["Fn::Join"][1])
    )
    return document


def test_the_function_is_told_every_resource_of_sgwatch_by_name(default_stack: Built) -> None:
    stack, template = default_stack
    document = _own_resources(template, stack)
    assert document["stack"] == "sgwatch" and document["monitor"] == "all"
    rule, guard = logical_id(stack, "Detection", "Rule"), logical_id(stack, "Detection", "GuardRule")
    assert document["detectionRules"] == [f"{{{rule}}}", "sgwatch-forwarder"]
    assert document["guardRules"] == [f"{{{guard}}}", "sgwatch-forwarder-guard"]
    named = set(document["names"])
    for path in (("Detection", "Buffer"), ("Detection", "BufferDeadLetters"), ("Detection", "UndeliveredEvents")):
        assert f"{{{logical_id(stack, *path)}.QueueName}}" in named, path
    for path in (("Alerting", "Alerts"), ("Alerting", "Operations")):
        assert f"{{{logical_id(stack, *path)}.TopicName}}" in named, path
    assert f"{{{logical_id(stack, 'Alerting', 'Key')}}}" in named  # Ref of a key: its id, as KMS records name it
    assert "sgwatch" in named


def test_a_critical_tamper_event_raises_an_alarm_on_the_operations_topic(default_stack: Built) -> None:
    stack, template = default_stack
    alarm = resource(template, stack, "Monitoring", "Tampering")["Properties"]
    assert alarm["MetricName"] == names.METRIC_TAMPER_EVENTS
    assert {"Name": names.SEVERITY_DIMENSION, "Value": "CRITICAL"} in alarm["Dimensions"]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": logical_id(stack, "Alerting", "Operations")}]


def test_every_forwarder_region_forwards_the_tamper_calls_home_whatever_enabled_says() -> None:
    _, forwarders = _stacks(regions="us-east-1", homeRegion="eu-west-1", enabled="false")
    forwarder = forwarders[0]
    template = Template.from_stack(forwarder)
    guard = resource(template, forwarder, FORWARDER_ID, "GuardRule")["Properties"]
    assert guard["Name"] == forwarder_guard_rule_name("sgwatch")
    assert guard["EventPattern"] == guard_pattern() and guard["State"] == "ENABLED"
    rule = resource(template, forwarder, FORWARDER_ID, "Rule")["Properties"]
    assert guard["Targets"][0]["Arn"] == rule["Targets"][0]["Arn"]  # the home bus
    role = resource(template, forwarder, FORWARDER_ID, "Role")["Properties"]
    trusted = json.dumps(role["AssumeRolePolicyDocument"])
    assert "rule/sgwatch-forwarder-guard" in trusted


def test_the_organizations_members_and_bus_carry_the_guard_too() -> None:
    stack, template = synth(**ORG)
    forwarded = resource(template, stack, "Detection", "ForwardedGuardRule")["Properties"]
    assert forwarded["EventPattern"] == guard_pattern()
    assert forwarded["EventBusName"] == {"Ref": logical_id(stack, "Organization", "Bus")}
    member: dict[str, Any] = _member_template(stack, template)
    guards = [
        r["Properties"]
        for r in member["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("Name") == forwarder_guard_rule_name("sgwatch")
    ]
    assert len(guards) == 1 and guards[0]["EventPattern"] == guard_pattern()
