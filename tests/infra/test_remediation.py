"""Remediation in the stack: off by default (the template as before); dry-run gives the function its setting and no
new permission; enforce adds RevokeSecurityGroupIngress on this account's security groups only, the breaker's count
on the table, an alarm and a dashboard row."""

from __future__ import annotations

from typing import Any

import pytest
from sgwatch.core import names
from sgwatch.core.errors import ConfigError

from infra.config import load_config
from tests.infra.conftest import cfn_lint, logical_id, resource, shown_metrics, synth


def _actions(template: Any, stack: Any) -> dict[str, Any]:
    role = logical_id(stack, "Processor", "Role")
    found: dict[str, Any] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    found[action] = statement["Resource"]
    return found


def test_off_by_default() -> None:
    stack, template = synth(alertEmail="secops@example.com")
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    assert names.ENV_REMEDIATE not in variables
    assert "ec2:RevokeSecurityGroupIngress" not in _actions(template, stack)
    assert "dynamodb:UpdateItem" not in _actions(template, stack)


def test_dry_run_sets_the_function_and_grants_no_revoke() -> None:
    stack, template = synth(alertEmail="secops@example.com", remediate="CRITICAL")
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    assert (variables[names.ENV_REMEDIATE], variables[names.ENV_REMEDIATE_MODE]) == ("CRITICAL", "dry-run")
    assert variables[names.ENV_REMEDIATE_MAX_PER_HOUR] == "10"
    assert "ec2:RevokeSecurityGroupIngress" not in _actions(template, stack)
    assert "dynamodb:UpdateItem" not in _actions(template, stack)  # dry-run adds no permission at all


def test_enforce_revokes_on_this_accounts_groups_only_and_is_alarmed(tmp_path: Any) -> None:
    stack, template = synth(
        alertEmail="secops@example.com", remediate="CRITICAL,HIGH", remediateMode="enforce", remediateMaxPerHour=5
    )
    actions = _actions(template, stack)
    arns = {
        kind: {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ec2:*:", {"Ref": "AWS::AccountId"}, f":{kind}/*"]]
        }
        for kind in ("security-group", "security-group-rule")
    }
    granted = actions["ec2:RevokeSecurityGroupIngress"]
    assert sorted(map(str, granted)) == sorted(map(str, arns.values()))  # this account's groups and rules only
    assert "dynamodb:UpdateItem" in actions
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    assert variables[names.ENV_REMEDIATE] == "CRITICAL,HIGH" and variables[names.ENV_REMEDIATE_MAX_PER_HOUR] == "5"
    held = resource(template, stack, "Monitoring", "RevocationsHeld")["Properties"]
    assert held["MetricName"] == names.METRIC_REVOCATIONS_HELD
    assert held["AlarmActions"] == [{"Ref": logical_id(stack, "Alerting", "Operations")}]
    shown = {name for name, _ in shown_metrics(template, names.METRIC_NAMESPACE)}
    assert set(names.REMEDIATION_METRICS) <= shown
    assert cfn_lint(template, tmp_path) == ""


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"remediate": "LOW"}, "only HIGH and CRITICAL"),
        ({"remediate": "CRITICAL", "remediateMode": "force"}, "remediateMode: 'force' is not dry-run or enforce"),
        ({"remediate": "CRITICAL", "remediateMaxPerHour": 0}, "remediateMaxPerHour"),
    ],
)
def test_a_bad_setting_names_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(context.get)


def test_a_tag_limit_conditions_the_revoke_permission() -> None:
    stack, template = synth(
        alertEmail="secops@example.com", remediate="CRITICAL", remediateMode="enforce",
        remediateTag="sgwatch:remediate=yes",
    )  # fmt: skip
    role = logical_id(stack, "Processor", "Role")
    [statement] = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "ec2:RevokeSecurityGroupIngress" and "Condition" in statement
    ]
    assert statement["Resource"]["Fn::Join"][1][-1] == ":security-group/*"  # the group's tag decides
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/sgwatch:remediate": "yes"}}
    variables = resource(template, stack, "Processor", "Function")["Properties"]["Environment"]["Variables"]
    assert variables[names.ENV_REMEDIATE_TAG] == "sgwatch:remediate=yes"
