"""The detection rule: EventBridge catches the CloudTrail events of security-group calls into an encrypted buffer."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from sgwatch.core.events import event_pattern
from sgwatch.core.tamper import guard_pattern


def _cdk_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"])


def rule_pattern(monitor: str) -> events.EventPattern:
    """sgwatch's pattern (sgwatch.core.events.event_pattern) as CDK takes it; the home rule and forwarders share it."""
    return _cdk_pattern(event_pattern(monitor))


def guard_rule_pattern() -> events.EventPattern:
    """The guard rule's pattern (sgwatch.core.tamper.guard_pattern): the calls that can blind the monitor."""
    return _cdk_pattern(guard_pattern())


def encrypted_queue(scope: Construct, construct_id: str, **kwargs: Any) -> sqs.Queue:
    return sqs.Queue(scope, construct_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, **kwargs)


class Detection(Construct):
    """Rule -> buffer queue, with the target's retry policy and a dead-letter queue for undeliverable events."""

    def __init__(self, scope: Construct, construct_id: str, *, enabled: bool, monitor: str, max_receive_count: int,
                 visibility_timeout: Duration) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.buffer_dead_letters = encrypted_queue(self, "BufferDeadLetters", retention_period=Duration.days(14))
        self.buffer = encrypted_queue(
            self,
            "Buffer",
            visibility_timeout=visibility_timeout,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=max_receive_count, queue=self.buffer_dead_letters),
        )
        self.undelivered = encrypted_queue(self, "UndeliveredEvents", retention_period=Duration.days(14))
        self._enabled, self._monitor = enabled, monitor
        self.rule = self._rule("Rule", "sgwatch: CloudTrail events of security-group changes", None)
        # The guard rule beside it: the calls that can blind the monitor, into the same buffer, always enabled (a
        # monitor switched off with enabled=false must still say when someone tampers with it).
        self.guard_rule = self._rule("GuardRule", "sgwatch: calls that can blind the monitor", None, guard=True)
        self.rules: list[tuple[events.Rule, events.IEventBus | None]] = [(self.rule, None), (self.guard_rule, None)]
        self.detection_rules, self.guard_rules = [self.rule], [self.guard_rule]

    def listen_on(self, bus: events.IEventBus) -> events.Rule:
        """The same rules and target on another bus of this account and region (a rule belongs to one bus): the
        organization's bus, where the members' forwarders send."""
        rule = self._rule("ForwardedRule", "sgwatch: CloudTrail events of security-group changes, forwarded", bus)
        guard = self._rule(
            "ForwardedGuardRule", "sgwatch: calls that can blind the monitor, forwarded", bus, guard=True
        )
        self.rules += [(rule, bus), (guard, bus)]
        self.detection_rules.append(rule)
        self.guard_rules.append(guard)
        return rule

    def _rule(
        self, construct_id: str, description: str, bus: events.IEventBus | None, guard: bool = False
    ) -> events.Rule:
        rule = events.Rule(
            self,
            construct_id,
            description=description,
            enabled=True if guard else self._enabled,
            event_bus=bus,
            event_pattern=guard_rule_pattern() if guard else rule_pattern(self._monitor),
        )
        rule.add_target(
            targets.SqsQueue(
                self.buffer,
                dead_letter_queue=self.undelivered,
                retry_attempts=185,
                max_event_age=Duration.hours(24),
            )
        )
        return rule
