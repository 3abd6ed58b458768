"""The function: classifies each change, enriches it from EC2, and publishes alerts. A plain folder asset."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from aws_cdk import Acknowledgment, Annotations, Aws, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from sgwatch.core import names
from sgwatch.core.severity import Severity

from infra.asset import LAMBDA_PYTHON, PYTHON_VARIABLE, lambda_python, stage_function_code

TIMEOUT = Duration.seconds(60)
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/x86_64/python3.13/latest"
#: When a trail is stopped or narrowed, the function asks whether another trail still records (read-only).
#: What the function reads of EC2: the groups a change touched, the interfaces behind them, and the prefix lists a
#: change edited or named (entries, and the groups whose rules reference them). Read-only, in every account it watches.
EC2_READ_ACTIONS = [
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeManagedPrefixLists",
    "ec2:GetManagedPrefixListEntries",
    "ec2:GetManagedPrefixListAssociations",
]
TRAIL_READ_ACTIONS = ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"]


def claim_stale_seconds(visibility_timeout: Duration, batch_window_seconds: int) -> int:
    """How old a pending deduplication claim must be before another invocation may take it over: the buffer's
    visibility timeout less the batching window and the function timeout. An invocation that claimed a change is
    certainly gone by then (it got the message at most a batching window before it started and ran at most the
    timeout), and the message's first redelivery, at the visibility timeout, finds the claim stale."""
    seconds = int(visibility_timeout.to_seconds()) - batch_window_seconds - int(TIMEOUT.to_seconds())
    if seconds <= 0:
        raise ValueError(f"the buffer's visibility timeout leaves no time for a stale claim ({seconds} s)")
    return seconds


def function_code(scope: Construct) -> lambda_.Code:
    """The function's asset, compiled for its runtime when an interpreter of that version is on this machine; when
    not, synth warns, since every cold start then compiles the modules again."""
    if lambda_python() is None:
        version = "{}.{}".format(*LAMBDA_PYTHON)
        Annotations.of(scope).add_warning_v2(
            "sgwatch:no-bytecode",
            f"No Python {version} found: the function ships its modules as source, and every cold start compiles"
            f" them again. Install Python {version}, or name it in ${PYTHON_VARIABLE}.",
        )
    return lambda_.Code.from_asset(str(_staged_function_code()))


@functools.cache
def _staged_function_code() -> Path:
    """Staged once per process: every function and every stack synthesized ships the same files."""
    code = Path(tempfile.mkdtemp(prefix="sgwatch-function-"))
    stage_function_code(code, lambda_python())
    return code


class Processor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        buffer: sqs.IQueue,
        topic: sns.ITopic,
        key: kms.IKey,
        batch_size: int,
        max_concurrency: int,
        batch_window_seconds: int,
        visibility_timeout: Duration,
        reserved_concurrency: int,
        publish_min_severity: Severity,
        log_retention_days: int,
        powertools_layer_arn: str,
        dedup_table: dynamodb.ITable,
        policy_text: str = "",
        security_hub_min_severity: Severity | None = None,
        chat: tuple[sns.ITopic, Severity] | None = None,
        remediate: tuple[tuple[Severity, ...], str, int, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", removal_policy=RemovalPolicy.DESTROY)
        # RetentionDays names its members in words; the days themselves were validated by load_config.
        cfn_log_group = self.log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = log_retention_days
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sgwatch function: write its logs, describe security groups, publish alerts",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=EC2_READ_ACTIONS,
                resources=["*"],  # most support no resource-level permissions; all are read-only
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=TRAIL_READ_ACTIONS, resources=["*"])  # DescribeTrails: no resource level
        )
        layer_arn = powertools_layer_arn or ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_PARAMETER)
        layers = [lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)]
        environment = {
            names.ENV_PUBLISH_MIN_SEVERITY: publish_min_severity.name,
            names.ENV_CONSOLE_DOMAIN: "console.aws.amazon.com",
            names.ENV_DEDUP_TABLE: dedup_table.table_name,
            names.ENV_CLAIM_STALE_SECONDS: str(claim_stale_seconds(visibility_timeout, batch_window_seconds)),
            "POWERTOOLS_SERVICE_NAME": names.SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": names.METRIC_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        if chat is not None:
            environment[names.ENV_CHAT_TOPIC_ARN] = chat[0].topic_arn
            environment[names.ENV_CHAT_MIN_SEVERITY] = chat[1].name
        if remediate is not None:
            severities, mode, per_hour, tag = remediate
            environment[names.ENV_REMEDIATE] = ",".join(severity.name for severity in severities)
            environment[names.ENV_REMEDIATE_MODE] = mode
            environment[names.ENV_REMEDIATE_MAX_PER_HOUR] = str(per_hour)
            if tag:
                environment[names.ENV_REMEDIATE_TAG] = tag
            if mode == "enforce":  # dry-run needs no more than it had
                # Security groups of this account only; rule ids are chosen by the function from the record.
                tag_key, _, tag_value = tag.partition("=")
                self.role.add_to_policy(
                    iam.PolicyStatement(
                        actions=["ec2:RevokeSecurityGroupIngress"],
                        resources=[
                            Stack.of(self).format_arn(
                                service="ec2", region="*", resource="security-group", resource_name="*"
                            )
                        ],
                        conditions={"StringEquals": {f"aws:ResourceTag/{tag_key}": tag_value}} if tag else None,
                    )
                )
                # A revoke by rule id may be authorized on the rule too (untagged: the group's tag decides above).
                self.role.add_to_policy(
                    iam.PolicyStatement(
                        actions=["ec2:RevokeSecurityGroupIngress"],
                        resources=[
                            Stack.of(self).format_arn(
                                service="ec2", region="*", resource="security-group-rule", resource_name="*"
                            )
                        ],
                    )
                )
                Validations.of(self.role).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:"
                        "security-group-rule/*]",
                        reason="the rules a change added are revoked by their ids, which the function reads from the"
                        " record; only this account's rules",
                    ),
                    Acknowledgment(
                        id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:"
                        "security-group/*]",
                        reason="remediation revokes the rules a change added, on the group the change named, in any"
                        " watched region of this account; only this account's groups",
                    ),
                )
        if security_hub_min_severity is not None:
            environment[names.ENV_SECURITY_HUB_MIN_SEVERITY] = security_hub_min_severity.name
            # Findings under this account's default product, in any region a change comes from; nothing else.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["securityhub:BatchImportFindings"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="securityhub",
                            region="*",
                            resource="product",
                            resource_name=f"{Aws.ACCOUNT_ID}/default",
                        )
                    ],
                )
            )
            Validations.of(self.role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:securityhub:*:<AWS::AccountId>:"
                    "product/<AWS::AccountId>/default]",
                    reason="only this account's default product; the region is the change's (forwarded regions too),"
                    " and a finding is imported in its own region",
                )
            )
        #: The policy's layer and where a function finds it: the scheduled scan applies the same policy.
        self.policy: tuple[lambda_.ILayerVersion, str] | None = None
        if policy_text:
            # The validated policy travels as a small layer: the function reads it at /opt on its first invocation.
            staging = Path(tempfile.mkdtemp(prefix="sgwatch-policy-"))
            (staging / names.POLICY_LAYER_PATH).parent.mkdir(parents=True)
            (staging / names.POLICY_LAYER_PATH).write_text(policy_text)
            policy_layer = lambda_.LayerVersion(
                self,
                "Policy",
                code=lambda_.Code.from_asset(str(staging)),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
                description="sgwatch policy",
            )
            layers.append(policy_layer)
            environment[names.ENV_POLICY_FILE] = f"/opt/{names.POLICY_LAYER_PATH}"
            self.policy = (policy_layer, environment[names.ENV_POLICY_FILE])
        self.function = lambda_.Function(
            self,
            "Function",
            description="sgwatch: classify security-group changes and publish alerts",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.X86_64,
            handler="sgwatch.runtime.handler.lambda_handler",
            code=function_code(self),
            layers=layers,
            role=self.role,
            memory_size=256,
            timeout=TIMEOUT,
            # 0 leaves the function on the account's unreserved pool (load_config keeps a reserve >= maxConcurrency).
            reserved_concurrent_executions=reserved_concurrency or None,
            log_group=self.log_group,
            environment={names.ENV_TOPIC_ARN: topic.topic_arn, **environment},
        )
        topic.grant_publish(self.function)
        if chat is not None:
            chat[0].grant_publish(self.function)
        dedup_table.grant(self.function, "dynamodb:PutItem", "dynamodb:BatchWriteItem")  # claim; settle
        if remediate is not None and remediate[1] == "enforce":
            dedup_table.grant(self.function, "dynamodb:UpdateItem")  # the circuit breaker's count
        key.grant(self.function, "kms:GenerateDataKey*", "kms:Decrypt")
        self.function.add_event_source(
            sources.SqsEventSource(
                buffer,
                batch_size=batch_size,
                max_batching_window=Duration.seconds(batch_window_seconds),
                report_batch_item_failures=True,
                # Unlike reserved concurrency, this throttles the poller, not the function: a burst waits in the
                # buffer instead of coming back as throttled receives that count towards the dead-letter queue.
                max_concurrency=max_concurrency,
            )
        )
