"""Opt-in remediation through the function, under moto: enforce revokes exactly the added world-SSH rule by its id
and says how to restore it; dry-run revokes nothing and says what enforce would do; a redelivery finds the rule
gone; the circuit breaker holds what passes the hour's limit; the default does nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sgwatch.core import names
from sgwatch.runtime import handler

from tests.conftest import REAL_RECORDS, load
from tests.e2e.conftest import LambdaContext, World, emf_metrics, eventbridge, on_group, sqs_event

SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
PRIVATE_HTTPS = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]


def ingress(world: World, group: str) -> dict[str, dict[str, Any]]:
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {rule["SecurityGroupRuleId"]: rule for rule in rules["SecurityGroupRules"] if not rule["IsEgress"]}


def ssh_change(world: World, event_id: str | None = None) -> tuple[dict[str, Any], str]:
    """The open group's world-SSH rule, as the record of the call that added it: the rule id EC2 gave it."""
    [rule_id] = [rid for rid, rule in ingress(world, world.open_group).items() if rule.get("CidrIpv4") == "0.0.0.0/0"]
    record = on_group(SSH_WORLD, world.open_group, event_id)
    record["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"] = rule_id
    return record, rule_id


def remediating(world: World, monkeypatch: pytest.MonkeyPatch, mode: str, limit: str = "10") -> None:
    monkeypatch.setenv(names.ENV_REMEDIATE, "CRITICAL")
    monkeypatch.setenv(names.ENV_REMEDIATE_MODE, mode)
    monkeypatch.setenv(names.ENV_REMEDIATE_MAX_PER_HOUR, limit)
    world.start_function()


def run(record: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext())
    return response


def test_enforce_revokes_exactly_the_added_rule_and_says_how_to_restore_it(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ec2.authorize_security_group_ingress(GroupId=world.open_group, IpPermissions=PRIVATE_HTTPS)
    remediating(world, monkeypatch, "enforce")
    record, rule_id = ssh_change(world)
    assert run(record) == {"batchItemFailures": []}
    left = ingress(world, world.open_group)
    assert rule_id not in left and [r["FromPort"] for r in left.values()] == [443]  # only that rule went

    [alert] = world.received(world.inbox_url)
    assert "Remediation (remediate=CRITICAL (enforce)):" in alert["Email"]
    assert (
        f"  revoked {rule_id} on {world.open_group}. To restore it: aws ec2 authorize-security-group-ingress"
        in (alert["Email"])
    )
    [outcome] = json.loads(alert["Message"])["remediation"]
    assert (outcome["done"], outcome["rule"], outcome["setting"]) == (
        "revoked",
        rule_id,
        "remediate=CRITICAL (enforce)",
    )
    assert (names.METRIC_RULES_REVOKED, frozenset({names.SERVICE_DIMENSION})) in {
        (name, dims) for name, dims, _ in emf_metrics(capsys.readouterr().out)
    }

    # the same change again, under another event id (a redelivery whose claim was released): the rule is gone already
    again = dict(record, eventID="00000000-0000-4000-8000-00000000000a")
    run(again)
    [alert] = world.received(world.inbox_url)
    assert (
        f"  {rule_id} on {world.open_group} was already gone (revoked earlier, by sgwatch or by someone else)."
        in (alert["Email"])
    )
    assert "To restore it: aws ec2 authorize-security-group-ingress" in alert["Email"]  # the command is not lost


def test_dry_run_revokes_nothing_and_says_what_enforce_would_do(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    remediating(world, monkeypatch, "dry-run")
    record, rule_id = ssh_change(world)
    run(record)
    assert rule_id in ingress(world, world.open_group)
    [alert] = world.received(world.inbox_url)
    assert f"  would revoke {rule_id} on {world.open_group} (dry-run: nothing was done)" in alert["Email"]
    assert json.loads(alert["Message"])["remediation"][0]["done"] == "would revoke"


def test_the_circuit_breaker_holds_what_passes_the_hours_limit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    remediating(world, monkeypatch, "enforce", limit="1")
    record, rule_id = ssh_change(world)
    run(record)
    assert rule_id not in ingress(world, world.open_group)
    world.received(world.inbox_url)
    world.ec2.authorize_security_group_ingress(
        GroupId=world.open_group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    second, second_id = ssh_change(world)
    run(second)
    assert second_id in ingress(world, world.open_group)  # held: the hour already had its one revocation
    [alert] = world.received(world.inbox_url)
    assert "the circuit breaker held it: the hour's revocations reached the limit" in alert["Email"]


def test_without_the_setting_nothing_is_revoked_or_said(world: World) -> None:
    record, rule_id = ssh_change(world)
    run(record)
    assert rule_id in ingress(world, world.open_group)
    [alert] = world.received(world.inbox_url)
    assert "Remediation" not in alert["Email"] and "remediation" not in json.loads(alert["Message"])


def test_the_break_glass_tag_and_another_account_are_left_alone(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('break_glass_tag = "team"\n')  # the app group carries team=payments
    monkeypatch.setenv(names.ENV_POLICY_FILE, str(policy))
    world.ec2.authorize_security_group_ingress(
        GroupId=world.app_group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    remediating(world, monkeypatch, "enforce")
    [tagged_id] = [rid for rid, r in ingress(world, world.app_group).items() if r.get("CidrIpv4") == "0.0.0.0/0"]
    tagged = on_group(SSH_WORLD, world.app_group)
    tagged["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"] = tagged_id
    run(tagged)
    assert tagged_id in ingress(world, world.app_group)
    [alert] = world.received(world.inbox_url)
    assert f"not revoked: {tagged_id}: the group carries the break-glass tag team" in alert["Email"]

    elsewhere, rule_id = ssh_change(world)
    elsewhere["recipientAccountId"] = "111122223333"
    run(elsewhere)
    assert rule_id in ingress(world, world.open_group)
    [alert] = world.received(world.inbox_url)
    assert (
        f"not revoked: {rule_id} on {world.open_group}: made in account 111122223333: sgwatch revokes only"
        in (alert["Email"])
    )


def test_a_rule_rewritten_since_the_change_or_tagged_break_glass_since_is_not_revoked(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The record may arrive late (a backlog, a replay): what EC2 holds now decides. A rule whose id now names a
    narrower rule is not the rule that was added; a group tagged break-glass a moment ago is left alone."""
    policy = tmp_path / "policy.toml"
    policy.write_text('break_glass_tag = "sgwatch:break-glass"\n')
    monkeypatch.setenv(names.ENV_POLICY_FILE, str(policy))
    remediating(world, monkeypatch, "enforce")
    record, rule_id = ssh_change(world)
    world.ec2.modify_security_group_rules(
        GroupId=world.open_group,
        SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "10.0.0.0/8"}}],
    )  # fmt: skip
    run(record)
    assert ingress(world, world.open_group)[rule_id]["CidrIpv4"] == "10.0.0.0/8"  # the narrowed rule stays
    [alert] = world.received(world.inbox_url)
    assert (
        f"not revoked: {rule_id} on {world.open_group}: the rule has been rewritten since the change" in alert["Email"]
    )

    world.ec2.authorize_security_group_ingress(
        GroupId=world.open_group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    # the same container: what it described of the group a moment ago (no tag) is still in its cache
    again, again_id = ssh_change(world, "00000000-0000-4000-8000-00000000000b")
    world.ec2.create_tags(Resources=[world.open_group], Tags=[{"Key": "sgwatch:break-glass", "Value": "incident"}])
    run(again)
    assert again_id in ingress(world, world.open_group)
    [alert] = world.received(world.inbox_url)
    assert "the group carries the break-glass tag sgwatch:break-glass (put on since the change)" in alert["Email"]
