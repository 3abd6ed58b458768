"""The stack: a thin composition of one construct per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from constructs import Construct
from sgwatch.core import names

from infra.alerting import Alerting
from infra.chat import Chat
from infra.compliance import AuditTrail, ComplianceLogs, SecurityGroupRecorder
from infra.config import MonitorConfig
from infra.dedup import Deduplication
from infra.detection import Detection
from infra.forwarder import (
    ForwarderAlarms,
    forwarder_alarm_prefix,
    forwarder_alarm_rule_name,
    forwarder_guard_rule_name,
    forwarder_rule_name,
)
from infra.heartbeat import Canary
from infra.monitoring import Monitoring
from infra.organization import AUDIT_ROLE_NAME, ENRICHMENT_ROLE_NAME, Organization
from infra.processor import TIMEOUT, Processor
from infra.scan import ScheduledScan


class SgwatchStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: MonitorConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="sgwatch: security-group change monitor", **kwargs)
        alerting = Alerting(
            self,
            "Alerting",
            alert_email=config.alert_email,
            operations_email=config.operations_email,
            min_severity=config.min_severity,
        )
        # Six times the function timeout, as AWS advises for an SQS event source; the function derives from it when
        # a deduplication claim left by a dead invocation may be taken over.
        visibility_timeout = Duration.seconds(6 * TIMEOUT.to_seconds())
        detection = Detection(
            self,
            "Detection",
            enabled=config.enabled,
            monitor=config.monitor,
            max_receive_count=config.max_receive_count,
            visibility_timeout=visibility_timeout,
        )
        deduplication = Deduplication(self, "Deduplication")
        chat = (
            Chat(self, "Chat", key=alerting.key, name=config.stack_name, slack=config.slack, teams=config.teams)
            if config.slack or config.teams
            else None
        )
        processor = Processor(
            self,
            "Processor",
            buffer=detection.buffer,
            topic=alerting.topic,
            key=alerting.key,
            batch_size=config.batch_size,
            max_concurrency=config.max_concurrency,
            batch_window_seconds=config.batch_window_seconds,
            visibility_timeout=visibility_timeout,
            reserved_concurrency=config.reserved_concurrency,
            publish_min_severity=config.publish_min_severity,
            log_retention_days=config.log_retention_days,
            powertools_layer_arn=config.powertools_layer_arn,
            dedup_table=deduplication.table,
            policy_text=config.policy_text,
            security_hub_min_severity=config.security_hub_min_severity,
            chat=(chat.topic, config.chat_min_severity) if chat else None,
            remediate=(
                (config.remediate, config.remediate_mode, config.remediate_max_per_hour, config.remediate_tag)
                if config.remediate
                else None
            ),
        )
        # Forwarded changes and forwarder alarms arrive on the default bus, or in organization mode on sgwatch's own
        # bus, whose policy admits only the members' forwarders; the detection rule listens there too.
        self.organization = None
        forwarded_to = None
        if config.organization_id:
            self.organization = Organization(
                self,
                "Organization",
                organization_id=config.organization_id,
                organizational_units=list(config.organizational_units),
                regions=[config.home_region, *config.forwarded_regions],
                function_role=processor.role,
                monitor=config.monitor,
                enabled=config.enabled,
                delegated_admin=config.delegated_admin,
                member_alarms=config.member_alarms,
                bus_name=config.forwarding_bus,
                heartbeat_minutes=config.heartbeat_minutes,
                operations=alerting.operations,
            )
            forwarded_to = self.organization.bus
            detection.listen_on(forwarded_to)
            processor.function.add_environment(names.ENV_ENRICHMENT_ROLE, ENRICHMENT_ROLE_NAME)
        Monitoring(
            self,
            "Monitoring",
            function=processor.function,
            log_group=processor.log_group,
            rules=detection.rules,
            buffer=detection.buffer,
            dead_letter_queues=[detection.buffer_dead_letters, detection.undelivered],
            operations=alerting.operations,
            regions=[self.region, *config.forwarded_regions],  # the region a change was made in, watched from here
            # Canaries beat here and in each forwarder stack's region (the StackSet's members have none).
            heartbeat_regions=[self.region, *config.regional_forwarders],
            heartbeat_minutes=config.heartbeat_minutes,
            member_heartbeats=bool(config.organization_id),
            security_hub=config.security_hub_min_severity is not None,
            remediation=bool(config.remediate),
            chat=chat.topic if chat else None,
        )
        if config.scan_schedule:
            members = (
                (self.organization.stack_set_name, self.organization.call_as, AUDIT_ROLE_NAME)
                if self.organization is not None
                else None
            )
            ScheduledScan(
                self,
                "ScheduledScan",
                schedule=config.scan_schedule,
                keep_seconds=config.scan_keep_seconds,
                regions=[self.region, *config.forwarded_regions],
                topic=alerting.topic,
                key=alerting.key,
                dedup_table=deduplication.table,
                min_severity=config.scan_min_severity,
                policy=processor.policy,
                operations=alerting.operations,
                members=members,
            )
        if config.heartbeat_minutes:
            canary = Canary(self, "Canary", stack_name=config.stack_name, interval_minutes=config.heartbeat_minutes)
            if canary.errors_alarm is not None:
                canary.errors_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerting.operations))
        # Forwarder stacks in this account, or the StackSet's forwarders (organization mode), may send alarms home.
        if config.regional_forwarders or (config.organization_id and config.member_alarms):
            ForwarderAlarms(
                self,
                "ForwarderAlarms",
                operations=alerting.operations,
                key=alerting.key,
                alarm_prefix=forwarder_alarm_prefix(config.stack_name),
                dead_letter_queue=detection.undelivered,
                bus=forwarded_to,
            )
        self.alerting, self.detection, self.processor = alerting, detection, processor
        processor.function.add_environment(names.ENV_OWN_RESOURCES, self._own_resources(config))
        if config.create_trail or config.record_security_groups:
            logs = ComplianceLogs(self, "ComplianceLogs", expiration_days=config.compliance_log_days)
            if config.create_trail:
                AuditTrail(
                    self,
                    "AuditTrail",
                    bucket=logs.bucket,
                    trail_name=config.stack_name,
                    encrypt=config.trail_encryption,
                )
            if config.record_security_groups:
                SecurityGroupRecorder(self, "SecurityGroupRecorder", bucket=logs.bucket)
        self._acknowledge()

    def _own_resources(self, config: MonitorConfig) -> str:
        """What is sgwatch's, for tamper detection (names.ENV_OWN_RESOURCES): every rule, queue, topic, key and stack
        by name; the function learns its own name from Lambda."""
        detection, alerting = self.detection, self.alerting
        forwarder_rules = [forwarder_rule_name(config.stack_name), forwarder_guard_rule_name(config.stack_name)]
        stacks = [config.stack_name, *(f"{config.stack_name}-forwarder-{r}" for r in config.regional_forwarders)]
        if config.organization_id:
            stacks.append(f"{config.stack_name}-members")
        document = {
            "stack": self.stack_name,
            "monitor": config.monitor,
            "detectionRules": [rule.rule_name for rule in detection.detection_rules] + forwarder_rules[:1],
            "guardRules": [rule.rule_name for rule in detection.guard_rules] + forwarder_rules[1:],
            "names": [
                forwarder_alarm_rule_name(config.stack_name),
                detection.buffer.queue_name,
                detection.buffer_dead_letters.queue_name,
                detection.undelivered.queue_name,
                alerting.topic.topic_name,
                alerting.operations.topic_name,
                alerting.key.key_id,
                *stacks,
            ],
        }
        return self.to_json_string(document)

    def _acknowledge(self) -> None:
        """cdk-nag findings that are deliberate, each with its reason."""
        for queue in (self.detection.buffer_dead_letters, self.detection.undelivered):
            Validations.of(queue).acknowledge(
                Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason="this queue is itself a dead-letter queue")
            )
        Validations.of(self.processor.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Python 3.13 is the runtime sgwatch is tested on and the Powertools layer it loads is built for",
            )
        )
        Validations.of(self.processor.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="ec2:DescribeSecurityGroups, ec2:DescribeNetworkInterfaces, ec2:DescribeManagedPrefixLists and"
                " cloudtrail:DescribeTrails support no resource-level permissions; the prefix-list and trail reads"
                " cover any list or trail of the account, read-only",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                reason="GenerateDataKey* (the variants SNS uses to encrypt) is scoped to the one topic key",
            ),
        )
