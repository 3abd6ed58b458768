"""Organization mode: the central bus admits only the organization; a StackSet puts forwarders and a read-only role
in every member account and region."""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

import pytest
from aws_cdk import CfnResource
from aws_cdk.assertions import Template
from sgwatch.core.events import event_pattern
from sgwatch.core.tamper import guard_pattern

from app import build_app, cdk_json_context
from infra.config import ConfigError
from infra.forwarder import ForwarderStack
from infra.organization import ENRICHMENT_ACTIONS, ENRICHMENT_ROLE_NAME, MEMBER_LOGICAL_IDS
from infra.stack import SgwatchStack
from tests.infra.conftest import cfn_lint, deployed_member_template, logical_id, resource, synth

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
MEMBER_CANARY_ERRORS = "CanaryErrorsE9A731FD"  # the member's canary errors alarm (its construct path's logical id)

ORG = {
    "organizationId": "o-abc123defg",
    "organizationUnits": "r-ab12",
    "homeRegion": "eu-west-1",
    "regions": "us-east-1,eu-central-1",
}


@pytest.fixture(scope="module")
def central() -> Any:
    return synth(**ORG)  # cdk-nag runs on the synth


def _text(value: Any) -> str:
    """A string the template builds with Fn::Join, its tokens written {Name}."""
    if isinstance(value, str):
        return value
    return "".join(
        part if isinstance(part, str) else "{" + str(next(iter(part.values()))) + "}" for part in value["Fn::Join"][1]
    )


def _marker(value: Any) -> str:
    """A value of the central template as text, its tokens written <Name:'argument'>."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return "".join(_marker(part) for part in value["Fn::Join"][1])
    return f"<{next(iter(value))}:{json.dumps(next(iter(value.values())))}>".replace('"', "'")


def _member_template(stack: Any, template: Any) -> dict[str, Any]:
    """The StackSet's member template, each reference to one of its parameters replaced by the value the StackSet
    passes it (the central stack's tokens as <Name:'argument'> markers)."""
    stack_set = resource(template, stack, "Organization", "Members")["Properties"]
    passed = {parameter["ParameterKey"]: _marker(parameter["ParameterValue"]) for parameter in stack_set["Parameters"]}

    def substituted(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in passed:
                return passed[value["Ref"]]
            return {key: substituted(item) for key, item in value.items()}
        if isinstance(value, list):
            return [substituted(item) for item in value]
        return value

    member: dict[str, Any] = substituted(json.loads(stack_set["TemplateBody"]))
    return member


def _forwarder_role_policy(resources: dict[str, Any]) -> dict[str, Any]:
    [policy] = [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and r["Properties"]["Roles"] == [{"Ref": "ForwarderRole"}]
    ]
    document: dict[str, Any] = policy
    return document


def test_members_send_to_sgwatchs_own_bus_which_admits_only_their_forwarders(central: Any) -> None:
    stack, template = central
    bus = resource(template, stack, "Organization", "Bus")["Properties"]
    assert bus["Name"] == "sgwatch"
    policies = template.find_resources("AWS::Events::EventBusPolicy")
    assert [policy["Properties"]["EventBusName"] for policy in policies.values()] == [
        {"Ref": logical_id(stack, "Organization", "Bus")}
    ]  # the default bus admits no one from outside the account
    statement = resource(template, stack, "Organization", "BusPolicy")["Properties"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "events:PutEvents")
    assert _text(statement["Resource"]).endswith(":event-bus/sgwatch")
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:PrincipalOrgID": "o-abc123defg"}
    # only the members' forwarder roles, whatever the member account and region
    role_pattern = _text(condition["ArnLike"]["aws:PrincipalArn"])
    assert role_pattern == "arn:{AWS::Partition}:iam::*:role/sgwatch-forwarder-*"
    member_role = _member_template(stack, template)["Resources"]["ForwarderRole"]["Properties"]["RoleName"]
    for region in ("us-east-1", "eu-west-1", "ap-southeast-5"):
        role_arn = f"arn:aws:iam::111122223333:role/{_text(member_role).replace('{AWS::Region}', region)}"
        assert fnmatch.fnmatchcase(role_arn, role_pattern.replace("{AWS::Partition}", "aws"))
    assert not fnmatch.fnmatchcase(
        "arn:aws:iam::111122223333:role/Admin", role_pattern.replace("{AWS::Partition}", "aws")
    )
    # only what forwarders send: security-group calls and their alarms, every event of a call (ForAllValues)
    assert condition["ForAllValues:StringEquals"] == {
        "events:source": ["aws.ec2", *guard_pattern()["source"], "aws.cloudwatch"],  # changes, tamper calls, alarms
        "events:detail-type": ["AWS API Call via CloudTrail", "CloudWatch Alarm State Change"],
    }
    # the members are deployed once the bus admits them
    assert (
        logical_id(stack, "Organization", "BusPolicy")
        in resource(template, stack, "Organization", "Members")["DependsOn"]
    )


def test_without_member_alarms_the_bus_admits_only_the_calls_sgwatch_watches() -> None:
    stack, template = synth(**ORG, memberAlarms="false")
    statement = resource(template, stack, "Organization", "BusPolicy")["Properties"]["Statement"]
    assert statement["Condition"]["ForAllValues:StringEquals"] == {
        "events:source": ["aws.ec2", *guard_pattern()["source"]],
        "events:detail-type": ["AWS API Call via CloudTrail"],
    }


def test_forwarded_changes_and_alarms_reach_the_pipeline_from_the_organizations_bus(central: Any) -> None:
    stack, template = central
    bus = {"Ref": logical_id(stack, "Organization", "Bus")}
    home = resource(template, stack, "Detection", "Rule")["Properties"]
    forwarded = resource(template, stack, "Detection", "ForwardedRule")["Properties"]
    assert "EventBusName" not in home  # the central account's own changes, on its default bus
    assert forwarded["EventBusName"] == bus
    assert forwarded["EventPattern"] == home["EventPattern"] == event_pattern()
    assert forwarded["State"] == home["State"] == "ENABLED"
    assert [
        {key: target[key] for key in ("Arn", "DeadLetterConfig", "RetryPolicy")} for target in forwarded["Targets"]
    ] == [{key: target[key] for key in ("Arn", "DeadLetterConfig", "RetryPolicy")} for target in home["Targets"]]
    assert resource(template, stack, "ForwarderAlarms", "Rule")["Properties"]["EventBusName"] == bus
    # one alarm covers both rules' failed deliveries (a rule on a custom bus reports with the bus's name)
    [alarm] = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if "FailedInvocations" in json.dumps(a["Properties"])
    ]
    dimensions = [
        {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}
        for query in alarm["Metrics"]
        if "MetricStat" in query
    ]
    assert dimensions == [
        {"RuleName": {"Ref": logical_id(stack, "Detection", "Rule")}},
        {"RuleName": {"Ref": logical_id(stack, "Detection", "GuardRule")}},
        {"RuleName": {"Ref": logical_id(stack, "Detection", "ForwardedRule")}, "EventBusName": bus},
        {"RuleName": {"Ref": logical_id(stack, "Detection", "ForwardedGuardRule")}, "EventBusName": bus},
    ]


def test_the_member_forwarder_role_trusts_only_its_rules_in_its_own_account(central: Any) -> None:
    stack, template = central
    resources = _member_template(stack, template)["Resources"]
    assert resources["Forwarder"]["Properties"]["Name"] == "sgwatch-forwarder"
    assert resources["AlarmForwarder"]["Properties"]["Name"] == "sgwatch-forwarder-alarms"
    [trust] = resources["ForwarderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert [_text(arn) for arn in trust["Condition"]["ArnEquals"]["aws:SourceArn"]] == [
        f"arn:{{AWS::Partition}}:events:{{AWS::Region}}:{{AWS::AccountId}}:rule/{name}"
        for name in ("sgwatch-forwarder", "sgwatch-forwarder-guard", "sgwatch-forwarder-alarms")
    ]
    [put] = _forwarder_role_policy(resources)["Statement"]
    assert put["Resource"] == resources["Forwarder"]["Properties"]["Targets"][0]["Arn"]


def test_a_stack_name_too_long_for_the_forwarder_names_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"context stackName: .* longer than 64 characters; choose a stack name of"):
        synth(**ORG, stackName="s" * 50)


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
    # the central account's bus of sgwatch's own (tokens of the central stack appear as <Ref:...> markers)
    assert target["Arn"] == "arn:<Ref:'AWS::Partition'>:events:eu-west-1:<Ref:'AWS::AccountId'>:event-bus/sgwatch"
    assert member["Conditions"]["CentralBus"]["Fn::And"][1] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}


def test_the_member_role_is_read_only_and_trusts_only_the_central_function(central: Any) -> None:
    stack, template = central
    role = _member_template(stack, template)["Resources"]["EnrichmentRole"]["Properties"]
    assert role["RoleName"] == ENRICHMENT_ROLE_NAME
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(ENRICHMENT_ACTIONS)
    assert ENRICHMENT_ACTIONS == [
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeManagedPrefixLists",  # read-only: an edited list's entries and the rules that reference it
        "ec2:GetManagedPrefixListEntries",
        "ec2:GetManagedPrefixListAssociations",
        "cloudtrail:DescribeTrails",  # read-only: whether another trail still records when one is stopped
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
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
    """It serves `sgwatch audit --accounts` and `sgwatch scan --accounts`, and allows what they read, no more."""
    from sgwatch.core.names import AUDIT_PERMISSIONS, SCAN_PERMISSIONS

    PERMISSIONS = (*AUDIT_PERMISSIONS, *SCAN_PERMISSIONS)
    stack, template = central
    role = _member_template(stack, template)["Resources"]["AuditRole"]
    assert role["Condition"] == "EnrichmentRegion"
    [statement] = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(PERMISSIONS)
    assert all(action.split(":")[1].startswith(("Describe", "Get", "List")) for action in PERMISSIONS)
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert ":root" in json.dumps(trust["Principal"])


def test_member_forwarder_alarms_reach_the_central_operations_topic(central: Any, tmp_path: Any) -> None:
    stack, template = central
    member = _member_template(stack, template)
    resources = member["Resources"]
    alarms = {"AlarmUndelivered": "undelivered", "AlarmFailedInvocations": "failed-invocations"}  # the regional two
    canary = resources.pop(MEMBER_CANARY_ERRORS)  # the member region's heartbeat canary, forwarded like the two
    assert canary["Condition"] == "NotCentralBus"
    assert _text(canary["Properties"]["AlarmName"]) == "sgwatch-forwarder-{AWS::Region}-canary-errors"
    forwarded = resources["AlarmForwarder"]["Properties"]["EventPattern"]["resources"]
    assert forwarded.pop() == {"Fn::GetAtt": [MEMBER_CANARY_ERRORS, "Arn"]}
    for logical, alarm in alarms.items():
        assert resources[logical]["Condition"] == "NotCentralBus"
        assert _text(resources[logical]["Properties"]["AlarmName"]) == f"sgwatch-forwarder-{{AWS::Region}}-{alarm}"
    assert resources["AlarmUndelivered"]["Properties"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["UndeliveredEvents", "QueueName"]
    }
    assert [
        query["MetricStat"]["Metric"]["Dimensions"]
        for query in resources["AlarmFailedInvocations"]["Properties"]["Metrics"]
        if "MetricStat" in query
    ] == [[{"Name": "RuleName", "Value": {"Ref": rule}}] for rule in ("Forwarder", "ForwarderGuard")]
    assert sorted(r for r, declared in resources.items() if declared["Type"] == "AWS::CloudWatch::Alarm") == sorted(
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
    stack_set = resource(template, stack, "Organization", "Members")["Properties"]
    deployed = deployed_member_template(
        stack_set, account="123456789012", function_role="arn:aws:iam::123456789012:role/f"
    )
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


def test_cfn_lint_is_clean_on_the_central_template_with_every_option(tmp_path: Any) -> None:
    """The members' template travels as a string inside the central one, with no token of it: cfn-lint finds nothing
    in it that reads as part of the central template."""
    _, template = synth(
        **ORG, centralForwarders="true", createTrail="true", recordSecurityGroups="true", reservedConcurrency=10
    )
    assert cfn_lint(template, tmp_path) == ""


def test_the_member_stacks_keep_the_logical_ids_they_were_deployed_with(central: Any) -> None:
    """Under a new logical id CloudFormation would create a named role, rule or alarm again under its name: IAM
    refuses, and the update of every member stack would fail."""
    resources = _member_template(*central)["Resources"]
    named = {
        logical
        for logical, declared in resources.items()
        if {"Name", "RoleName", "AlarmName"} & set(declared["Properties"])
    }
    assert named == {
        "ForwarderRole",
        "Forwarder",
        "ForwarderGuard",  # new with tamper detection
        "AlarmUndelivered",
        "AlarmFailedInvocations",  # new with the second alarm
        "AlarmForwarder",
        "EnrichmentRole",
        "AuditRole",
        "CanaryRole9950A1F8",  # new with the heartbeat: named by region, as the function recognises it
        MEMBER_CANARY_ERRORS,  # new with the heartbeat, sent home with the forwarder's alarms
    }


def test_the_member_forwarder_is_the_regional_forwarder() -> None:
    """One construct: the member stack's forwarder and a forwarder stack of the central account declare the same
    resources (the same rule pattern, the same alarms), but for what differs by design."""
    # The heartbeat canary belongs to the regional stack, not to the forwarder: left out of the comparison.
    app = build_app({**cdk_json_context(), **ORG, "centralForwarders": "true", "heartbeatMinutes": 0})
    app.synth()
    central = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    regional = next(
        child for child in app.node.children if isinstance(child, ForwarderStack) and child.region == "us-east-1"
    )
    stack_set = resource(Template.from_stack(central), central, "Organization", "Members")["Properties"]
    member = json.loads(stack_set["TemplateBody"])
    passed = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in stack_set["Parameters"]}

    # Construct paths below the forwarder, by logical id.
    regional_paths = {
        regional.resolve(regional.get_logical_id(resource)): "/".join(resource.node.path.split("/")[2:])
        for resource in regional.forwarder.node.find_all()
        if isinstance(resource, CfnResource)
    }
    member_paths = {
        logical: path.removeprefix("Forwarder/") + "/Resource"
        for path, logical in MEMBER_LOGICAL_IDS.items()
        if path.startswith("Forwarder/")
    }
    # A member forwarder's resources exist where it forwards: outside the central account's home region.
    assert {
        logical for logical, declared in member["Resources"].items() if declared.get("Condition") == "NotCentralBus"
    } == set(member_paths)

    def normalized(value: Any, paths: dict[str, str]) -> Any:
        """Logical ids as construct paths; strings joined, pseudo parameters written {AWS::Name}; the region and
        partition a regional stack knows at synth written as the member's pseudo parameters."""
        if isinstance(value, str):
            return value.replace("arn:aws:", "arn:{AWS::Partition}:").replace(regional.region, "{AWS::Region}")
        if isinstance(value, list):
            return [normalized(item, paths) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"} and value["Ref"] in passed:  # what the StackSet passes the member
            return normalized(passed[value["Ref"]], paths)
        if set(value) == {"Ref"}:
            return "{" + str(paths.get(value["Ref"], value["Ref"])) + "}"
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return "{" + paths[logical] + "." + attribute + "}"
        if set(value) == {"Fn::Join"}:
            return "".join(normalized(part, paths) for part in value["Fn::Join"][1])
        return {
            key: [paths[logical] for logical in item] if key == "DependsOn" else normalized(item, paths)
            for key, item in value.items()
            if key != "Sid"  # derived by CDK from the construct path
        }

    def comparable(declared: dict[str, Any], paths: dict[str, str]) -> Any:
        by_design = {
            "RoleName",  # the member's role is named: the central bus admits members' roles by name
            "Description",  # "to us-east-1" or "to the central account"
            "PolicyName",  # derived by CDK from the logical id
        }
        properties = {key: item for key, item in declared["Properties"].items() if key not in by_design}
        # "Condition": the member's resources exist only outside the central account's home region (asserted above)
        return normalized({**declared, "Properties": properties, "Condition": None}, paths)

    regional_resources = Template.from_stack(regional).to_json()["Resources"]
    assert {
        regional_paths[logical]: comparable(declared, regional_paths)
        for logical, declared in regional_resources.items()
    } == {member_paths[logical]: comparable(member["Resources"][logical], member_paths) for logical in member_paths}
