"""Every region and every account, end to end under moto: the synthesized forwarder stacks and the StackSet's member
template are created by moto's CloudFormation in their accounts and regions; changes made there travel through the
forwarder rules to the home bus, through the home rule (the stack's pattern) to the buffer, and through the handler
to an alert that names the account and region of the change and describes the group where it lives.

In organization mode the home rules are put on the buses the synthesized stack puts them on: the central account's
default bus (its own changes) and sgwatch's own bus (what the members forward), whose name the members' template
targets.

moto does not enforce the central bus's policy (organization, forwarder role name, event sources and detail types)
or the roles' trust conditions (aws:SourceAccount, aws:SourceArn): the infra tests assert those. Nor does it deliver
to a forwarder's dead-letter queue. It does evaluate the templates' conditions, match the patterns and deliver to
another account's and region's bus, and it refuses events for a bus that does not exist.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from sgwatch.core import names
from sgwatch.emulation.account import create_queue, drain
from sgwatch.runtime import handler
from sgwatch.runtime.aws import assumed_role_keys

from app import build_app, cdk_json_context
from infra.forwarder import ForwarderStack
from infra.stack import SgwatchStack
from tests.conftest import REAL_RECORDS, load
from tests.e2e.conftest import ACCOUNT, REGION, LambdaContext, World, on_group, sqs_event
from tests.infra.conftest import deployed_member_template, logical_id

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# moto's CloudFormation creates no AWS::SQS::QueuePolicy (it warns and goes on); nothing here depends on one.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..SQS..QueuePolicy:UserWarning")

SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
ALARM_EVENT = load("events/cloudwatch_alarm_state_change.json")
NOT_A_CHANGE = load(
    REAL_RECORDS / "wwalpha-aws-spotlight/modify_instance_attribute_instancetype_console_NOT_groupset.json"
)
MEMBER = "111122223333"
CENTRAL = ACCOUNT  # moto's default account plays the central (or the only) account
FUNCTION_ROLE = f"arn:aws:iam::{CENTRAL}:role/sgwatch-ProcessorRole"


@dataclass(frozen=True)
class Synthesized:
    home_rules: list[tuple[str, dict[str, Any]]]  # (bus name, event pattern) of each home rule that feeds the buffer
    alarm_rule: dict[str, Any]  # the home rule that sends forwarders' alarms to the operations topic
    alarm_bus: str  # the bus that rule listens on
    forwarders: dict[str, dict[str, Any]]  # each forwarder stack's template, by region
    member_template: str  # the StackSet's template, with the parameters the deployed central stack passes; "" without


def _synth(**context: Any) -> Synthesized:
    # No heartbeat canary: its function's code is an S3 asset that moto's CloudFormation cannot fetch (the canary's
    # own path is tested in test_heartbeat_path.py).
    app = build_app({**cdk_json_context(), "homeRegion": REGION, "heartbeatMinutes": 0, **context})
    app.synth()
    home = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    template = dict(Template.from_stack(home).to_json())
    resources = template["Resources"]

    def bus(rule: dict[str, Any]) -> str:
        """The name of the bus a rule of the home template listens on."""
        name = rule.get("EventBusName", "default")
        return str(name if isinstance(name, str) else resources[name["Ref"]]["Properties"]["Name"])

    buffer = {"Fn::GetAtt": [logical_id(home, "Detection", "Buffer"), "Arn"]}
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    alarm_rule = resources[logical_id(home, "ForwarderAlarms", "Rule")]["Properties"]
    return Synthesized(
        home_rules=[(bus(rule), rule["EventPattern"]) for rule in rules if rule["Targets"][0]["Arn"] == buffer],
        alarm_rule=alarm_rule,
        alarm_bus=bus(alarm_rule),
        forwarders={
            child.region: dict(Template.from_stack(child).to_json())
            for child in app.node.children
            if isinstance(child, ForwarderStack)
        },
        member_template=(
            deployed_member_template(
                resources[logical_id(home, "Organization", "Members")]["Properties"],
                account=CENTRAL,
                function_role=FUNCTION_ROLE,
            )
            if "organizationId" in context
            else ""
        ),
    )


def _session(account: str) -> dict[str, str]:
    """Client arguments for an account of moto's: its own credentials, as STS hands them to a role there."""
    if account == CENTRAL:
        return {}
    sts = boto3.client("sts", region_name=REGION)
    return assumed_role_keys(sts, f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", "setup")


def _deploy(template: dict[str, Any] | str, *, account: str, region: str) -> dict[str, str]:
    """Create the stack in that account and region; returns its alarms' ARNs by name."""
    session = _session(account)
    # A bootstrapped account holds this parameter; the CDK's stacks check it.
    boto3.client("ssm", region_name=region, **session).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True
    )
    body, alarms = _with_alarms_made(
        template if isinstance(template, dict) else json.loads(template), account=account, region=region
    )
    cloudformation = boto3.client("cloudformation", region_name=region, **session)
    cloudformation.create_stack(StackName="sgwatch", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    status = cloudformation.describe_stacks(StackName="sgwatch")["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE", (account, region, status)
    return alarms


def _with_alarms_made(template: dict[str, Any], *, account: str, region: str) -> tuple[str, dict[str, str]]:
    """moto's CloudFormation creates no AWS::CloudWatch::Alarm: make each through CloudWatch instead (where the
    template's conditions would) and put its ARN where the template asks for it."""
    cloudwatch = boto3.client("cloudwatch", region_name=region, **_session(account))
    central_home = account == CENTRAL and region == REGION  # the member template's CentralBus condition
    alarms: dict[str, str] = {}
    resources = template["Resources"]
    for alarm_id, declared in list(resources.items()):
        if declared["Type"] != "AWS::CloudWatch::Alarm":
            continue
        del resources[alarm_id]
        if declared.get("Condition") == "NotCentralBus" and central_home:
            continue
        name = declared["Properties"]["AlarmName"]
        if isinstance(name, dict):  # the member's region joined in
            name = "".join(region if part == {"Ref": "AWS::Region"} else part for part in name["Fn::Join"][1])
        properties = declared["Properties"]
        if "Metrics" in properties:  # metric math (the two rules' failed deliveries): its definition is not used here
            metric = {"Namespace": "AWS/Events", "MetricName": "FailedInvocations", "Statistic": "Sum", "Period": 60}
        else:
            metric = {key: properties[key] for key in ("Namespace", "MetricName", "Statistic", "Period")}
        cloudwatch.put_metric_alarm(
            AlarmName=name, **metric, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator=properties["ComparisonOperator"],
        )  # fmt: skip
        alarms[name] = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        arn_of = json.dumps({"Fn::GetAtt": [alarm_id, "Arn"]})
        template = json.loads(json.dumps(template).replace(arn_of, json.dumps(alarms[name])))
        resources = template["Resources"]
    return json.dumps(template), alarms


def _home_rules(world: World, synthesized: Synthesized) -> tuple[str, str]:
    """The home rules with the stack's patterns, each on the stack's bus: changes to a buffer queue, forwarders'
    alarms (with the stack's input transformer) to a queue that stands in for the operations topic (moto has no SNS
    targets). The queues' URLs."""
    events = boto3.client("events", region_name=REGION)
    buses = {"default"}
    buffer_url, buffer_arn = create_queue(world.sqs, "sgwatch-buffer")
    operations_url, operations_arn = create_queue(world.sqs, "sgwatch-operations")
    rules: list[tuple[str, str, dict[str, Any], str, dict[str, Any]]] = [
        (f"sgwatch-home-{bus}-{index}", bus, pattern, buffer_arn, {})
        for index, (bus, pattern) in enumerate(synthesized.home_rules)
    ]
    rules.append((
        "sgwatch-home-forwarder-alarms", synthesized.alarm_bus, synthesized.alarm_rule["EventPattern"], operations_arn,
        {"InputTransformer": synthesized.alarm_rule["Targets"][0]["InputTransformer"]},
    ))  # fmt: skip
    for name, bus, pattern, arn, target in rules:
        if bus not in buses:
            events.create_event_bus(Name=bus)
            buses.add(bus)
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn, **target}])
    return buffer_url, operations_url


def _alarm_in(account: str, region: str, name: str) -> None:
    """CloudWatch's event of that alarm entering ALARM, on the local bus."""
    event = json.loads(json.dumps(ALARM_EVENT).replace("ALARM_NAME", name).replace("111122223333", account))
    event["resources"] = [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"]
    boto3.client("events", region_name=region, **_session(account)).put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Resources": event["resources"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )


def _operations_messages(world: World, url: str) -> list[str]:
    return [json.loads(message["Body"]) for message in drain(world.sqs, url)]


def _change_in(account: str, region: str, tag: str) -> tuple[str, str]:
    """Make a group in that account and region, and put CloudTrail's event of opening SSH on it on the local bus,
    with an instance-type change beside it that no rule may forward. Returns (eventID, group id)."""
    session = _session(account)
    ec2 = boto3.client("ec2", region_name=region, **session)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=f"web-{tag}", Description=tag, VpcId=vpc)["GroupId"]
    change = on_group(SSH_WORLD, group, f"change-{tag}")
    change.update(awsRegion=region, recipientAccountId=account)
    read = {**NOT_A_CHANGE, "eventID": f"other-{tag}", "awsRegion": region, "recipientAccountId": account}
    boto3.client("events", region_name=region, **session).put_events(
        Entries=[
            {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(record)}
            for record in (change, read)
        ]
    )
    return change["eventID"], group


def _alerts_for(world: World, buffer: str) -> tuple[Counter[str], dict[str, dict[str, Any]]]:
    """Run the handler over what the buffer holds: how often each eventID reached the buffer, and each alert by
    eventID."""
    messages = drain(world.sqs, buffer)
    arrived = Counter(json.loads(message["Body"])["detail"]["eventID"] for message in messages)
    response = handler.lambda_handler(sqs_event(*(message["Body"] for message in messages)), LambdaContext())
    assert response == {"batchItemFailures": []}
    alerts = {}
    for alert in world.received(world.inbox_url):
        payload = json.loads(alert["Message"])
        for result in payload["results"]:
            alerts[result["eventID"]] = alert
    return arrived, alerts


def test_changes_in_every_region_reach_the_home_pipeline_once_with_their_region(world: World) -> None:
    synthesized = _synth(regions="us-east-1,eu-central-1,eu-west-1")
    assert sorted(synthesized.forwarders) == ["eu-central-1", "us-east-1"]
    # one account: everything on its default bus (the detection rule and the guard rule)
    assert [bus for bus, _ in synthesized.home_rules] == ["default", "default"]
    buffer, operations = _home_rules(world, synthesized)
    alarms = {}
    for region, template in synthesized.forwarders.items():
        alarms.update(_deploy(template, account=CENTRAL, region=region))
    assert sorted(alarms) == [
        f"sgwatch-forwarder-{region}-{alarm}"
        for region in ("eu-central-1", "us-east-1")
        for alarm in ("failed-invocations", "undelivered")
    ]
    made = {region: _change_in(CENTRAL, region, region) for region in ("us-east-1", "eu-central-1", REGION)}

    arrived, alerts = _alerts_for(world, buffer)
    assert arrived == Counter(
        event_id for event_id, _ in made.values()
    )  # each change once; not the instance-type change
    for region, (event_id, group) in made.items():
        attributes = alerts[event_id]["MessageAttributes"]
        assert attributes[names.ATTRIBUTE_REGION]["Value"] == region
        assert f"{group}: name 'web-{region}'" in alerts[event_id]["Email"]  # described in its own region

    # A forwarder in trouble: its alarm reaches the operations topic at home; other alarms of the account do not.
    _alarm_in(CENTRAL, "us-east-1", "sgwatch-forwarder-us-east-1-undelivered")
    _alarm_in(CENTRAL, "us-east-1", "billing-estimate")
    [message] = _operations_messages(world, operations)
    assert message.startswith("sgwatch forwarder alarm sgwatch-forwarder-us-east-1-undelivered in account ")
    assert "Threshold Crossed: 1 datapoint" in message


def test_every_account_and_region_of_the_organization_reaches_the_central_pipeline_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesized = _synth(organizationId="o-abc123defg", organizationUnits="r-ab12", regions="us-east-1,eu-west-1")
    assert synthesized.forwarders == {}  # the StackSet does their work
    # the central account's own changes on its default bus; the members' on sgwatch's own bus, as their alarms
    assert [bus for bus, _ in synthesized.home_rules] == ["default", "default", "sgwatch", "sgwatch"]
    assert synthesized.alarm_bus == "sgwatch"
    buffer, operations = _home_rules(world, synthesized)
    places = [(MEMBER, "us-east-1"), (MEMBER, REGION), (CENTRAL, "us-east-1"), (CENTRAL, REGION)]
    alarms = {}
    for account, region in places:  # the StackSet's instances; the central account may sit in a targeted OU too
        alarms[account, region] = _deploy(synthesized.member_template, account=account, region=region)
    # The central account's own home region has the pipeline's rules: a forwarder there would send events in a loop.
    central_events = boto3.client("events", region_name=REGION)
    central_home = [
        rule["Name"] for bus in ("default", "sgwatch") for rule in central_events.list_rules(EventBusName=bus)["Rules"]
    ]
    assert sorted(central_home) == [
        "sgwatch-home-default-0", "sgwatch-home-default-1", "sgwatch-home-forwarder-alarms", "sgwatch-home-sgwatch-2",
        "sgwatch-home-sgwatch-3",
    ]  # fmt: skip
    assert alarms[CENTRAL, REGION] == {}
    assert sorted(alarms[MEMBER, "us-east-1"]) == [
        "sgwatch-forwarder-us-east-1-failed-invocations",
        "sgwatch-forwarder-us-east-1-undelivered",
    ]
    iam = boto3.client("iam", region_name=REGION, **_session(MEMBER))
    assert iam.get_role(RoleName="sgwatch-enrichment")["Role"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"AWS": FUNCTION_ROLE}, "Action": "sts:AssumeRole"}
    ]
    made = {(account, region): _change_in(account, region, f"{account}-{region}") for account, region in places}

    monkeypatch.setenv(names.ENV_ENRICHMENT_ROLE, "sgwatch-enrichment")
    world.start_function()
    arrived, alerts = _alerts_for(world, buffer)
    assert arrived == Counter(event_id for event_id, _ in made.values())
    for (account, region), (event_id, group) in made.items():
        attributes = alerts[event_id]["MessageAttributes"]
        assert (attributes[names.ATTRIBUTE_ACCOUNT]["Value"], attributes[names.ATTRIBUTE_REGION]["Value"]) == (
            account,
            region,
        )
        # described where it lives: in a member account through the enrichment role the StackSet created there
        assert f"{group}: name 'web-{account}-{region}'" in alerts[event_id]["Email"]

    _alarm_in(MEMBER, "us-east-1", "sgwatch-forwarder-us-east-1-undelivered")
    [message] = _operations_messages(world, operations)
    assert message.startswith("sgwatch forwarder alarm sgwatch-forwarder-us-east-1-undelivered in account ")
