"""The heartbeat: a canary per watched region makes one harmless security-group call on a schedule; the function
counts it (HeartbeatReceived, by region) at the end of the real path; an alarm per region fires when none arrives
(infra.monitoring.heartbeat_alarm).

The canary's group sits in a VPC of its own without subnets, so nothing can use it; its one rule lets 9/tcp out to
an address of TEST-NET-1, which routes nowhere. The canary may change that group's rule descriptions and nothing else.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct
from sgwatch.core import names
from sgwatch.core.heartbeat import (
    CANARY_PEER,
    CANARY_PORT,
    CANARY_PROTOCOL,
    HEARTBEAT_PREFIX,
    alarm_period_minutes,
    canary_role_name,
)

from infra.asset import PACKAGE_ROOT
from infra.monitoring import PERIOD
from infra.processor import function_code

#: The canary's code, shipped inline: a StackSet's members cannot read the central account's assets.
CANARY_SOURCE = PACKAGE_ROOT / "sgwatch" / "runtime" / "canary.py"


class Canary(Construct):
    """The heartbeat canary of one region: its VPC and group, its function and role, its schedule, and an alarm on
    its own errors (`errors_alarm`, named `alarm_name` when given: a forwarder region sends it home by name)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stack_name: str, interval_minutes: int,
        alarm_name: str | None = None, errors_alarm: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.vpc = ec2.CfnVPC(self, "Vpc", cidr_block="10.255.255.0/28")  # no subnet: nothing can run here
        self.group = ec2.CfnSecurityGroup(
            self,
            "Group",
            group_description="sgwatch heartbeat canary: guards nothing (its VPC has no subnet)",
            vpc_id=self.vpc.ref,
            # Replaces the default allow-all outbound rule: the one rule whose description the canary rewrites.
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol=CANARY_PROTOCOL,
                    from_port=CANARY_PORT,
                    to_port=CANARY_PORT,
                    cidr_ip=CANARY_PEER,
                    description=HEARTBEAT_PREFIX,
                )
            ],
        )
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        # Named: the function knows a heartbeat by this role (sgwatch.core.heartbeat.is_heartbeat).
        self.role = iam.Role(
            self,
            "Role",
            role_name=canary_role_name(stack_name, stack.region),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sgwatch heartbeat canary: rewrite the canary group's rule description, nothing else",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:UpdateSecurityGroupRuleDescriptionsEgress"],
                resources=[
                    f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:security-group/{self.group.attr_group_id}"
                ],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="sgwatch heartbeat canary: one harmless security-group call, recorded like a real change",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",  # inline code is index.py
            code=lambda_.Code.from_inline(CANARY_SOURCE.read_text(encoding="utf-8")),
            role=self.role,
            memory_size=128,
            timeout=Duration.seconds(30),
            log_group=log_group,
            environment={names.ENV_CANARY_GROUP: self.group.attr_group_id},
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"sgwatch heartbeat: the canary every {interval_minutes} minutes",
            schedule=events.Schedule.rate(Duration.minutes(interval_minutes)),
        )
        self.schedule.add_target(targets.LambdaFunction(self.function, retry_attempts=2))
        self.errors_alarm: cloudwatch.Alarm | None = None
        if not errors_alarm:  # a member without its alarms (memberAlarms=false): the watchdog still sees it go quiet
            self._acknowledge()
            return
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "Errors",
            alarm_name=alarm_name,
            metric=self.function.metric_errors(period=PERIOD),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="the heartbeat canary failed: its region's heartbeat alarm will follow",
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        Validations.of(self.vpc).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-VPC7",
                reason="the canary's VPC has no subnet and no interface: there is no traffic to log",
            )
        )
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Python 3.13 is the runtime sgwatch is tested on (the function's own asset)",
            )
        )


class Watchdog(Construct):
    """Organization mode: a function that compares the StackSet's instances with the member heartbeats counted in the
    window, every interval, and publishes HeartbeatsMissing; its alarm fires on one missing or on no data at all (the
    watchdog stopped). The missing places are in the watchdog's log, by name."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stack_set_name: str, call_as: str, interval_minutes: int,
        operations: sns.ITopic,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        window = alarm_period_minutes(interval_minutes)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sgwatch heartbeat watchdog: read the StackSet's instances and the heartbeat metrics",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudformation:ListStackInstances"],
                resources=[
                    f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stackset/{stack_set_name}:*"
                ],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource; the condition keeps it to sgwatch's namespace
                conditions={"StringEquals": {"cloudwatch:namespace": names.METRIC_NAMESPACE}},
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="sgwatch heartbeat watchdog: which member regions have gone quiet",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="sgwatch.runtime.watchdog.handler",
            code=function_code(self),  # the function's own asset: the same files, the same hash
            role=role,
            memory_size=128,
            timeout=Duration.seconds(60),
            log_group=log_group,
            environment={
                names.ENV_WATCHDOG_STACK_SET: stack_set_name,
                names.ENV_WATCHDOG_CALL_AS: call_as,
                names.ENV_WATCHDOG_WINDOW_MINUTES: str(window),
            },
        )
        schedule = events.Rule(
            self,
            "Schedule",
            description=f"sgwatch heartbeat watchdog every {interval_minutes} minutes",
            schedule=events.Schedule.rate(Duration.minutes(interval_minutes)),
        )
        schedule.add_target(targets.LambdaFunction(self.function, retry_attempts=2))
        self.alarm = cloudwatch.Alarm(
            self,
            "Missing",
            metric=cloudwatch.Metric(
                namespace=names.METRIC_NAMESPACE,
                metric_name=names.METRIC_HEARTBEATS_MISSING,
                dimensions_map={names.SERVICE_DIMENSION: names.SERVICE},
                statistic="Maximum",
                period=Duration.minutes(window),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=(
                f"a member account's region sent no heartbeat for {window} minutes (or the watchdog stopped): its"
                " changes are not being seen; the watchdog's log names the account and region"
            ),
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(operations))
        Validations.of(self.function).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-L1", reason="Python 3.13 is the runtime sgwatch is tested on")
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="GetMetricData and PutMetricData support no resource-level permissions; PutMetricData is kept"
                " to sgwatch's namespace by a condition",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
                f"<AWS::AccountId>:stackset/{stack_set_name}:*]",
                reason="a StackSet's ARN ends with an id assigned at creation; the name fixes which one",
            ),
        )
