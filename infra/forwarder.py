"""A forwarder stack for one region: the very same rule, whose target is the home region's default event bus.

EventBridge rules are regional; without these the monitor is blind outside its home region. Forwarded events keep
their source and detail, so the home rule matches them as its own; forwarders exist only outside the home region and
target a bus, never a rule that forwards again, so events cannot loop.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Aws, Duration, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.detection import encrypted_queue, rule_pattern


class ForwarderStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, home_region: str, monitor: str, enabled: bool, **kwargs: Any
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"sgwatch: forwards security-group changes to {home_region}", **kwargs
        )
        home_bus_arn = f"arn:{Aws.PARTITION}:events:{home_region}:{Aws.ACCOUNT_ID}:event-bus/default"
        self.undelivered = encrypted_queue(self, "UndeliveredEvents", retention_period=Duration.days(14))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"sgwatch forwarder: put security-group events on the default bus of {home_region}",
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"sgwatch: forward CloudTrail events of security-group changes to {home_region}",
            enabled=enabled,
            event_pattern=rule_pattern(monitor),
        )
        self.rule.add_target(
            targets.EventBus(
                events.EventBus.from_event_bus_arn(self, "HomeBus", home_bus_arn),
                dead_letter_queue=self.undelivered,
                role=self.role,
            )
        )
        Validations.of(self.undelivered).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason="this queue is itself a dead-letter queue")
        )
