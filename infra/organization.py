"""Organization mode: a central account runs the pipeline; every member account and region forwards to it.

Members send to an event bus of sgwatch's own in the central account, never to its default bus. The bus's policy
admits `events:PutEvents` only from the organization (aws:PrincipalOrgID), only from the members' forwarder roles
(by name), and only events of the sources and detail types forwarders send (security-group calls, forwarder alarms).
The home detection rule listens on that bus too. A CloudFormation StackSet with service-managed permissions and
automatic deployment puts, in every account of the given organizational units and every region, the member stack: the
forwarder (infra.forwarder.Forwarder, the construct of the regional forwarder stacks: the same pattern, to the central
bus, with its role, dead-letter queue and alarms), and once per account a read-only role that the central function
assumes to describe security groups there, and one that `sgwatch audit --accounts` assumes.

The member stack is a CDK stack synthesized in an app of its own (a StackSet takes a template); what it needs of the
central stack (its account, its bus's ARN, its function's role) are parameters of the member stack, which the StackSet
passes, so its template holds no token of the central stack.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any, cast

from aws_cdk import (
    Acknowledgment,
    App,
    Aws,
    BootstraplessSynthesizer,
    CfnCondition,
    CfnParameter,
    CfnResource,
    Fn,
    ICfnConditionExpression,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from constructs import Construct, IConstruct
from sgwatch.core.events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE
from sgwatch.core.names import AUDIT_PERMISSIONS, SCAN_PERMISSIONS
from sgwatch.core.tamper import guard_pattern

from infra.forwarder import (
    ALARM_EVENT_DETAIL_TYPE,
    ALARM_EVENT_SOURCE,
    Forwarder,
    forwarder_role_name,
    forwarder_role_pattern,
    region_canary,
)
from infra.heartbeat import Watchdog
from infra.processor import EC2_READ_ACTIONS, TRAIL_READ_ACTIONS

ENRICHMENT_ROLE_NAME = "sgwatch-enrichment"
AUDIT_ROLE_NAME = "sgwatch-audit"  # `sgwatch audit --accounts` assumes it from the central account
ENRICHMENT_ACTIONS = [
    *EC2_READ_ACTIONS,
    *TRAIL_READ_ACTIONS,  # whether another trail still records, when one is stopped
]

# What the member stack needs of the central stack, which deploys it: the central stack's tokens (its account, its
# partition in the bus's ARN, its function's role) cannot cross into another app, so the StackSet passes them.
CENTRAL_ACCOUNT = "CentralAccount"
CENTRAL_BUS_ARN = "CentralBusArn"
CENTRAL_FUNCTION_ROLE_ARN = "CentralFunctionRoleArn"

# Logical ids of the member's resources, by construct path: those that member stacks already deployed use (and two new
# ones: the role's policy, the second alarm). Named roles, rules and alarms must keep their ids: under a new id an
# update would create them again under the same names (IAM refuses; EventBridge and CloudWatch would overwrite them,
# then delete them with the old ones).
MEMBER_LOGICAL_IDS = {
    "Forwarder/UndeliveredEvents": "UndeliveredEvents",
    "Forwarder/UndeliveredEvents/Policy": "UndeliveredEventsPolicy",
    "Forwarder/Role": "ForwarderRole",
    "Forwarder/Role/DefaultPolicy": "ForwarderRolePolicy",
    "Forwarder/Rule": "Forwarder",
    "Forwarder/GuardRule": "ForwarderGuard",  # new with tamper detection
    "Forwarder/Alarm-undelivered": "AlarmUndelivered",
    "Forwarder/Alarm-failed-invocations": "AlarmFailedInvocations",
    "Forwarder/AlarmRule": "AlarmForwarder",
    "EnrichmentRole": "EnrichmentRole",
    "AuditRole": "AuditRole",
}


class MemberStack(Stack):
    """What the StackSet deploys in every member account and region: the forwarder (the construct of the regional
    forwarder stacks) to the central bus, and once per account the read-only enrichment and audit roles. What it
    needs of the central stack arrives as parameters, which the StackSet passes."""

    def __init__(
        self, scope: Construct, construct_id: str, *, central_region: str, central_stack_name: str,
        central_bus_name: str, monitor: str, enabled: bool, alarms: bool, heartbeat_minutes: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(
            scope,
            construct_id,
            description="sgwatch member: forward security-group changes to the central account; let it describe groups",
            synthesizer=BootstraplessSynthesizer(),  # a StackSet's stack: no CDK bootstrap in the members
        )
        self.template_options.template_format_version = "2010-09-09"
        central_account = CfnParameter(
            self, CENTRAL_ACCOUNT, type="String", allowed_pattern=r"^\d{12}$",
            description="the central account, which runs sgwatch's pipeline",
        ).value_as_string  # fmt: skip
        central_bus_arn = CfnParameter(
            self, CENTRAL_BUS_ARN, type="String", description="sgwatch's event bus in the central account"
        ).value_as_string
        central_function_role_arn = CfnParameter(
            self, CENTRAL_FUNCTION_ROLE_ARN, type="String", description="the role of sgwatch's function"
        ).value_as_string
        # The central account's own region already has the pipeline's rule: forwarding there would loop.
        central_bus = CfnCondition(
            self,
            "CentralBus",
            expression=Fn.condition_and(
                Fn.condition_equals(Aws.ACCOUNT_ID, central_account), Fn.condition_equals(Aws.REGION, central_region)
            ),
        )
        # A condition is an expression too (it renders as {"Condition": name}); the typings do not say so.
        not_central_bus = CfnCondition(
            self, "NotCentralBus", expression=Fn.condition_not(cast(ICfnConditionExpression, central_bus))
        )
        # IAM is global: the enrichment and audit roles are created once per account, in the central region.
        enrichment_region = CfnCondition(
            self, "EnrichmentRegion", expression=Fn.condition_equals(Aws.REGION, central_region)
        )
        # The member region's heartbeat canary (not in the central account's own region, which has its own); its
        # errors alarm goes home with the forwarder's alarms. The central watchdog notices a member gone quiet.
        self.canary, extra_alarms = region_canary(self, central_stack_name, Aws.REGION, heartbeat_minutes, alarms)
        self.forwarder = Forwarder(
            self,
            "Forwarder",
            extra_alarms=extra_alarms,
            home_bus_arn=central_bus_arn,
            home_bus_name=central_bus_name,
            destination="the central account",
            home_stack_name=central_stack_name,
            monitor=monitor,
            enabled=enabled,
            alarms=alarms,
            # Named: the central bus admits only these roles (one per region: IAM is global).
            role_name=forwarder_role_name(central_stack_name, Aws.REGION),
        )
        self.enrichment_role = iam.Role(
            self,
            "EnrichmentRole",
            role_name=ENRICHMENT_ROLE_NAME,
            description="sgwatch: the central function describes security groups here (read-only)",
            assumed_by=iam.ArnPrincipal(central_function_role_arn),
            inline_policies={"describe-security-groups": _allow(ENRICHMENT_ACTIONS)},
        )
        self.audit_role = iam.Role(
            self,
            "AuditRole",
            role_name=AUDIT_ROLE_NAME,
            description="sgwatch audit and scan: read whether security-group changes are monitored here, and what is"
            " open (read-only)",
            assumed_by=iam.AccountPrincipal(central_account),
            inline_policies={"audit-read-only": _allow([*AUDIT_PERMISSIONS, *SCAN_PERMISSIONS])},
        )
        for construct, condition in (
            (self.forwarder, not_central_bus),
            *([(self.canary, not_central_bus)] if self.canary else []),
            (self.enrichment_role, enrichment_region),
            (self.audit_role, enrichment_region),
        ):
            for resource in construct.node.find_all():
                if isinstance(resource, CfnResource):
                    resource.cfn_options.condition = condition
        for path, logical_id in MEMBER_LOGICAL_IDS.items():
            declared = _cfn_resource(self, path)
            if declared is not None:  # the alarms exist only with memberAlarms
                declared.override_logical_id(logical_id)
        for role in (self.enrichment_role, self.audit_role):
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    reason="read-only Describe, Get and List calls, most of which support no resource-level"
                    " permissions; the role is for the whole account",
                )
            )


def _cfn_resource(scope: Construct, path: str) -> CfnResource | None:
    """The CloudFormation resource at a construct path below `scope` (a higher-level construct's own resource), or
    None if there is nothing at that path."""
    found: IConstruct | None = scope
    for part in path.split("/"):
        found = found.node.try_find_child(part) if found is not None else None
    if found is not None and not isinstance(found, CfnResource):
        found = found.node.default_child
    return found if isinstance(found, CfnResource) else None


def _allow(actions: list[str]) -> iam.PolicyDocument:
    return iam.PolicyDocument(statements=[iam.PolicyStatement(actions=actions, resources=["*"])])


def member_template(
    *, context: dict[str, Any], central_region: str, central_stack_name: str, central_bus_name: str, monitor: str,
    enabled: bool, alarms: bool, heartbeat_minutes: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The template of MemberStack, synthesized in an app of its own with the central app's context (its feature
    flags) and checked by cdk-nag there: a StackSet takes a template, not a stack of the central app (which the CDK
    CLI would deploy in the central account)."""
    with tempfile.TemporaryDirectory() as outdir:
        app = App(
            outdir=outdir,
            context=context,
            # The CLI's settings for the central app (from the environment) do not apply to a StackSet's template.
            post_cli_context={"aws:cdk:enable-path-metadata": False, "aws:cdk:version-reporting": False},
            analytics_reporting=False,
            auto_synth=False,
            tree_metadata=False,
        )
        stack = MemberStack(
            app,
            "Member",
            central_region=central_region,
            central_stack_name=central_stack_name,
            central_bus_name=central_bus_name,
            monitor=monitor,
            enabled=enabled,
            alarms=alarms,
            heartbeat_minutes=heartbeat_minutes,
        )
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
        return template


def forwarded_events(member_alarms: bool) -> dict[str, list[str]]:
    """What the members' forwarders send: CloudTrail's security-group calls and the calls that can blind the monitor
    (the guard rule's services), and their alarms' state changes."""
    sources, detail_types = [EVENTBRIDGE_SOURCE, *guard_pattern()["source"]], [EVENTBRIDGE_DETAIL_TYPE]
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
        member_alarms: bool, bus_name: str, heartbeat_minutes: int = 0, operations: sns.ITopic | None = None,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bus = events.EventBus(
            self, "Bus", event_bus_name=bus_name, description="sgwatch: changes forwarded by the organization"
        )
        # The ARN from the name (not the bus's attribute): the StackSet passes it to the members before the bus exists.
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
            context=self.node.get_all_context(),
            central_region=stack.region,
            central_stack_name=stack.stack_name,
            central_bus_name=bus_name,
            monitor=monitor,
            enabled=enabled,
            alarms=member_alarms,
            heartbeat_minutes=heartbeat_minutes,
        )
        central = {
            CENTRAL_ACCOUNT: Aws.ACCOUNT_ID,
            CENTRAL_BUS_ARN: bus_arn,
            CENTRAL_FUNCTION_ROLE_ARN: function_role.role_arn,
        }
        self.stack_set_name = f"{stack.stack_name}-members"
        self.call_as = "DELEGATED_ADMIN" if delegated_admin else "SELF"
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
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(parameter_key=key, parameter_value=value)
                for key, value in central.items()
            ],
            template_body=json.dumps(template, separators=(",", ":")),  # a plain string: no token of this stack
        )
        self.stack_set.add_resource_dependency(self.bus_policy)  # members forward only once the bus admits them
        self.watchdog = None
        if heartbeat_minutes and operations is not None:
            self.watchdog = Watchdog(
                self,
                "Watchdog",
                stack_set_name=f"{stack.stack_name}-members",
                call_as="DELEGATED_ADMIN" if delegated_admin else "SELF",
                interval_minutes=heartbeat_minutes,
                operations=operations,
            )
