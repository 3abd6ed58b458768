"""The scheduled scan (context scanSchedule): off by default; on, a schedule runs the scan function on the watched
regions with the read-only EC2 calls the scan needs, the table to remember what it reported, the alert topic, the
policy, and two alarms to the operations topic."""

from __future__ import annotations

from typing import Any

import pytest
from sgwatch.core import names
from sgwatch.core.errors import ConfigError

from infra.config import load_config
from tests.infra.conftest import cfn_lint, logical_id, resource, synth

ON = {
    "alertEmail": "secops@example.com",
    "scanSchedule": "rate(1 day)",
    "regions": "us-east-1",
    "homeRegion": "eu-west-1",
}


def _statements(template: Any, stack: Any, *path: str) -> list[dict[str, Any]]:
    role_id = logical_id(stack, *path)
    policies = [
        policy
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    return [statement for policy in policies for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def test_no_scheduled_scan_by_default() -> None:
    stack, template = synth(alertEmail="secops@example.com")
    assert stack.node.try_find_child("ScheduledScan") is None
    handlers = [f["Properties"]["Handler"] for f in template.find_resources("AWS::Lambda::Function").values()]
    assert "sgwatch.runtime.scheduled_scan.lambda_handler" not in handlers


def test_the_schedule_runs_the_scan_of_the_watched_regions(tmp_path: Any) -> None:
    stack, template = synth(**ON)
    function = resource(template, stack, "ScheduledScan", "Function")["Properties"]
    assert function["Handler"] == "sgwatch.runtime.scheduled_scan.lambda_handler"
    variables = function["Environment"]["Variables"]
    assert variables[names.ENV_SCAN_REGIONS] == "eu-west-1,us-east-1"  # the home region and the forwarded one
    assert variables[names.ENV_SCAN_KEEP_SECONDS] == str(2 * 86_400 + 3600)
    assert variables[names.ENV_SCAN_MIN_SEVERITY] == "MEDIUM"
    assert variables[names.ENV_TOPIC_ARN] == {"Ref": logical_id(stack, "Alerting", "Alerts")}
    rule = resource(template, stack, "ScheduledScan", "Schedule")["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 day)"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [logical_id(stack, "ScheduledScan", "Function"), "Arn"]}
    assert cfn_lint(template, tmp_path) == ""


def test_the_scan_reads_only_what_it_needs_and_writes_only_its_table_and_topic() -> None:
    stack, template = synth(**ON)
    actions = {
        action
        for statement in _statements(template, stack, "ScheduledScan", "Role")
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert set(names.SCAN_PERMISSIONS) <= actions
    writes = {action for action in actions if not action.split(":")[1].startswith(("Describe", "Get", "BatchGet"))}
    assert writes == {
        "logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish", "kms:GenerateDataKey*", "kms:Decrypt",
        "dynamodb:BatchWriteItem",
    }  # fmt: skip


def test_its_failures_and_errors_reach_the_operations_topic() -> None:
    stack, template = synth(**ON)
    operations = {"Ref": logical_id(stack, "Alerting", "Operations")}
    for name in ("Failures", "Errors"):
        alarm = resource(template, stack, "ScheduledScan", name)["Properties"]
        assert alarm["AlarmActions"] == [operations]
    failures = resource(template, stack, "ScheduledScan", "Failures")["Properties"]
    assert failures["MetricName"] == names.METRIC_SCAN_FAILURES


def test_the_policy_reaches_the_scan_too(tmp_path: Any) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[mute]]\naccount = "999999999999"\nreason = "sandbox"\n')
    stack, template = synth(**ON, policyFile=str(policy))
    function = resource(template, stack, "ScheduledScan", "Function")["Properties"]
    assert function["Environment"]["Variables"][names.ENV_POLICY_FILE] == f"/opt/{names.POLICY_LAYER_PATH}"
    assert function["Layers"] == [{"Ref": logical_id(stack, "Processor", "Policy")}]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("daily", "is not a schedule expression"),
        ("rate(30 minutes)", "from hourly to every 30 days"),
        ("rate(100 days)", "from hourly to every 30 days"),
        ("cron(0 6 * * ?)", "is not a schedule expression"),
        ("cron(0/5 * * * ? *)", "is not a schedule expression that runs at most hourly"),
    ],
)
def test_a_bad_schedule_names_the_key(schedule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"scanSchedule.*{message}"):
        load_config({"scanSchedule": schedule}.get)


@pytest.mark.parametrize(
    ("schedule", "keep"),
    [
        ("rate(1 day)", 2 * 86_400 + 3600),
        ("rate(6 hours)", 86_400),  # at least a day
        ("rate(30 days)", 60 * 86_400 + 3600),
        ("cron(0 6 * * ? *)", 45 * 86_400),
    ],
)
def test_what_is_reported_is_remembered_for_two_intervals(schedule: str, keep: int) -> None:
    assert load_config({"scanSchedule": schedule}.get).scan_keep_seconds == keep


def test_in_organization_mode_the_scan_reads_each_member_through_the_audit_role() -> None:
    from tests.infra.test_organization import ORG

    stack, template = synth(**ORG, scanSchedule="rate(1 day)")
    variables = resource(template, stack, "ScheduledScan", "Function")["Properties"]["Environment"]["Variables"]
    assert variables[names.ENV_SCAN_STACK_SET] == f"{stack.stack_name}-members"
    assert variables[names.ENV_SCAN_ROLE] == "sgwatch-audit"
    assert variables[names.ENV_SCAN_CALL_AS] == "DELEGATED_ADMIN"  # delegatedAdmin defaults to true
    statements = _statements(template, stack, "ScheduledScan", "Role")
    assume = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    assert len(assume) == 1 and assume[0]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/sgwatch-audit"]]
    }
    listing = [s for s in statements if s["Action"] == "cloudformation:ListStackInstances"]
    assert len(listing) == 1
