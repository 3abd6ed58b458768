"""Organization mode: the central bus admits only the organization; a StackSet puts forwarders and a read-only role
in every member account and region."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from sgwatch.events import event_pattern

from app import build_app, cdk_json_context
from infra.config import ConfigError
from infra.forwarder import ForwarderStack
from infra.organization import ENRICHMENT_ACTIONS, ENRICHMENT_ROLE_NAME
from tests.infra.conftest import cfn_lint, deployed_member_template, logical_id, resource, synth

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
ORG = {
    "organizationId": "o-abc123defg",
    "organizationUnits": "r-ab12",
    "homeRegion": "eu-west-1",
    "regions": "us-east-1,eu-central-1",
}


@pytest.fixture(scope="module")
def central() -> Any:
    return synth(**ORG)  # cdk-nag runs on the synth


def _member_template(stack: Any, template: Any) -> dict[str, Any]:
    body = resource(template, stack, "Organization", "Members")["Properties"]["TemplateBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    # Tokens (the central account, the function role) become markers inside the JSON strings.
    text = "".join(
        part
        if isinstance(part, str)
        else f"<{next(iter(part))}:{json.dumps(next(iter(part.values())))}>".replace('"', "'")
        for part in parts
    )
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_the_central_bus_admits_only_the_organization(central: Any) -> None:
    stack, template = central
    policy = resource(template, stack, "Organization", "BusPolicy")["Properties"]
    assert policy["EventBusName"] == "default"
    assert policy["Statement"]["Action"] == "events:PutEvents"
    assert policy["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc123defg"}}


def test_the_stackset_is_service_managed_and_follows_new_accounts(central: Any) -> None:
    stack, template = central
    stack_set = resource(template, stack, "Organization", "Members")["Properties"]
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {"OrganizationalUnitIds": ["r-ab12"]},
            "Regions": ["eu-west-1", "us-east-1", "eu-central-1"],
        }
    ]


def test_the_member_forwarder_uses_the_home_pattern_and_never_loops(central: Any) -> None:
    stack, template = central
    member = _member_template(stack, template)
    forwarder = member["Resources"]["Forwarder"]
    assert forwarder["Properties"]["EventPattern"] == event_pattern()
    assert forwarder["Condition"] == "NotCentralBus"
    [target] = forwarder["Properties"]["Targets"]
    assert ":event-bus/default" in json.dumps(target["Arn"])
    assert member["Conditions"]["CentralBus"]["Fn::And"][1] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}


def test_the_member_role_is_read_only_and_trusts_only_the_central_function(central: Any) -> None:
    stack, template = central
    role = _member_template(stack, template)["Resources"]["EnrichmentRole"]["Properties"]
    assert role["RoleName"] == ENRICHMENT_ROLE_NAME
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ENRICHMENT_ACTIONS
    assert ENRICHMENT_ACTIONS == [
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeNetworkInterfaces",
    ]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert logical_id(stack, "Processor", "Role") in json.dumps(trust["Principal"])


def test_the_central_function_may_assume_the_member_role_only_in_the_organization(central: Any) -> None:
    stack, template = central
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "sts:AssumeRole"
    ]
    [assume] = statements
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-abc123defg"}}
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert function["Environment"]["Variables"]["SGWATCH_ENRICHMENT_ROLE"] == ENRICHMENT_ROLE_NAME


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({**ORG, "organizationUnits": ""}, "context organizationUnits: organization mode needs the OUs"),
        ({**ORG, "organizationId": "acme"}, "context organizationId: 'acme' is not an organization id"),
        ({**ORG, "organizationUnits": "sales"}, "context organizationUnits: 'sales' is not an OU id"),
    ],
)
def test_bad_organization_context_names_the_key(context: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        synth(**context)


def test_the_member_audit_role_is_read_only_and_trusts_the_central_account(central: Any) -> None:
    from sgwatch.audit import PERMISSIONS

    stack, template = central
    role = _member_template(stack, template)["Resources"]["AuditRole"]
    assert role["Condition"] == "EnrichmentRegion"
    [statement] = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == list(PERMISSIONS)
    assert all(action.split(":")[1].startswith(("Describe", "Get", "List")) for action in PERMISSIONS)
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert ":root" in json.dumps(trust["Principal"])


def test_member_forwarder_alarms_reach_the_central_operations_topic(central: Any, tmp_path: Any) -> None:
    stack, template = central
    member = _member_template(stack, template)
    resources = member["Resources"]
    alarms = {"AlarmUndelivered": "undelivered"}  # one: it is paid for in every member account and region
    for logical, alarm in alarms.items():
        assert resources[logical]["Condition"] == "NotCentralBus"
        assert resources[logical]["Properties"]["AlarmName"] == {
            "Fn::Sub": f"sgwatch-forwarder-${{AWS::Region}}-{alarm}"
        }
    assert resources["AlarmUndelivered"]["Properties"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["UndeliveredEvents", "QueueName"]
    }
    assert sorted(r for r, declared in resources.items() if declared["Type"] == "AWS::CloudWatch::Alarm") == list(
        alarms
    )
    forwarder = resources["AlarmForwarder"]
    assert forwarder["Condition"] == "NotCentralBus"
    assert forwarder["Properties"]["EventPattern"]["resources"] == [
        {"Fn::GetAtt": [logical, "Arn"]} for logical in alarms
    ]
    assert forwarder["Properties"]["Targets"][0]["Arn"] == resources["Forwarder"]["Properties"]["Targets"][0]["Arn"]
    central_rule = resource(template, stack, "ForwarderAlarms", "Rule")["Properties"]
    assert central_rule["EventPattern"]["detail"]["alarmName"] == [{"prefix": "sgwatch-forwarder-"}]
    body = resource(template, stack, "Organization", "Members")["Properties"]["TemplateBody"]
    deployed = deployed_member_template(body, account="123456789012", function_role="arn:aws:iam::123456789012:role/f")
    assert cfn_lint(json.loads(deployed), tmp_path) == ""


def test_member_alarms_can_be_left_out() -> None:
    stack, template = synth(**ORG, memberAlarms="false")
    member = _member_template(stack, template)
    assert not any(declared["Type"] == "AWS::CloudWatch::Alarm" for declared in member["Resources"].values())
    assert "AlarmForwarder" not in member["Resources"]
    assert stack.node.try_find_child("ForwarderAlarms") is None


def test_the_central_accounts_other_regions_get_forwarder_stacks_only_when_asked() -> None:
    def forwarder_regions(**context: Any) -> list[str]:
        app = build_app({**cdk_json_context(), **ORG, **context})
        app.synth()  # cdk-nag
        return sorted(child.region for child in app.node.children if isinstance(child, ForwarderStack))

    assert forwarder_regions() == []  # the StackSet covers the central account when it sits in one of the OUs
    assert forwarder_regions(centralForwarders="true", memberAlarms="false") == ["eu-central-1", "us-east-1"]
    stack, _ = synth(**ORG, centralForwarders="true", memberAlarms="false")
    assert stack.node.try_find_child("ForwarderAlarms") is not None  # the central forwarders' alarms come home
