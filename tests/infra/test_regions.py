"""Every region of one account: a forwarder stack per other region, the same pattern, to the home region's bus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from sgwatch.core.events import event_pattern

from app import build_app, cdk_json_context
from infra.config import ConfigError
from infra.forwarder import FORWARDER_ID, ForwarderStack
from infra.regions import COMMERCIAL_REGIONS
from infra.stack import SgwatchStack
from tests.infra.conftest import cfn_lint, logical_id, resource

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def _stacks(**context: Any) -> tuple[SgwatchStack, list[ForwarderStack]]:
    app = build_app({**cdk_json_context(), **context})
    app.synth()  # cdk-nag on every stack: a finding raises
    home = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    return home, [child for child in app.node.children if isinstance(child, ForwarderStack)]


def test_a_forwarder_per_other_region_with_the_home_pattern() -> None:
    home, forwarders = _stacks(regions="us-east-1,eu-central-1,eu-west-1", homeRegion="eu-west-1")
    assert home.region == "eu-west-1"
    assert sorted(stack.region for stack in forwarders) == ["eu-central-1", "us-east-1"]  # never the home region
    for stack in forwarders:
        template = Template.from_stack(stack).to_json()
        rule = resource(Template.from_stack(stack), stack, FORWARDER_ID, "Rule")["Properties"]
        assert rule["EventPattern"] == event_pattern()
        [target] = rule["Targets"]
        bus = "".join(
            part if isinstance(part, str) else "{" + next(iter(part.values())) + "}"
            for part in target["Arn"]["Fn::Join"][1]
        )
        assert bus == "arn:{AWS::Partition}:events:eu-west-1:{AWS::AccountId}:event-bus/default"
        assert "DeadLetterConfig" in target and "RoleArn" in target
        forwarder_role = {"Ref": logical_id(stack, FORWARDER_ID, "Role")}
        [policy] = [
            r["Properties"]["PolicyDocument"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy" and r["Properties"]["Roles"] == [forwarder_role]
        ]
        assert [(s["Action"], s["Effect"]) for s in policy["Statement"]] == [("events:PutEvents", "Allow")]
        assert policy["Statement"][0]["Resource"] == target["Arn"]


def test_scope_and_enabled_reach_the_forwarders() -> None:
    _, forwarders = _stacks(regions="us-east-1", homeRegion="eu-west-1", monitor="ingress", enabled="false")
    rule = resource(Template.from_stack(forwarders[0]), forwarders[0], FORWARDER_ID, "Rule")["Properties"]
    assert rule["EventPattern"] == event_pattern("ingress")
    assert rule["State"] == "DISABLED"


def test_all_regions_comes_from_the_list_in_the_repository() -> None:
    from infra.config import load_config

    config = load_config({**cdk_json_context(), "regions": "all", "homeRegion": "eu-west-1"}.get)
    assert set(config.forwarded_regions) == set(COMMERCIAL_REGIONS) - {"eu-west-1"}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"regions": "us-east-1"}, "context homeRegion: required with regions"),
        ({"regions": "us-east-1,mars-1", "homeRegion": "eu-west-1"}, "context regions: 'mars-1' is not a region name"),
    ],
)
def test_bad_region_context_names_the_key(context: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_app({**cdk_json_context(), **context})


def test_a_forwarder_in_trouble_raises_an_alarm_that_reaches_the_home_operations_topic(tmp_path: Path) -> None:
    home, [forwarder] = _stacks(regions="us-east-1", homeRegion="eu-west-1")
    template = Template.from_stack(forwarder)
    alarms = {
        name: resource(template, forwarder, FORWARDER_ID, f"Alarm-{name}")["Properties"]
        for name in ("undelivered", "failed-invocations")
    }
    assert {name: alarm["AlarmName"] for name, alarm in alarms.items()} == {
        "undelivered": "sgwatch-forwarder-us-east-1-undelivered",
        "failed-invocations": "sgwatch-forwarder-us-east-1-failed-invocations",
    }
    assert alarms["undelivered"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == logical_id(
        forwarder, FORWARDER_ID, "UndeliveredEvents"
    )
    assert [
        query["MetricStat"]["Metric"]["Dimensions"]
        for query in alarms["failed-invocations"]["Metrics"]
        if "MetricStat" in query
    ] == [
        [{"Name": "RuleName", "Value": {"Ref": logical_id(forwarder, FORWARDER_ID, rule)}}]
        for rule in ("Rule", "GuardRule")
    ]
    alarm_rule = resource(template, forwarder, FORWARDER_ID, "AlarmRule")["Properties"]
    assert alarm_rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [
            *({"Fn::GetAtt": [logical_id(forwarder, FORWARDER_ID, f"Alarm-{name}"), "Arn"]} for name in alarms),
            {"Fn::GetAtt": [logical_id(forwarder, "Canary", "Errors"), "Arn"]},  # the region's heartbeat canary
        ],
    }
    assert (
        alarm_rule["Targets"][0]["Arn"]
        == resource(template, forwarder, FORWARDER_ID, "Rule")["Properties"]["Targets"][0]["Arn"]
    )
    assert cfn_lint(template, tmp_path) == ""

    home_template = Template.from_stack(home)
    home_rule = resource(home_template, home, "ForwarderAlarms", "Rule")["Properties"]
    assert home_rule["EventPattern"]["detail"] == {
        "alarmName": [{"prefix": "sgwatch-forwarder-"}],
        "state": {"value": ["ALARM"]},
    }
    [target] = home_rule["Targets"]
    assert target["Arn"] == {"Ref": logical_id(home, "Alerting", "Operations")}
    key_policy = resource(home_template, home, "Alerting", "Key")["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        "events.amazonaws.com" in s["Principal"].get("Service", []) and "kms:GenerateDataKey*" in s["Action"]
        for s in key_policy
    )  # EventBridge can publish to the encrypted topic


def test_a_single_region_deployment_has_no_forwarder_alarm_rule() -> None:
    home, forwarders = _stacks()
    assert forwarders == []
    assert home.node.try_find_child("ForwarderAlarms") is None


def test_the_opt_in_recorder_goes_to_every_watched_region(tmp_path: Path) -> None:
    home, [forwarder] = _stacks(regions="us-east-1", homeRegion="eu-west-1", recordSecurityGroups="true")
    for stack in (home, forwarder):
        template = Template.from_stack(stack)
        recorder = resource(template, stack, "SecurityGroupRecorder", "Recorder")["Properties"]
        assert recorder["RecordingGroup"]["ResourceTypes"] == ["AWS::EC2::SecurityGroup"]
        channel = resource(template, stack, "SecurityGroupRecorder", "DeliveryChannel")["Properties"]
        assert channel["S3BucketName"] == {"Ref": logical_id(stack, "ComplianceLogs", "Bucket")}
    assert cfn_lint(Template.from_stack(forwarder), tmp_path) == ""
    _, [plain] = _stacks(regions="us-east-1", homeRegion="eu-west-1")
    assert plain.node.try_find_child("SecurityGroupRecorder") is None


def _joined(value: Any) -> str:
    return "".join(
        part if isinstance(part, str) else "{" + str(next(iter(part.values()))) + "}" for part in value["Fn::Join"][1]
    )


def test_a_forwarder_role_trusts_only_its_own_rules_in_its_own_account() -> None:
    _, [forwarder] = _stacks(regions="us-east-1", homeRegion="eu-west-1")
    template = Template.from_stack(forwarder)
    rules = {
        name: resource(template, forwarder, FORWARDER_ID, name)["Properties"]
        for name in ("Rule", "GuardRule", "AlarmRule")
    }
    assert {name: rule["Name"] for name, rule in rules.items()} == {
        "Rule": "sgwatch-forwarder",
        "GuardRule": "sgwatch-forwarder-guard",
        "AlarmRule": "sgwatch-forwarder-alarms",
    }
    [trust] = resource(template, forwarder, FORWARDER_ID, "Role")["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert [_joined(arn) for arn in trust["Condition"]["ArnEquals"]["aws:SourceArn"]] == [
        f"arn:aws:events:us-east-1:{{AWS::AccountId}}:rule/{rule['Name']}" for rule in rules.values()
    ]  # every rule whose target uses the role, and no other
    assert {target["RoleArn"]["Fn::GetAtt"][0] for rule in rules.values() for target in rule["Targets"]} == {
        logical_id(forwarder, FORWARDER_ID, "Role")
    }


def test_in_organization_mode_the_central_forwarders_send_to_the_organizations_bus() -> None:
    home, [forwarder] = _stacks(
        organizationId="o-abc123defg", organizationUnits="ou-ab12-cdefgh34", homeRegion="eu-west-1",
        regions="us-east-1", centralForwarders="true",
    )  # fmt: skip
    [target] = resource(Template.from_stack(forwarder), forwarder, FORWARDER_ID, "Rule")["Properties"]["Targets"]
    assert _joined(target["Arn"]) == "arn:{AWS::Partition}:events:eu-west-1:{AWS::AccountId}:event-bus/sgwatch"
    home_template = Template.from_stack(home)
    assert resource(home_template, home, "Organization", "Bus")["Properties"]["Name"] == "sgwatch"
    _, [regional] = _stacks(regions="us-east-1", homeRegion="eu-west-1")
    [target] = resource(Template.from_stack(regional), regional, FORWARDER_ID, "Rule")["Properties"]["Targets"]
    assert _joined(target["Arn"]).endswith(":event-bus/default")  # one account: its default bus, no bus policy
