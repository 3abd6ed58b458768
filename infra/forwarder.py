"""The forwarder: the very same rule as the home rule, whose target is the home bus. One construct (Forwarder) for
the forwarder stacks in the home account's other regions and for the organization's member stack.

EventBridge rules are regional; without forwarders the monitor is blind outside its home region (and, in organization
mode, outside the central account). Forwarders exist only outside the home region (the member stack's resources carry
a condition that leaves them out there), so events cannot loop.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.compliance import ComplianceLogs, SecurityGroupRecorder
from infra.detection import encrypted_queue, guard_rule_pattern, rule_pattern
from infra.heartbeat import Canary
from infra.monitoring import failed_invocations_of, threshold_alarm, waiting_messages

# A forwarder's own trouble (events it could not deliver) raises an alarm where it runs; the alarm's state changes
# are forwarded like the changes, and the home stack sends them to its operations topic. Names shared by both sides:
ALARM_EVENT_SOURCE = "aws.cloudwatch"
ALARM_EVENT_DETAIL_TYPE = "CloudWatch Alarm State Change"
FORWARDER_ALARMS = {
    "undelivered": "events wait in the forwarder's undelivered-events queue: they did not reach the home bus",
    "failed-invocations": "the forwarder rule could not deliver events to the home bus",
}


# The construct id of the forwarder in ForwarderStack (see there).
FORWARDER_ID = "Default"


def forwarder_alarm_prefix(home_stack_name: str) -> str:
    return f"{home_stack_name}-forwarder-"


def forwarder_alarm_name(home_stack_name: str, region: str, alarm: str) -> str:
    return f"{forwarder_alarm_prefix(home_stack_name)}{region}-{alarm}"


# Names that policies refer to (a role's trust, the central bus's policy): known at synth, so no cycle and no token.
def forwarder_rule_name(home_stack_name: str) -> str:
    """The forwarder rule, in each region (and member account) that forwards."""
    return f"{home_stack_name}-forwarder"


def forwarder_guard_rule_name(home_stack_name: str) -> str:
    """The rule beside it that forwards the calls that can blind the monitor (the guard rule's pattern)."""
    return f"{home_stack_name}-forwarder-guard"


def forwarder_alarm_rule_name(home_stack_name: str) -> str:
    """The rule beside it that forwards the forwarder's alarms."""
    return f"{home_stack_name}-forwarder-alarms"


def forwarder_role_name(home_stack_name: str, region: str) -> str:
    """A member's forwarder role in one region (IAM is global: one name per region); `region` may be
    "${AWS::Region}" inside a template."""
    return f"{home_stack_name}-forwarder-{region}"


def forwarder_role_pattern(home_stack_name: str) -> str:
    """Every member forwarder role's name, for an ArnLike condition."""
    return forwarder_role_name(home_stack_name, "*")


class Forwarder(Construct):
    """The forwarder rule (sgwatch's pattern) to the home bus, with its role and dead-letter queue, and optionally its
    alarms and the rule that forwards their state changes home. One construct for both forwarders: the regional
    stacks of one account (ForwarderStack) and the organization's member stack (infra.organization.MemberStack).

    Forwarded events keep their source and detail, so the home rule matches them as its own; a forwarder targets a
    bus, never a rule that forwards again, so events cannot loop.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, home_bus_arn: str, home_bus_name: str, destination: str,
        home_stack_name: str, monitor: str, enabled: bool, alarms: bool = True, role_name: str | None = None,
        extra_alarms: dict[str, cloudwatch.Alarm] | None = None,
    ) -> None:  # fmt: skip
        """`destination` says where the home bus is, in descriptions: the home region, or the central account.
        `role_name`: a name for the role, when the home bus's policy admits senders by role name."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.undelivered = encrypted_queue(self, "UndeliveredEvents", retention_period=Duration.days(14))
        # The rules are named so that the role can trust exactly them (aws:SourceArn) without a reference cycle.
        rule_names = [forwarder_rule_name(home_stack_name), forwarder_guard_rule_name(home_stack_name)]
        if alarms:
            rule_names.append(forwarder_alarm_rule_name(home_stack_name))
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {
                        "aws:SourceArn": [
                            stack.format_arn(service="events", resource="rule", resource_name=name)
                            for name in rule_names
                        ]
                    },
                }
            ),
            description=f"sgwatch forwarder: put security-group events on the {home_bus_name} bus of {destination}",
        )
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=rule_names[0],
            description=f"sgwatch: forward CloudTrail events of security-group changes to {destination}",
            enabled=enabled,
            event_pattern=rule_pattern(monitor),
        )
        home_bus = events.EventBus.from_event_bus_arn(self, "HomeBus", home_bus_arn)
        self.rule.add_target(targets.EventBus(home_bus, dead_letter_queue=self.undelivered, role=self.role))
        # Always enabled: the calls that can blind the monitor go home even where detection is switched off.
        self.guard_rule = events.Rule(
            self,
            "GuardRule",
            rule_name=rule_names[1],
            description=f"sgwatch: forward the calls that can blind the monitor to {destination}",
            event_pattern=guard_rule_pattern(),
        )
        self.guard_rule.add_target(targets.EventBus(home_bus, dead_letter_queue=self.undelivered, role=self.role))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.alarm_rule: events.Rule | None = None
        if alarms:
            self._add_alarms(home_bus, home_stack_name, destination, rule_names[2], extra_alarms or {})
        Validations.of(self.undelivered).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason="this queue is itself a dead-letter queue")
        )

    def _add_alarms(
        self, home_bus: events.IEventBus, home_stack_name: str, destination: str, rule_name: str,
        extra_alarms: dict[str, cloudwatch.Alarm],
    ) -> None:  # fmt: skip
        """The forwarder's own trouble raises an alarm where it runs; a second rule forwards the alarms' state changes
        home, where the home stack sends them to its operations topic (ForwarderAlarms)."""
        metrics = {
            "undelivered": waiting_messages(self.undelivered),
            "failed-invocations": failed_invocations_of([(self.rule, None), (self.guard_rule, None)]),
        }
        region = Stack.of(self).region  # "${AWS::Region}" in the member stack, deployed in every region
        self.alarms = {
            alarm: threshold_alarm(
                self,
                f"Alarm-{alarm}",
                metrics[alarm],
                description,
                alarm_name=forwarder_alarm_name(home_stack_name, region, alarm),
            )
            for alarm, description in FORWARDER_ALARMS.items()
        }
        self.alarms.update(extra_alarms)  # alarms of the region's other sgwatch parts (the heartbeat canary)
        self.alarm_rule = events.Rule(
            self,
            "AlarmRule",
            rule_name=rule_name,
            description=f"sgwatch: forward the forwarder's alarms to {destination}",
            event_pattern=events.EventPattern(
                source=[ALARM_EVENT_SOURCE],
                detail_type=[ALARM_EVENT_DETAIL_TYPE],
                resources=[alarm.alarm_arn for alarm in self.alarms.values()],
            ),
        )
        self.alarm_rule.add_target(targets.EventBus(home_bus, dead_letter_queue=self.undelivered, role=self.role))


def region_canary(
    scope: Construct, home_stack_name: str, region: str, minutes: int, errors_alarm: bool = True
) -> tuple[Canary | None, dict[str, cloudwatch.Alarm]]:
    """A forwarding region's heartbeat canary (none when minutes is 0), and its errors alarm named as the forwarder's
    own, so that the forwarder's alarm rule sends it home with them."""
    if not minutes:
        return None, {}
    canary = Canary(
        scope,
        "Canary",
        stack_name=home_stack_name,
        interval_minutes=minutes,
        alarm_name=forwarder_alarm_name(home_stack_name, region, "canary-errors"),
        errors_alarm=errors_alarm,
    )
    return canary, {"canary-errors": canary.errors_alarm} if canary.errors_alarm is not None else {}


class ForwarderStack(Stack):
    """A forwarder for one region of the home account: the rule whose target is the home region's bus."""

    def __init__(
        self, scope: Construct, construct_id: str, *, home_region: str, home_stack_name: str, monitor: str,
        enabled: bool, home_bus_name: str = "default", record_security_groups: bool = False,
        compliance_log_days: int = 365, heartbeat_minutes: int = 0, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(
            scope, construct_id, description=f"sgwatch: forwards security-group changes to {home_region}", **kwargs
        )
        self.canary, extra_alarms = region_canary(self, home_stack_name, self.region, heartbeat_minutes)
        # "Default": a construct id that CDK leaves out of logical ids, so the forwarder's resources keep those they
        # had when this stack declared them itself. New ids would make CloudFormation create the named rules and
        # alarms again, then delete the old ones by the same names.
        self.forwarder = Forwarder(
            self,
            FORWARDER_ID,
            extra_alarms=extra_alarms,
            home_bus_arn=f"arn:{Aws.PARTITION}:events:{home_region}:{Aws.ACCOUNT_ID}:event-bus/{home_bus_name}",
            home_bus_name=home_bus_name,
            destination=home_region,
            home_stack_name=home_stack_name,
            monitor=monitor,
            enabled=enabled,
        )
        if record_security_groups:  # AWS Config is regional: the opt-in recorder goes wherever sgwatch watches
            logs = ComplianceLogs(self, "ComplianceLogs", expiration_days=compliance_log_days)
            SecurityGroupRecorder(self, "SecurityGroupRecorder", bucket=logs.bucket)


class ForwarderAlarms(Construct):
    """Alarms of the forwarders in other regions (and, in organization mode, other accounts) arrive on the home bus
    like the changes they forward; this rule sends those that enter ALARM to the operations topic, saying where."""

    def __init__(
        self, scope: Construct, construct_id: str, *, operations: sns.ITopic, key: kms.IKey, alarm_prefix: str,
        dead_letter_queue: sqs.IQueue, bus: events.IEventBus | None = None,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,  # where the forwarders send: the default bus, or the organization's bus
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
        # EventBridge publishes to the encrypted operations topic: it must be able to use the topic's key. Unlike
        # CloudWatch's grant, no aws:SourceAccount here: AWS documents no such key on the KMS request SNS makes for
        # EventBridge, and a condition on an absent key would drop every forwarder alarm without a trace.
        key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
