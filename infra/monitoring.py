"""sgwatch watching itself: alarms to the operations topic, and a dashboard of what it saw."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from sgwatch import names
from sgwatch.events import monitored_event_names
from sgwatch.severity import Severity

from infra.forwarder import ALARM_EVENT_DETAIL_TYPE, ALARM_EVENT_SOURCE

PERIOD = Duration.minutes(5)
OLDEST_MESSAGE_ALARM_SECONDS = 300
SHOWN_SEVERITIES = [severity for severity in Severity if severity is not Severity.NONE]


def sgwatch_metric(name: str, statistic: str = "Sum", dimensions: dict[str, str] | None = None) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=names.METRIC_NAMESPACE,
        metric_name=name,
        dimensions_map={names.SERVICE_DIMENSION: names.SERVICE, **(dimensions or {})},
        statistic=statistic,
        period=PERIOD,
    )


HIGH_AND_CRITICAL_QUERY = "\n".join(
    [
        "fields @timestamp, result.severity as severity, result.eventName as event, result.actor as actor,",
        "  result.groupIds.0 as group, result.region as region, result.reasons.0 as reason",
        '| filter message = "security-group change"',
        '| filter result.severity = "CRITICAL" or result.severity = "HIGH"',
        "| sort @timestamp desc",
        "| limit 50",
    ]
)


LOWERED_QUERY = "\n".join(
    [
        "fields @timestamp, result.severity as severity, result.eventName as event, result.groupIds.0 as group,",
        "  result.reasons.0 as reason",
        '| filter message = "security-group change" and reason like /lowered to|no longer counts/',
        "| sort @timestamp desc",
        "| limit 50",
    ]
)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        log_group: logs.ILogGroup,
        rule: events.Rule,
        buffer: sqs.Queue,
        dead_letter_queues: list[sqs.Queue],
        operations: sns.ITopic,
        regions: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(operations)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            created = cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        alarm("FunctionErrors", function.metric_errors(period=PERIOD), 1, "the function failed; changes may be delayed")
        alarm("FunctionThrottles", function.metric_throttles(period=PERIOD), 1, "the function was throttled")
        for queue in dead_letter_queues:
            alarm(
                f"{queue.node.id}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                1,
                f"events are waiting in {queue.node.id}: they were not processed; redrive them after the fix",
            )
        alarm(
            "BufferBacklog",
            buffer.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            OLDEST_MESSAGE_ALARM_SECONDS,
            "changes wait more than five minutes in the buffer: alerts are late",
        )
        alarm(
            "RuleFailedInvocations",
            cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="FailedInvocations",
                dimensions_map={"RuleName": rule.rule_name},
                statistic="Sum",
                period=PERIOD,
            ),
            1,
            "EventBridge could not deliver events to the buffer (they go to the undelivered-events queue)",
        )
        alarm(
            "ClassificationErrors",
            sgwatch_metric(names.METRIC_CLASSIFICATION_ERRORS),
            1,
            "a security-group record could not be read; it was alerted with the raw record",
        )
        alarm(
            "PublishFailures",
            sgwatch_metric(names.METRIC_PUBLISH_FAILURES),
            1,
            "alerts could not be published; their records are retried, then dead-lettered",
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-sgwatch")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Security-group changes by severity",
                left=[
                    sgwatch_metric(names.METRIC_CHANGES, dimensions={names.SEVERITY_DIMENSION: severity.name}).with_(
                        label=severity.name
                    )
                    for severity in reversed(SHOWN_SEVERITIES)
                ],
                stacked=True,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Security-group changes by event",
                left=[
                    sgwatch_metric(names.METRIC_CHANGES_BY_EVENT, dimensions={names.EVENT_NAME_DIMENSION: name}).with_(
                        label=name
                    )
                    for name in monitored_event_names()
                ],
                stacked=True,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Security-group changes by region",
                left=[
                    sgwatch_metric(names.METRIC_CHANGES_BY_REGION, dimensions={names.REGION_DIMENSION: region}).with_(
                        label=region
                    )
                    for region in regions
                ],
                stacked=True,
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Alerts",
                left=[
                    sgwatch_metric(names.METRIC_ALERTS_PUBLISHED).with_(label="published"),
                    sgwatch_metric(names.METRIC_ALERTS_SUPPRESSED).with_(label="below the publish threshold"),
                    sgwatch_metric(names.METRIC_PUBLISH_FAILURES).with_(label="publish failures"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Detection latency (event to alert)",
                left=[
                    sgwatch_metric(names.METRIC_DETECTION_LATENCY, "p50").with_(label="p50"),
                    sgwatch_metric(names.METRIC_DETECTION_LATENCY, "p99").with_(label="p99"),
                ],
                left_y_axis=cloudwatch.YAxisProps(label="ms", show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    sgwatch_metric(names.METRIC_CLASSIFICATION_ERRORS).with_(label="unreadable records"),
                    sgwatch_metric(names.METRIC_ENRICHMENT_FAILURES).with_(label="enrichment failures"),
                    function.metric_errors(period=PERIOD).with_(label="function errors"),
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function duration",
                left=[
                    function.metric_duration(period=PERIOD, statistic="p50").with_(label="p50"),
                    function.metric_duration(period=PERIOD, statistic="p99").with_(label="p99"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dead letters and backlog",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum").with_(
                        label=queue.node.id
                    )
                    for queue in dead_letter_queues
                ],
                right=[
                    buffer.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum").with_(
                        label="oldest buffered change (s)"
                    )
                ],
                width=8,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Noise control: lowered, suppressed, deduplicated",
                left=[
                    sgwatch_metric(names.METRIC_LOWERED_BY_POLICY).with_(label="lowered by the policy"),
                    sgwatch_metric(names.METRIC_ALERTS_SUPPRESSED).with_(label="below the publish threshold"),
                    sgwatch_metric(names.METRIC_DUPLICATES_SUPPRESSED).with_(label="duplicates not re-alerted"),
                    sgwatch_metric(names.METRIC_DEDUP_FAILURES).with_(label="deduplication store unavailable"),
                ],
                width=12,
            ),
            cloudwatch.LogQueryWidget(
                title="What the policy lowered, and which entry did",
                log_group_names=[log_group.log_group_name],
                query_string=LOWERED_QUERY,
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Latest HIGH and CRITICAL changes",
                log_group_names=[log_group.log_group_name],
                query_string=HIGH_AND_CRITICAL_QUERY,
                width=24,
                height=8,
            )
        )
        region = Stack.of(self).region
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={self.dashboard.dashboard_name}",
        )


class ForwarderAlarms(Construct):
    """Alarms of the forwarders in other regions (and, in organization mode, other accounts) arrive on the home bus
    like the changes they forward; this rule sends those that enter ALARM to the operations topic, saying where."""

    def __init__(
        self, scope: Construct, construct_id: str, *, operations: sns.ITopic, key: kms.IKey, alarm_prefix: str,
        dead_letter_queue: sqs.IQueue,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="sgwatch: forwarder alarms from other regions and accounts, to the operations topic",
            event_pattern=events.EventPattern(
                source=[ALARM_EVENT_SOURCE],
                detail_type=[ALARM_EVENT_DETAIL_TYPE],
                detail={"alarmName": [{"prefix": alarm_prefix}], "state": {"value": ["ALARM"]}},
            ),
        )
        field = events.EventField.from_path
        message = (
            f"sgwatch forwarder alarm {field('$.detail.alarmName')} in account {field('$.account')},"
            f" region {field('$.region')}: {field('$.detail.state.reason')}. Changes made there may not be alerted;"
            " run `sgwatch audit` for that account and region."
        )
        self.rule.add_target(
            targets.SnsTopic(
                operations, message=events.RuleTargetInput.from_text(message), dead_letter_queue=dead_letter_queue
            )
        )
        # EventBridge publishes to the encrypted operations topic: it must be able to use the topic's key.
        key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
