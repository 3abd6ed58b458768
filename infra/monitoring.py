"""sgwatch watching itself: alarms to the operations topic, and a dashboard of what it saw."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from sgwatch.core import names
from sgwatch.core.events import monitored_event_names
from sgwatch.core.heartbeat import alarm_period_minutes
from sgwatch.core.severity import Severity

PERIOD = Duration.minutes(5)
OLDEST_MESSAGE_ALARM_SECONDS = 300
SHOWN_SEVERITIES = [severity for severity in Severity if severity is not Severity.NONE]


def threshold_alarm(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str, *, threshold: float = 1,
    alarm_name: str | None = None,
) -> cloudwatch.Alarm:  # fmt: skip
    """An alarm when the metric reaches the threshold in one period; no data is no breach."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )


def failed_invocations(rule: events.IRule, bus: events.IEventBus | None = None) -> cloudwatch.Metric:
    """Events the rule could not deliver to its target. A rule on a custom bus reports with the bus's name too."""
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name="FailedInvocations",
        dimensions_map={"RuleName": rule.rule_name, **({"EventBusName": bus.event_bus_name} if bus else {})},
        statistic="Sum",
        period=PERIOD,
    )


def failed_invocations_of(rules: Sequence[tuple[events.IRule, events.IEventBus | None]]) -> cloudwatch.IMetric:
    """Events any of the rules (each on its bus, None: the default bus) could not deliver: one alarm for the
    detection rule on every bus it listens on."""
    if len(rules) == 1:
        return failed_invocations(*rules[0])
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL(rule{index}, 0)" for index in range(len(rules))),
        using_metrics={f"rule{index}": failed_invocations(*rule) for index, rule in enumerate(rules)},
        label="FailedInvocations",
        period=PERIOD,
    )


def waiting_messages(queue: sqs.IQueue) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")


def sgwatch_metric(name: str, statistic: str = "Sum", dimensions: dict[str, str] | None = None) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=names.METRIC_NAMESPACE,
        metric_name=name,
        dimensions_map={names.SERVICE_DIMENSION: names.SERVICE, **(dimensions or {})},
        statistic=statistic,
        period=PERIOD,
    )


def changes_by(
    what: str, metric: str, dimension: str, values: Sequence[str], *, title: str = "", width: int = 12
) -> cloudwatch.GraphWidget:
    """A stacked graph of one of the function's change counts, a line per value of its dimension."""
    return cloudwatch.GraphWidget(
        title=title or f"Security-group changes by {what}",
        left=[sgwatch_metric(metric, dimensions={dimension: value}).with_(label=value) for value in values],
        stacked=True,
        width=width,
    )


HIGH_AND_CRITICAL_QUERY = "\n".join(
    [
        "fields @timestamp, result.severity as severity, result.eventName as event, result.actor as actor,",
        "  result.groupIds.0 as group, result.region as region, result.reasons.0 as reason",
        f'| filter message = "{names.LOG_CHANGE}"',
        '| filter result.severity = "CRITICAL" or result.severity = "HIGH"',
        "| sort @timestamp desc",
        "| limit 50",
    ]
)


#: The function logs each result with `loweredBy`, the policy entries that lowered any of its verdicts (or whose
#: approval has expired), early in the result: Logs Insights cannot look through every verdict, but it sees this list
#: whatever the position of the lowered verdict. The verdicts' own `loweredBy` in `findings` say how.
LOWERED_QUERY = "\n".join(
    [
        "fields @timestamp, result.severity as severity, result.eventName as event, result.groupIds.0 as group,",
        "  result.loweredBy.0 as policy_entry, result.reasons.0 as reason",
        '| filter message = "security-group change" and ispresent(result.loweredBy.0)',
        "| sort @timestamp desc",
        "| limit 50",
    ]
)


HEARTBEAT_QUERY = "\n".join(
    [
        f'filter message = "{names.LOG_HEARTBEAT}"',
        "| stats max(@timestamp) as last_heartbeat, count(*) as heartbeats by region",
        "| sort last_heartbeat asc",
    ]
)

TAMPER_QUERY = "\n".join(
    [
        "fields @timestamp, result.severity as severity, result.eventName as event, result.resource.name as resource,",
        "  result.actor as actor, result.reasons.0 as reason",
        f'| filter message = "{names.LOG_TAMPER}"',
        "| sort @timestamp desc",
        "| limit 50",
    ]
)


def heartbeat_alarm(scope: Construct, name: str, region: str, interval_minutes: int) -> cloudwatch.Alarm:
    """No heartbeat from `region` within two intervals and the delivery allowance: whatever the cause (a trail
    stopped or deleted, a forwarder broken, an SCP, an outage), changes made there are not seen. No data is a breach:
    a region that never sent one, or stopped, is exactly what this alarm is for."""
    period = alarm_period_minutes(interval_minutes)
    return cloudwatch.Alarm(
        scope,
        f"Heartbeat-{name}",
        metric=sgwatch_metric(names.METRIC_HEARTBEATS, dimensions={names.REGION_DIMENSION: region}).with_(
            period=Duration.minutes(period)
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        alarm_description=(
            f"no sgwatch heartbeat from {region} for {period} minutes: changes made there are not being seen"
            f" (trail, forwarder, rule, function or an outage); run `sgwatch audit --region {region}`"
        ),
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        log_group: logs.ILogGroup,
        rules: Sequence[tuple[events.IRule, events.IEventBus | None]],
        buffer: sqs.Queue,
        dead_letter_queues: list[sqs.Queue],
        operations: sns.ITopic,
        regions: list[str],
        heartbeat_regions: Sequence[str] = (),
        heartbeat_minutes: int = 0,
        member_heartbeats: bool = False,
        security_hub: bool = False,
        remediation: bool = False,
        chat: sns.ITopic | None = None,
    ) -> None:
        """`heartbeat_regions`: where a canary beats every `heartbeat_minutes`; each gets an alarm when none arrives
        (the home region's name may be a token: its alarm's id is Heartbeat-home)."""
        super().__init__(scope, construct_id)
        action = actions.SnsAction(operations)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
            created = threshold_alarm(self, alarm_id, metric, description, threshold=threshold)
            created.add_alarm_action(action)
            self.alarms.append(created)

        alarm("FunctionErrors", function.metric_errors(period=PERIOD), 1, "the function failed; changes may be delayed")
        alarm("FunctionThrottles", function.metric_throttles(period=PERIOD), 1, "the function was throttled")
        for queue in dead_letter_queues:
            alarm(
                f"{queue.node.id}NotEmpty",
                waiting_messages(queue),
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
            failed_invocations_of(rules),
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

        if chat is not None:
            alarm(
                "ChatPublishFailures",
                sgwatch_metric(names.METRIC_CHAT_FAILURES),
                1,
                "chat notifications could not be published to the chat topic; the alerts went out by SNS email",
            )
            alarm(
                "ChatDeliveryFailures",
                chat.metric_number_of_notifications_failed(period=PERIOD, statistic="Sum"),
                1,
                "the chat topic could not deliver to the chat channel (is the Slack workspace or Teams tenant still"
                " authorized?); the alerts went out by SNS email",
            )
        if security_hub:
            alarm(
                "FindingImportFailures",
                sgwatch_metric(names.METRIC_FINDING_IMPORT_FAILURES),
                1,
                "Security Hub refused findings or could not be reached (is it enabled in the change's region?); the"
                " alerts went out by SNS",
            )
        if remediation:
            alarm(
                "RevocationsHeld",
                sgwatch_metric(names.METRIC_REVOCATIONS_HELD),
                1,
                "the remediation circuit breaker held a revocation: more added rules than the hour's limit were to be"
                " revoked (a storm, or a loop with another automation); the alerts say which rules stayed",
            )
        alarm(
            "Tampering",
            sgwatch_metric(names.METRIC_TAMPER_EVENTS, dimensions={names.SEVERITY_DIMENSION: "CRITICAL"}),
            1,
            "a call blinded the monitor (a trail stopped, sgwatch's rule, function, key or topic disabled or"
            " deleted): the alert topic has the details, unless the call removed it",
        )

        for index, region in enumerate(heartbeat_regions if heartbeat_minutes else ()):
            created = heartbeat_alarm(self, "home" if index == 0 else region, region, heartbeat_minutes)
            created.add_alarm_action(action)
            self.alarms.append(created)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-sgwatch")
        self.dashboard.add_widgets(
            changes_by(
                "severity",
                names.METRIC_CHANGES,
                names.SEVERITY_DIMENSION,
                [severity.name for severity in reversed(SHOWN_SEVERITIES)],
            ),
            changes_by("event", names.METRIC_CHANGES_BY_EVENT, names.EVENT_NAME_DIMENSION, monitored_event_names()),
            changes_by("region", names.METRIC_CHANGES_BY_REGION, names.REGION_DIMENSION, regions),
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
                left=[waiting_messages(queue).with_(label=queue.node.id) for queue in dead_letter_queues],
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
            changes_by(
                "severity",
                names.METRIC_TAMPER_EVENTS,
                names.SEVERITY_DIMENSION,
                [severity.name for severity in reversed(SHOWN_SEVERITIES)],
                title="Monitor health: calls that can blind the monitor, by severity",
                width=8,
            ),
            cloudwatch.LogQueryWidget(
                title="Latest calls that can blind the monitor",
                log_group_names=[log_group.log_group_name],
                query_string=TAMPER_QUERY,
                width=16,
            ),
        )
        if heartbeat_minutes:
            self.dashboard.add_widgets(
                changes_by(
                    "region",
                    names.METRIC_HEARTBEATS,
                    names.REGION_DIMENSION,
                    list(heartbeat_regions),
                    title=f"Monitor health: heartbeats by region (one every {heartbeat_minutes} minutes each)",
                ),
                cloudwatch.LogQueryWidget(
                    title="Monitor health: the last heartbeat of each region",
                    log_group_names=[log_group.log_group_name],
                    query_string=HEARTBEAT_QUERY,
                    width=12,
                ),
            )
        if heartbeat_minutes and member_heartbeats:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Monitor health: member regions without a heartbeat (the watchdog's count)",
                    left=[
                        sgwatch_metric(names.METRIC_HEARTBEATS_MISSING, "Maximum").with_(label="member regions missing")
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Monitor health: member heartbeats by account and region",
                    left=[
                        cloudwatch.MathExpression(
                            expression=(
                                f"SEARCH('{{{names.METRIC_NAMESPACE},{names.SERVICE_DIMENSION},"
                                f'{names.SOURCE_DIMENSION}}} MetricName="{names.METRIC_MEMBER_HEARTBEATS}"\','
                                " 'Sum', 300)"
                            ),
                            label="",
                            period=PERIOD,
                        )
                    ],
                    width=12,
                ),
            )
        outputs = [
            sgwatch_metric(name).with_(label=label)
            for enabled, name, label in (
                (security_hub, names.METRIC_FINDINGS_IMPORTED, "Security Hub findings imported"),
                (security_hub, names.METRIC_FINDING_IMPORT_FAILURES, "Security Hub findings not imported"),
                (chat, names.METRIC_CHAT_FAILURES, "chat notifications not published"),
            )
            if enabled
        ]
        if outputs:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(title="Other outputs: Security Hub and chat", left=outputs, width=24)
            )
        if remediation:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Remediation: rules revoked, dry-runs, refusals, held by the circuit breaker",
                    left=[
                        sgwatch_metric(name).with_(label=label)
                        for name, label in (
                            (names.METRIC_RULES_REVOKED, "revoked"),
                            (names.METRIC_REVOCATIONS_DRY_RUN, "dry-run: would revoke"),
                            (names.METRIC_REVOCATIONS_REFUSED, "left alone (policy, break-glass, no rule id)"),
                            (names.METRIC_REVOCATIONS_HELD, "held by the circuit breaker"),
                        )
                    ],
                    width=24,
                )
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
