"""Organization mode: a central account runs the pipeline; every member account and region forwards to it.

Members send to an event bus of sgwatch's own in the central account, never to its default bus. The bus's policy
admits `events:PutEvents` only from the organization (aws:PrincipalOrgID), only from the members' forwarder roles
(by name), and only events of the sources and detail types forwarders send (security-group calls, forwarder alarms).
The home detection rule listens on that bus too. A CloudFormation StackSet with service-managed permissions and
automatic deployment puts, in every account of the given organizational units and every region: the forwarder rule
(the same pattern, to the central bus, with its role and dead-letter queue), and once per account a read-only role
that the central function assumes to describe security groups there.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Aws, Stack, Validations
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct
from sgwatch.core.events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE, event_pattern
from sgwatch.core.names import AUDIT_PERMISSIONS

from infra.forwarder import (
    ALARM_EVENT_DETAIL_TYPE,
    ALARM_EVENT_SOURCE,
    FORWARDER_ALARMS,
    forwarder_alarm_name,
    forwarder_alarm_rule_name,
    forwarder_role_name,
    forwarder_role_pattern,
    forwarder_rule_name,
)

ENRICHMENT_ROLE_NAME = "sgwatch-enrichment"
MEMBER_ALARMS = ("undelivered",)
AUDIT_ROLE_NAME = "sgwatch-audit"  # `sgwatch audit --accounts` assumes it from the central account
ENRICHMENT_ACTIONS = ["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DescribeNetworkInterfaces"]


# Pseudo parameters of the member stack, written as Refs: the template is a string inside the central template, where
# a "${AWS::Region}" would read (to cfn-lint) as a parameter of the central template outside an Fn::Sub.
_PARTITION, _REGION_REF, _ACCOUNT = ({"Ref": f"AWS::{name}"} for name in ("Partition", "Region", "AccountId"))
_REGION = "<region>"  # where the member's region goes in a name


def _join(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", [part for part in parts if part != ""]]}


def _in_member_region(name: str) -> dict[str, Any]:
    """A name with the member stack's region in place of _REGION."""
    before, after = name.split(_REGION)
    return _join(before, _REGION_REF, after)


def member_template(*, central_bus_arn: Any, central_account: Any, central_region: str, central_role_arn: Any,
                    central_stack_name: str, monitor: str, enabled: bool, alarms: bool = True) -> dict[str, Any]:  # fmt: skip
    """The CloudFormation template the StackSet deploys in each member account and region."""
    not_central = {"Condition": "NotCentralBus"}
    rule_names = [forwarder_rule_name(central_stack_name)] + (
        [forwarder_alarm_rule_name(central_stack_name)] if alarms else []
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "sgwatch member: forward security-group changes to the central account; let it describe groups",
        "Conditions": {
            # The central account's own region already has the pipeline's rule: forwarding there would loop.
            "CentralBus": {
                "Fn::And": [
                    {"Fn::Equals": [{"Ref": "AWS::AccountId"}, central_account]},
                    {"Fn::Equals": [{"Ref": "AWS::Region"}, central_region]},
                ]
            },
            "NotCentralBus": {"Fn::Not": [{"Condition": "CentralBus"}]},
            # IAM is global: the enrichment role is created once per account, in the central region.
            "EnrichmentRegion": {"Fn::Equals": [{"Ref": "AWS::Region"}, central_region]},
        },
        "Resources": {
            "UndeliveredEvents": {
                **not_central,
                "Type": "AWS::SQS::Queue",
                "Properties": {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600},
            },
            "UndeliveredEventsPolicy": {
                **not_central,
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "UndeliveredEvents"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": {"Fn::GetAtt": ["UndeliveredEvents", "Arn"]},
                                "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["Forwarder", "Arn"]}}},
                            },
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "sqs:*",
                                "Resource": {"Fn::GetAtt": ["UndeliveredEvents", "Arn"]},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            },
                        ],
                    },
                },
            },
            "ForwarderRole": {
                **not_central,
                "Type": "AWS::IAM::Role",
                "Properties": {
                    # Named: the central bus admits only these roles. Named rules: the role trusts only them.
                    "RoleName": _in_member_region(forwarder_role_name(central_stack_name, _REGION)),
                    "Description": "sgwatch: forward security-group changes (and forwarder alarms) to the central bus",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                    "ArnEquals": {
                                        "aws:SourceArn": [
                                            _join(
                                                "arn:",
                                                _PARTITION,
                                                ":events:",
                                                _REGION_REF,
                                                ":",
                                                _ACCOUNT,
                                                f":rule/{name}",
                                            )
                                            for name in rule_names
                                        ]
                                    },
                                },
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "put-on-the-central-bus",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "events:PutEvents", "Resource": central_bus_arn}
                                ],
                            },
                        }
                    ],
                },
            },
            "Forwarder": {
                **not_central,
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": forwarder_rule_name(central_stack_name),
                    "Description": "sgwatch: forward CloudTrail events of security-group changes to the central account",
                    "EventPattern": event_pattern(monitor),
                    "State": "ENABLED" if enabled else "DISABLED",
                    "Targets": [
                        {
                            "Id": "central-bus",
                            "Arn": central_bus_arn,
                            "RoleArn": {"Fn::GetAtt": ["ForwarderRole", "Arn"]},
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["UndeliveredEvents", "Arn"]}},
                        }
                    ],
                },
            },
            **(_forwarder_alarms(central_bus_arn, central_stack_name) if alarms else {}),
            "EnrichmentRole": {
                "Condition": "EnrichmentRegion",
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": ENRICHMENT_ROLE_NAME,
                    "Description": "sgwatch: the central function describes security groups here (read-only)",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"AWS": central_role_arn}, "Action": "sts:AssumeRole"}
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "describe-security-groups",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": ENRICHMENT_ACTIONS, "Resource": "*"}],
                            },
                        }
                    ],
                },
            },
            "AuditRole": {
                "Condition": "EnrichmentRegion",
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": AUDIT_ROLE_NAME,
                    "Description": "sgwatch audit: read whether security-group changes are monitored here (read-only)",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": _join("arn:", _PARTITION, ":iam::", central_account, ":root")},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "audit-read-only",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": list(AUDIT_PERMISSIONS), "Resource": "*"}],
                            },
                        }
                    ],
                },
            },
        },
    }


def _forwarder_alarms(central_bus_arn: Any, central_stack_name: str) -> dict[str, Any]:
    """The forwarder's alarm and the rule that forwards its state changes to the central bus, where the central stack
    sends them to its operations topic. One alarm, not a regional forwarder's two: it is paid for in every member
    account and region, and what the rule cannot deliver ends in the dead-letter queue it watches."""
    metrics = {
        "undelivered": {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["UndeliveredEvents", "QueueName"]}}],
            "Statistic": "Maximum",
        },
        "failed-invocations": {
            "Namespace": "AWS/Events",
            "MetricName": "FailedInvocations",
            "Dimensions": [{"Name": "RuleName", "Value": {"Ref": "Forwarder"}}],
            "Statistic": "Sum",
        },
    }
    alarms: dict[str, Any] = {}
    for alarm in MEMBER_ALARMS:
        description = FORWARDER_ALARMS[alarm]
        logical_id = "Alarm" + "".join(part.title() for part in alarm.split("-"))
        alarms[logical_id] = {
            "Condition": "NotCentralBus",
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": _in_member_region(forwarder_alarm_name(central_stack_name, _REGION, alarm)),
                "AlarmDescription": description,
                **metrics[alarm],
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
            },
        }
    alarms["AlarmForwarder"] = {
        "Condition": "NotCentralBus",
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": forwarder_alarm_rule_name(central_stack_name),
            "Description": "sgwatch: forward the forwarder's alarms to the central account",
            "EventPattern": {
                "source": [ALARM_EVENT_SOURCE],
                "detail-type": [ALARM_EVENT_DETAIL_TYPE],
                "resources": [{"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in alarms],
            },
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "central-bus",
                    "Arn": central_bus_arn,
                    "RoleArn": {"Fn::GetAtt": ["ForwarderRole", "Arn"]},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["UndeliveredEvents", "Arn"]}},
                }
            ],
        },
    }
    return alarms


def forwarded_events(member_alarms: bool) -> dict[str, list[str]]:
    """What the members' forwarders send: CloudTrail's security-group calls, and their alarms' state changes."""
    sources, detail_types = [EVENTBRIDGE_SOURCE], [EVENTBRIDGE_DETAIL_TYPE]
    if member_alarms:
        sources.append(ALARM_EVENT_SOURCE)
        detail_types.append(ALARM_EVENT_DETAIL_TYPE)
    return {"events:source": sources, "events:detail-type": detail_types}


class Organization(Construct):
    """The central side: sgwatch's own bus and its policy for the members' forwarders, the StackSet for the
    members."""

    def __init__(
        self, scope: Construct, construct_id: str, *, organization_id: str, organizational_units: list[str],
        regions: list[str], function_role: iam.IRole, monitor: str, enabled: bool, delegated_admin: bool,
        member_alarms: bool, bus_name: str,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bus = events.EventBus(
            self, "Bus", event_bus_name=bus_name, description="sgwatch: changes forwarded by the organization"
        )
        # The ARN from the name (not the bus's attribute): the members' template holds no reference to resolve.
        bus_arn = f"arn:{Aws.PARTITION}:events:{stack.region}:{Aws.ACCOUNT_ID}:event-bus/{bus_name}"
        self.bus_policy = events.CfnEventBusPolicy(
            self,
            "BusPolicy",
            statement_id="sgwatch-organization-forwarders",
            event_bus_name=self.bus.event_bus_name,
            statement={
                "Sid": "sgwatch-organization-forwarders",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": bus_arn,
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                    "ArnLike": {
                        "aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::*:role/{forwarder_role_pattern(stack.stack_name)}"
                    },
                    # Every event of a PutEvents call must be one of these (multivalued keys: ForAllValues).
                    "ForAllValues:StringEquals": forwarded_events(member_alarms),
                },
            },
        )
        function_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[f"arn:{Aws.PARTITION}:iam::*:role/{ENRICHMENT_ROLE_NAME}"],
                conditions={"StringEquals": {"aws:ResourceOrgID": organization_id}},
            )
        )
        Validations.of(function_role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{ENRICHMENT_ROLE_NAME}]",
                reason="the member accounts are not known at synth (new accounts join automatically); the condition"
                " limits the role to the organization",
            )
        )
        template = member_template(
            central_bus_arn=bus_arn,
            central_account=Aws.ACCOUNT_ID,
            central_region=stack.region,
            central_role_arn=function_role.role_arn,
            central_stack_name=stack.stack_name,
            monitor=monitor,
            enabled=enabled,
            alarms=member_alarms,
        )
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "Members",
            stack_set_name=f"{stack.stack_name}-members",
            description="sgwatch: forwarders and the read-only enrichment role in every member account and region",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],
            call_as="DELEGATED_ADMIN" if delegated_admin else "SELF",
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=10, max_concurrent_percentage=25, region_concurrency_type="PARALLEL"
            ),
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=organizational_units
                    ),
                    regions=regions,
                )
            ],
            template_body=stack.to_json_string(template),
        )
        self.stack_set.add_resource_dependency(self.bus_policy)  # members forward only once the bus admits them
