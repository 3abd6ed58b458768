"""Names that cross a boundary, declared once: the Lambda, the CDK app, the dashboard and the tests import them."""

from __future__ import annotations

from typing import Final

SERVICE: Final = "sgwatch"

# Environment variables the stack sets on the function.
ENV_TOPIC_ARN: Final = "SGWATCH_TOPIC_ARN"
ENV_PUBLISH_MIN_SEVERITY: Final = "SGWATCH_PUBLISH_MIN_SEVERITY"
ENV_CONSOLE_DOMAIN: Final = "SGWATCH_CONSOLE_DOMAIN"
ENV_POLICY_FILE: Final = "SGWATCH_POLICY_FILE"
ENV_DEDUP_TABLE: Final = "SGWATCH_DEDUP_TABLE"
ENV_ENRICHMENT_ROLE: Final = "SGWATCH_ENRICHMENT_ROLE"  # organization mode: the role to assume in member accounts
# Seconds after which a pending deduplication claim belongs to an invocation that is certainly gone: the buffer's
# visibility timeout less the batching window and the function timeout (see infra/processor.py).
ENV_CLAIM_STALE_SECONDS: Final = "SGWATCH_CLAIM_STALE_SECONDS"
#: Set when alerts go to chat too: the chat topic (Amazon Q Developer in chat applications) and the lowest severity.
ENV_CHAT_TOPIC_ARN: Final = "SGWATCH_CHAT_TOPIC_ARN"
# Remediation (opt-in): the severities acted on, dry-run or enforce, the most revocations an hour.
ENV_REMEDIATE: Final = "SGWATCH_REMEDIATE"
ENV_REMEDIATE_MODE: Final = "SGWATCH_REMEDIATE_MODE"
ENV_REMEDIATE_MAX_PER_HOUR: Final = "SGWATCH_REMEDIATE_MAX_PER_HOUR"
ENV_REMEDIATE_TAG: Final = "SGWATCH_REMEDIATE_TAG"  # KEY=VALUE: only groups that carry it are remediated
# The scheduled scan's function: the regions it scans, how long a reported finding is remembered, its threshold.
ENV_SCAN_REGIONS: Final = "SGWATCH_SCAN_REGIONS"
ENV_SCAN_KEEP_SECONDS: Final = "SGWATCH_SCAN_KEEP_SECONDS"
ENV_SCAN_MIN_SEVERITY: Final = "SGWATCH_SCAN_MIN_SEVERITY"
# Organization mode: the member StackSet whose instances are scanned too, how to call it, the role to assume there.
ENV_SCAN_STACK_SET: Final = "SGWATCH_SCAN_STACK_SET"
ENV_SCAN_CALL_AS: Final = "SGWATCH_SCAN_CALL_AS"
ENV_SCAN_ROLE: Final = "SGWATCH_SCAN_ROLE"
ENV_CHAT_MIN_SEVERITY: Final = "SGWATCH_CHAT_MIN_SEVERITY"
#: Set when findings go to Security Hub too: the lowest severity imported (context securityHubMinSeverity).
ENV_SECURITY_HUB_MIN_SEVERITY: Final = "SGWATCH_SECURITY_HUB_MIN_SEVERITY"
#: sgwatch's own resources, as JSON: {"stack", "monitor", "detectionRules", "guardRules", "names"} (tamper detection)
ENV_OWN_RESOURCES: Final = "SGWATCH_OWN_RESOURCES"
ENV_CANARY_GROUP: Final = "SGWATCH_CANARY_GROUP"  # the heartbeat canary's group id
# The heartbeat watchdog (organization mode): the StackSet to read, as whom, and the window a heartbeat must fall in.
ENV_WATCHDOG_STACK_SET: Final = "SGWATCH_WATCHDOG_STACK_SET"
ENV_WATCHDOG_CALL_AS: Final = "SGWATCH_WATCHDOG_CALL_AS"
ENV_WATCHDOG_WINDOW_MINUTES: Final = "SGWATCH_WATCHDOG_WINDOW_MINUTES"

# The policy as the stack ships it: a layer, unpacked under /opt.
POLICY_LAYER_PATH: Final = "sgwatch/policy.toml"
DEDUP_KEY: Final = "eventID"
DEDUP_EXPIRY: Final = "expires"

# CloudWatch metrics, emitted as EMF by the function; the dashboard and alarms read the same names.
METRIC_NAMESPACE: Final = "sgwatch"
METRIC_CHANGES: Final = "SecurityGroupChanges"  # dimension SEVERITY_DIMENSION, one per record
METRIC_CHANGES_BY_EVENT: Final = "SecurityGroupChangesByEvent"  # dimension EVENT_NAME_DIMENSION
METRIC_CHANGES_BY_REGION: Final = "SecurityGroupChangesByRegion"  # dimension REGION_DIMENSION: where the change was
METRIC_ALERTS_PUBLISHED: Final = "AlertsPublished"
METRIC_ALERTS_SUPPRESSED: Final = "AlertsSuppressed"  # below the publish threshold: logged and counted only
METRIC_CLASSIFICATION_ERRORS: Final = "ClassificationErrors"
METRIC_ENRICHMENT_FAILURES: Final = "EnrichmentFailures"
METRIC_PUBLISH_FAILURES: Final = "PublishFailures"
METRIC_DETECTION_LATENCY: Final = "DetectionLatency"  # milliseconds from the event's time to the publish
METRIC_LOWERED_BY_POLICY: Final = "LoweredByPolicy"  # changes whose severity a policy entry lowered
METRIC_DUPLICATES_SUPPRESSED: Final = "DuplicatesSuppressed"  # a record already alerted (at-least-once delivery)
METRIC_DEDUP_FAILURES: Final = "DeduplicationFailures"  # the store could not be asked: alerted anyway
METRIC_TAMPER_EVENTS: Final = "TamperEvents"  # calls that can blind the monitor; dimension SEVERITY_DIMENSION
METRIC_HEARTBEATS: Final = "HeartbeatReceived"  # a canary's call arrived; dimension REGION_DIMENSION (its region)
# Organization mode: a member account's canary, by SOURCE_DIMENSION "account/region"; and what the watchdog found
# missing among the StackSet's instances.
METRIC_MEMBER_HEARTBEATS: Final = "MemberHeartbeatReceived"
METRIC_HEARTBEATS_MISSING: Final = "HeartbeatsMissing"
SEVERITY_DIMENSION: Final = "Severity"
EVENT_NAME_DIMENSION: Final = "EventName"
REGION_DIMENSION: Final = "Region"
SOURCE_DIMENSION: Final = "Source"  # "account/region" of a member's heartbeat
SERVICE_DIMENSION: Final = "service"  # Powertools adds it to every metric

ALL_METRICS: Final = (
    METRIC_CHANGES,
    METRIC_CHANGES_BY_EVENT,
    METRIC_CHANGES_BY_REGION,
    METRIC_ALERTS_PUBLISHED,
    METRIC_ALERTS_SUPPRESSED,
    METRIC_CLASSIFICATION_ERRORS,
    METRIC_ENRICHMENT_FAILURES,
    METRIC_PUBLISH_FAILURES,
    METRIC_DETECTION_LATENCY,
    METRIC_LOWERED_BY_POLICY,
    METRIC_DUPLICATES_SUPPRESSED,
    METRIC_DEDUP_FAILURES,
    METRIC_TAMPER_EVENTS,
    METRIC_HEARTBEATS,
)
METRIC_FINDINGS_IMPORTED: Final = "FindingsImported"  # Security Hub took the finding (new or updated)
METRIC_FINDING_IMPORT_FAILURES: Final = "FindingImportFailures"  # refused or not sent; the alert went out anyway
METRIC_CHAT_FAILURES: Final = "ChatPublishFailures"  # a chat notification not published; the alert went out anyway
#: The metrics only a deployment with Security Hub findings has.
SECURITY_HUB_METRICS: Final = (METRIC_FINDINGS_IMPORTED, METRIC_FINDING_IMPORT_FAILURES)
METRIC_SCAN_NEW_FINDINGS: Final = "ScanNewFindings"  # findings the scheduled scan reported for the first time
METRIC_SCAN_FAILURES: Final = "ScanFailures"  # regions the scheduled scan could not read, or whose alert failed
METRIC_RULES_REVOKED: Final = "RulesRevoked"  # remediation in enforce mode revoked an added rule
METRIC_REVOCATIONS_DRY_RUN: Final = "RevocationsDryRun"  # dry-run: a rule enforce would have revoked
METRIC_REVOCATIONS_REFUSED: Final = "RevocationsRefused"  # covered by the setting, left alone (policy, tag, id, ...)
METRIC_REVOCATIONS_HELD: Final = "RevocationsHeld"  # the circuit breaker held a revocation: alarmed
#: The metrics only a deployment with remediation has.
REMEDIATION_METRICS: Final = (
    METRIC_RULES_REVOKED,
    METRIC_REVOCATIONS_DRY_RUN,
    METRIC_REVOCATIONS_REFUSED,
    METRIC_REVOCATIONS_HELD,
)
#: The metrics only a deployment with the scheduled scan has.
SCAN_METRICS: Final = (METRIC_SCAN_NEW_FINDINGS, METRIC_SCAN_FAILURES)
#: The metrics only organization mode has (its dashboard shows them, with the watchdog's alarm).
ORGANIZATION_METRICS: Final = (METRIC_MEMBER_HEARTBEATS, METRIC_HEARTBEATS_MISSING)

# SNS message attributes of an alert: subscribers filter on them.
ATTRIBUTE_SEVERITY: Final = "severity"
ATTRIBUTE_SEVERITY_RANK: Final = "severity_rank"
ATTRIBUTE_EVENT_NAME: Final = "event_name"
ATTRIBUTE_ACCOUNT: Final = "account"
ATTRIBUTE_REGION: Final = "region"
ATTRIBUTE_GROUP_ID: Final = "group_id"
#: The message of the function's log line for each result, which the dashboard's queries filter on.
LOG_CHANGE: Final = "security-group change"
LOG_TAMPER: Final = "call that can blind the monitor"
LOG_HEARTBEAT: Final = "heartbeat"

# AWS Config's resource type of a security group: the audit checks the recorder covers it; the stack's recorder records it.
SECURITY_GROUP_TYPE: Final = "AWS::EC2::SecurityGroup"
# What `sgwatch audit` calls: the organization's member audit role grants exactly these.
AUDIT_PERMISSIONS: Final = (
    "ec2:DescribeRegions",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
    "config:DescribeDeliveryChannels",
    "events:ListRules",
    "events:ListTargetsByRule",
    "lambda:ListEventSourceMappings",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricStatistics",
)
#: What `sgwatch scan` reads, besides DescribeRegions: every rule, the groups, the interfaces that use them, and the
#: prefix lists the rules reference. The audit role in member accounts allows them too (`scan --accounts`).
SCAN_PERMISSIONS: Final = (
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeManagedPrefixLists",
    "ec2:GetManagedPrefixListEntries",
)
