"""The scheduled scan (context scanSchedule): `sgwatch scan` of the watched regions on a schedule, alerting on the
alert topic what no earlier scan reported: drift that no change event revealed."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct
from sgwatch.core import names
from sgwatch.core.severity import Severity

from infra.processor import function_code

#: Reading every page of an account's regions, one after another, at EC2's pace: 50,000 rules are about 60 requests
#: a region; the timeout leaves room for throttling waited out.
TIMEOUT = Duration.minutes(15)


class ScheduledScan(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, schedule: str, keep_seconds: int, regions: list[str],
        topic: sns.ITopic, key: kms.IKey, dedup_table: dynamodb.ITable, min_severity: Severity,
        policy: tuple[lambda_.ILayerVersion, str] | None, operations: sns.ITopic,
        members: tuple[str, str, str] | None = None,
    ) -> None:  # fmt: skip
        """`members`, in organization mode: the member StackSet's name, how to call it (SELF or DELEGATED_ADMIN), and
        the read-only role to assume in each member account."""
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sgwatch scheduled scan: read the security groups, remember what it reported, alert",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=list(names.SCAN_PERMISSIONS), resources=["*"]))
        environment = {
            names.ENV_TOPIC_ARN: topic.topic_arn,
            names.ENV_DEDUP_TABLE: dedup_table.table_name,
            names.ENV_SCAN_REGIONS: ",".join(regions),
            names.ENV_SCAN_KEEP_SECONDS: str(keep_seconds),
            names.ENV_SCAN_MIN_SEVERITY: min_severity.name,
        }
        if policy is not None:
            environment[names.ENV_POLICY_FILE] = policy[1]
        if members is not None:
            stack_set, call_as, member_role = members
            environment |= {
                names.ENV_SCAN_STACK_SET: stack_set,
                names.ENV_SCAN_CALL_AS: call_as,
                names.ENV_SCAN_ROLE: member_role,
            }
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["cloudformation:ListStackInstances"],
                    resources=[
                        f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stackset/{stack_set}:*"
                    ],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["sts:AssumeRole"], resources=[f"arn:{Aws.PARTITION}:iam::*:role/{member_role}"]
                )
            )
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
                    f"<AWS::AccountId>:stackset/{stack_set}:*]",
                    reason="a StackSet's ARN ends with an id assigned at creation; the name fixes which one",
                ),
                Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{member_role}]",
                    reason="the read-only audit role of every member account, which the StackSet deploys: the members"
                    " are known only when the scan lists the StackSet's instances",
                ),
            )
        self.function = lambda_.Function(
            self,
            "Function",
            description="sgwatch scheduled scan: alert on open rules that no earlier scan reported",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="sgwatch.runtime.scheduled_scan.lambda_handler",
            code=function_code(self),  # the function's own asset: the same files, the same hash
            layers=[policy[0]] if policy is not None else None,
            role=role,
            memory_size=512,
            timeout=TIMEOUT,
            reserved_concurrent_executions=None,
            log_group=log_group,
            environment=environment,
        )
        topic.grant_publish(self.function)
        key.grant(self.function, "kms:GenerateDataKey*", "kms:Decrypt")
        dedup_table.grant(self.function, "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem")
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"sgwatch scheduled scan, {schedule}",
            schedule=events.Schedule.expression(schedule),
        )
        self.rule.add_target(targets.LambdaFunction(self.function, retry_attempts=2))
        self.alarms = [
            cloudwatch.Alarm(
                self,
                "Failures",
                metric=cloudwatch.Metric(
                    namespace=names.METRIC_NAMESPACE,
                    metric_name=names.METRIC_SCAN_FAILURES,
                    dimensions_map={names.SERVICE_DIMENSION: names.SERVICE},
                    statistic="Sum",
                    period=Duration.hours(1),
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="the scheduled scan could not read a region, or could not publish its alert: its log"
                " says which; the next scan reports what this one could not",
            ),
            cloudwatch.Alarm(
                self,
                "Errors",
                metric=self.function.metric_errors(period=Duration.hours(1), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="the scheduled scan failed (its log has the error): no scan ran",
            ),
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(operations))
        Validations.of(self.function).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-L1", reason="Python 3.13 is the runtime sgwatch is tested on")
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="read-only EC2 Describe and Get calls, most of which support no resource-level permissions",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                reason="publishing to the topic encrypted with this one key; GenerateDataKey* on that key only",
            ),
        )
