"""The synthesized stack states sgwatch's intent: found by construct path, asserted by what it means."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from sgwatch.core import names
from sgwatch.core.events import (
    EVENT_SOURCE,
    EVENTBRIDGE_DETAIL_TYPE,
    EVENTBRIDGE_SOURCE,
    event_pattern,
    monitored_event_names,
)

from infra.config import ConfigError
from infra.processor import POWERTOOLS_PARAMETER
from infra.stack import SgwatchStack
from tests.infra.conftest import cfn_lint, logical_id, resource, synth

Built = tuple[SgwatchStack, Template]


def ref(stack: Stack, *path: str) -> dict[str, Any]:
    return {"Ref": logical_id(stack, *path)}


def arn(stack: Stack, *path: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(stack, *path), "Arn"]}


def test_rule_pattern_is_exactly_the_monitored_list(default_stack: Built) -> None:
    stack, template = default_stack
    rule = resource(template, stack, "Detection", "Rule")["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == [EVENTBRIDGE_SOURCE]
    assert pattern["detail-type"] == [EVENTBRIDGE_DETAIL_TYPE]
    assert pattern["detail"]["eventSource"] == [EVENT_SOURCE]
    always, with_group_set, *other_paths = pattern["detail"]["$or"]
    named = {name for branch in pattern["detail"]["$or"] for name in branch["eventName"]}
    assert named == set(monitored_event_names())
    assert with_group_set["eventName"] == [
        "ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute", "RunInstances", "CreateNetworkInterface",
    ]  # fmt: skip
    assert with_group_set["requestParameters"] == {"groupSet": {"items": {"groupId": [{"exists": True}]}}}
    assert "RunInstances" not in always["eventName"]  # a launch counts only when its record names groups
    assert len(other_paths) == 5  # one branch per other place a record names groups (tests/core/test_attachments.py)
    assert rule["State"] == "ENABLED"
    assert pattern == event_pattern()  # the one pattern the demo and the contract tests use too


def test_rule_target_is_the_buffer_with_retries_and_its_own_dead_letter_queue(default_stack: Built) -> None:
    stack, template = default_stack
    [target] = resource(template, stack, "Detection", "Rule")["Properties"]["Targets"]
    assert target["Arn"] == arn(stack, "Detection", "Buffer")
    assert target["DeadLetterConfig"]["Arn"] == arn(stack, "Detection", "UndeliveredEvents")
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


@pytest.mark.parametrize("queue", ["Buffer", "BufferDeadLetters", "UndeliveredEvents"])
def test_queues_are_encrypted_and_refuse_plain_http(default_stack: Built, queue: str) -> None:
    stack, template = default_stack
    assert resource(template, stack, "Detection", queue)["Properties"]["SqsManagedSseEnabled"] is True
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    denies_insecure = [
        statement
        for policy in policies.values()
        if ref(stack, "Detection", queue) in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert denies_insecure


def test_buffer_redrives_to_its_dead_letter_queue(default_stack: Built) -> None:
    stack, template = default_stack
    buffer = resource(template, stack, "Detection", "Buffer")["Properties"]
    assert buffer["RedrivePolicy"] == {
        "deadLetterTargetArn": arn(stack, "Detection", "BufferDeadLetters"),
        "maxReceiveCount": 5,
    }
    assert buffer["VisibilityTimeout"] >= 6 * 60  # six times the function timeout, as SQS event sources advise


def test_function_consumes_small_batches_with_partial_failures(default_stack: Built) -> None:
    stack, template = default_stack
    [mapping] = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["EventSourceArn"] == arn(stack, "Detection", "Buffer")
    assert properties["BatchSize"] == 10
    assert properties["MaximumBatchingWindowInSeconds"] == 20
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # a burst is paced by the poller and waits in the buffer; it cannot take the account's whole Lambda concurrency
    assert properties["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_function_runtime_layer_environment_and_logs(default_stack: Built) -> None:
    stack, template = default_stack
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "sgwatch.runtime.handler.lambda_handler"
    assert set(function["Environment"]["Variables"]) >= {
        names.ENV_TOPIC_ARN, names.ENV_PUBLISH_MIN_SEVERITY, names.ENV_CONSOLE_DOMAIN,
    }  # fmt: skip
    assert function["Environment"]["Variables"][names.ENV_TOPIC_ARN] == ref(stack, "Alerting", "Alerts")
    assert function["LoggingConfig"]["LogGroup"] == ref(stack, "Processor", "Logs")
    assert resource(template, stack, "Processor", "Logs")["Properties"]["RetentionInDays"] == 90
    [layer] = function["Layers"]
    parameters = template.to_json()["Parameters"]
    assert parameters[layer["Ref"]]["Default"] == POWERTOOLS_PARAMETER


@pytest.mark.parametrize("window", [20, 0])
def test_a_claim_is_stale_once_its_invocation_is_certainly_gone(window: int) -> None:
    """Visibility timeout - batching window - function timeout, read from the template itself: the first redelivery
    of a message whose invocation died after claiming it finds the claim stale and takes it over."""
    stack, template = synth(batchWindowSeconds=window)
    function = resource(template, stack, "Processor", "Function")["Properties"]
    buffer = resource(template, stack, "Detection", "Buffer")["Properties"]
    [mapping] = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    window_seconds = mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0)
    assert window_seconds == window
    stale = int(function["Environment"]["Variables"][names.ENV_CLAIM_STALE_SECONDS])
    assert stale == buffer["VisibilityTimeout"] - window_seconds - function["Timeout"]
    assert 0 < stale < buffer["VisibilityTimeout"]


def test_the_function_is_unreserved_by_default_and_can_be_given_reserved_concurrency(default_stack: Built) -> None:
    stack, template = default_stack
    assert "ReservedConcurrentExecutions" not in resource(template, stack, "Processor", "Function")["Properties"]
    stack, template = synth(reservedConcurrency=20, maxConcurrency=20)
    assert resource(template, stack, "Processor", "Function")["Properties"]["ReservedConcurrentExecutions"] == 20


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"reservedConcurrency": 5},
            "context reservedConcurrency: 5 is below maxConcurrency (10), so the buffer's invocations would be"
            " throttled; reserve at least 10, lower maxConcurrency, or set 0 (unreserved)",
        ),
        ({"reservedConcurrency": 1, "maxConcurrency": 2}, "context reservedConcurrency: 1 is below maxConcurrency (2)"),
        ({"reservedConcurrency": -1}, "context reservedConcurrency: -1 is outside 0-1000"),
        ({"reservedConcurrency": "lots"}, "context reservedConcurrency: expected a whole number"),
    ],
)
def test_reserved_concurrency_below_the_event_sources_maximum_is_refused(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        synth(**context)


def test_pinned_powertools_layer_replaces_the_parameter() -> None:
    pinned = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:18"
    stack, template = synth(powertoolsLayerArn=pinned)
    assert resource(template, stack, "Processor", "Function")["Properties"]["Layers"] == [pinned]


def _statements(template: Template, stack: Stack) -> list[dict[str, Any]]:
    role_policies = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if ref(stack, "Processor", "Role") in policy["Properties"]["Roles"]
    ]
    return [statement for statements in role_policies for statement in statements]


def test_function_role_is_least_privilege(default_stack: Built) -> None:
    stack, template = default_stack
    role = resource(template, stack, "Processor", "Role")["Properties"]
    assert "ManagedPolicyArns" not in role
    grants = {}
    for statement in _statements(template, stack):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            grants[action] = statement["Resource"]
    assert set(grants) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeNetworkInterfaces", "ec2:DescribeManagedPrefixLists", "ec2:GetManagedPrefixListEntries",
        "ec2:GetManagedPrefixListAssociations",
        "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors",
        "sns:Publish", "kms:GenerateDataKey*", "kms:Decrypt",
        "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "dynamodb:PutItem", "dynamodb:BatchWriteItem",
    }  # fmt: skip
    assert grants["dynamodb:PutItem"] == arn(stack, "Deduplication", "Table")
    assert grants["sns:Publish"] == ref(stack, "Alerting", "Alerts")
    assert grants["kms:Decrypt"] == arn(stack, "Alerting", "Key")
    assert grants["sqs:ReceiveMessage"] == arn(stack, "Detection", "Buffer")
    assert grants["logs:PutLogEvents"] == arn(stack, "Processor", "Logs")
    assert grants["ec2:DescribeSecurityGroups"] == "*"
    assert grants["cloudtrail:GetTrailStatus"] == "*"  # any trail of the account, read-only


def test_topics_use_a_rotating_customer_key_that_alarms_can_use(default_stack: Built) -> None:
    stack, template = default_stack
    key = resource(template, stack, "Alerting", "Key")["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch_grants = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch_grants and "kms:Decrypt" in cloudwatch_grants[0]["Action"]
    # for this account's alarms only: CloudWatch is no deputy of another account's alarms
    assert all(
        grant.get("Condition") == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        for grant in cloudwatch_grants
    )
    for topic in ("Alerts", "Operations"):
        assert resource(template, stack, "Alerting", topic)["Properties"]["KmsMasterKeyId"] == arn(
            stack, "Alerting", "Key"
        )
    topic_policies = [policy["Properties"] for policy in template.find_resources("AWS::SNS::TopicPolicy").values()]
    for topic in ("Alerts", "Operations"):
        statements = [
            s
            for p in topic_policies
            if ref(stack, "Alerting", topic) in p["Topics"]
            for s in p["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def _subscriptions(template: Template) -> list[dict[str, Any]]:
    return [subscription["Properties"] for subscription in template.find_resources("AWS::SNS::Subscription").values()]


def test_email_subscription_filters_on_minimum_severity(default_stack: Built) -> None:
    stack, template = default_stack
    alerts = [s for s in _subscriptions(template) if s["TopicArn"] == ref(stack, "Alerting", "Alerts")]
    assert [(s["Protocol"], s["Endpoint"], s["FilterPolicy"]) for s in alerts] == [
        ("email", "secops@example.com", {names.ATTRIBUTE_SEVERITY_RANK: [{"numeric": [">=", 3]}]})
    ]
    operations = [s for s in _subscriptions(template) if s["TopicArn"] == ref(stack, "Alerting", "Operations")]
    assert [(s["Endpoint"], "FilterPolicy" in s) for s in operations] == [("secops@example.com", False)]


def test_min_severity_and_no_email() -> None:
    _, template = synth(alertEmail="secops@example.com", minSeverity="high")
    assert _subscriptions(template)[0]["FilterPolicy"] == {names.ATTRIBUTE_SEVERITY_RANK: [{"numeric": [">=", 4]}]}
    _, quiet = synth()
    assert _subscriptions(quiet) == []


def test_enabled_false_disables_the_rule_and_keeps_everything() -> None:
    stack, template = synth(enabled="false")
    assert resource(template, stack, "Detection", "Rule")["Properties"]["State"] == "DISABLED"
    assert template.find_resources("AWS::Lambda::Function")


def test_alarms_cover_errors_throttles_dead_letters_backlog_and_delivery(default_stack: Built) -> None:
    stack, template = default_stack
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in alarms.values()
        if "MetricName" in a["Properties"]  # the rules' failed deliveries are one metric-math alarm
    }
    assert by_metric >= {
        ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        (names.METRIC_NAMESPACE, names.METRIC_CLASSIFICATION_ERRORS), (names.METRIC_NAMESPACE, names.METRIC_PUBLISH_FAILURES),
    }  # fmt: skip
    dead_letter_alarms = [
        a for a in alarms.values() if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    [delivery] = [a for a in alarms.values() if "FailedInvocations" in json.dumps(a["Properties"])]
    assert json.dumps(delivery).count('"MetricName": "FailedInvocations"') == 2  # the detection and guard rules
    assert len(dead_letter_alarms) == 2
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [ref(stack, "Alerting", "Operations")]


def test_outputs_give_the_topic_and_the_dashboard(default_stack: Built) -> None:
    _, template = default_stack
    outputs = template.to_json()["Outputs"]
    descriptions = {key: json.dumps(value["Value"]) for key, value in outputs.items()}
    assert any(key.startswith("AlertingAlertTopicArn") for key in outputs)
    assert any(
        key.startswith("MonitoringDashboardUrl") and "dashboards:name=" in value for key, value in descriptions.items()
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("minSeverity", "URGENT", "context minSeverity: unknown severity 'URGENT'"),
        ("batchWindowSeconds", 60, "context batchWindowSeconds: 60 is outside 0-20"),
        ("alertEmail", "not-an-address", "context alertEmail: 'not-an-address' is not an email address"),
        ("logRetentionDays", 100, "context logRetentionDays: 100 is not one CloudWatch Logs offers"),
        ("enabled", "maybe", "context enabled: expected true or false"),
    ],
)
def test_bad_context_names_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        synth(**{key: value})


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding() -> None:
    from app import build_app, cdk_json_context

    app = build_app(cdk_json_context())
    stack = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    sqs.Queue(stack, "Unencrypted", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match=r"(?s)sgwatch/Unencrypted/Resource.*AwsSolutions-SQS2"):
        app.synth()


def test_cfn_lint_is_clean_on_the_template(default_stack: Built, tmp_path: Path) -> None:
    _, template = default_stack
    assert cfn_lint(template, tmp_path) == ""


def test_security_hub_findings_are_opt_in_with_one_import_grant_on_the_accounts_default_product() -> None:
    stack, template = synth(alertEmail="secops@example.com", securityHub=True, securityHubMinSeverity="HIGH")
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert function["Environment"]["Variables"][names.ENV_SECURITY_HUB_MIN_SEVERITY] == "HIGH"
    [grant] = [s for s in _statements(template, stack) if "securityhub:BatchImportFindings" in str(s["Action"])]
    assert grant["Action"] == "securityhub:BatchImportFindings"
    assert grant["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:", {"Ref": "AWS::Partition"}, ":securityhub:*:", {"Ref": "AWS::AccountId"}, ":product/",
                {"Ref": "AWS::AccountId"}, "/default",
            ],
        ]
    }  # fmt: skip
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert any(
        alarm["Properties"].get("MetricName") == names.METRIC_FINDING_IMPORT_FAILURES for alarm in alarms.values()
    )


def test_the_default_deploys_no_security_hub_grant_setting_or_alarm(default_stack: Built) -> None:
    stack, template = default_stack
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert names.ENV_SECURITY_HUB_MIN_SEVERITY not in function["Environment"]["Variables"]
    assert "securityhub" not in json.dumps(template.to_json())
    assert names.METRIC_FINDING_IMPORT_FAILURES not in json.dumps(template.to_json())


def test_a_security_hub_threshold_that_is_no_severity_stops_the_synth() -> None:
    with pytest.raises(ConfigError, match="securityHubMinSeverity"):
        synth(securityHub=True, securityHubMinSeverity="SEVERE")


SLACK = {"slackWorkspaceId": "T0123ABCD", "slackChannelId": "C0456EFGH"}
TEAMS = {
    "teamsTenantId": "11111111-2222-3333-4444-555555555555",
    "teamsTeamId": "66666666-7777-8888-9999-000000000000",
    "teamsChannelId": "19:abcdef@thread.tacv2",
}


def test_a_slack_and_a_teams_channel_show_the_chat_topic_and_can_do_nothing() -> None:
    stack, template = synth(alertEmail="secops@example.com", chatMinSeverity="CRITICAL", **SLACK, **TEAMS)
    chat_topic = {"Ref": logical_id(stack, "Chat", "Topic")}
    role = {"Fn::GetAtt": [logical_id(stack, "Chat", "Role"), "Arn"]}
    [slack] = template.find_resources("AWS::Chatbot::SlackChannelConfiguration").values()
    assert (
        slack["Properties"]["SlackWorkspaceId"] == "T0123ABCD" and slack["Properties"]["SlackChannelId"] == "C0456EFGH"
    )
    assert slack["Properties"]["SnsTopicArns"] == [chat_topic] and slack["Properties"]["IamRoleArn"] == role
    [teams] = template.find_resources("AWS::Chatbot::MicrosoftTeamsChannelConfiguration").values()
    assert teams["Properties"]["TeamsTenantId"] == TEAMS["teamsTenantId"]
    assert teams["Properties"]["TeamsChannelId"] == "19%3Aabcdef%40thread.tacv2"  # as CloudFormation takes it
    assert teams["Properties"]["SnsTopicArns"] == [chat_topic] and teams["Properties"]["IamRoleArn"] == role
    for configuration in (slack, teams):
        [guardrail] = configuration["Properties"]["GuardrailPolicies"]
        assert "ReadOnlyAccess" in json.dumps(guardrail) and configuration["Properties"]["UserRoleRequired"] is False
    chat_role = resource(template, stack, "Chat", "Role")["Properties"]
    assert "Policies" not in chat_role and "ManagedPolicyArns" not in chat_role
    assert not [p for p in template.find_resources("AWS::IAM::Policy").values() if role["Fn::GetAtt"][0] in str(p)]
    assert resource(template, stack, "Chat", "Topic")["Properties"]["KmsMasterKeyId"]
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    assert variables[names.ENV_CHAT_TOPIC_ARN] == chat_topic and variables[names.ENV_CHAT_MIN_SEVERITY] == "CRITICAL"
    publish = [s for s in _statements(template, stack) if s["Action"] == "sns:Publish"]
    assert chat_topic in [resource for statement in publish for resource in statement["Resource"]]
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert any(alarm["Properties"].get("MetricName") == names.METRIC_CHAT_FAILURES for alarm in alarms)
    [delivery] = [a for a in alarms if a["Properties"].get("MetricName") == "NumberOfNotificationsFailed"]
    assert delivery["Properties"]["Dimensions"] == [
        {"Name": "TopicName", "Value": {"Fn::GetAtt": [logical_id(stack, "Chat", "Topic"), "TopicName"]}}
    ]


def test_the_default_deploys_no_chat() -> None:
    _, template = synth(alertEmail="secops@example.com")
    assert "AWS::Chatbot" not in json.dumps(template.to_json())
    assert names.ENV_CHAT_TOPIC_ARN not in json.dumps(template.to_json())


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"slackChannelId": "C0456EFGH"}, "slackWorkspaceId missing"),
        ({**SLACK, "slackChannelId": "<!channel>"}, "not a Slack id"),
        ({**TEAMS, "teamsTeamId": "team"}, "teamsTeamId: 'team' is not a UUID"),
        ({"teamsChannelId": "19:x@thread.tacv2"}, "teamsTenantId, teamsTeamId missing"),
        ({**TEAMS, "teamsChannelId": "general"}, "not a Teams channel id"),
        ({**SLACK, "chatMinSeverity": "LOUD"}, "chatMinSeverity"),
    ],
)
def test_a_chat_channel_half_given_or_malformed_stops_the_synth(context: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        synth(**context)
