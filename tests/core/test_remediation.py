"""The remediation plan: the added rules the setting covers, by the ids EC2 gave them, or why not; and a restore
command that, run against moto, brings the revoked rule back exactly."""

from __future__ import annotations

import json
import shlex
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sgwatch.core.classify import classify
from sgwatch.core.policy import apply_policy, load_policy
from sgwatch.core.remediation import Mode, RemediationSettings, plan
from sgwatch.core.severity import Severity

from tests.conftest import REAL_RECORDS, load

SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
GROUP = SSH_WORLD["requestParameters"]["groupId"]
DESCRIBED = {GROUP: {"team": "web"}}  # what EC2 said of the group: its tags
CRITICAL = RemediationSettings(frozenset({Severity.CRITICAL}), Mode.ENFORCE, break_glass_tag="sgwatch:break-glass")


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for moto, and nothing of the machine's own AWS set-up."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_a_world_ssh_rule_is_planned_for_revocation_by_its_id_only() -> None:
    found = plan(classify(SSH_WORLD), CRITICAL, DESCRIBED)
    assert found is not None and found.refused == ()
    [revocation] = found.revoke
    assert (revocation.group_id, revocation.rule_id, revocation.severity) == (
        GROUP, "sgr-0ab4202bcd11d93d2", Severity.CRITICAL,
    )  # fmt: skip
    assert CRITICAL.setting == "remediate=CRITICAL (enforce)"


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (
            f'[[approved_exposure]]\ngroup_id = "{GROUP}"\nexposure = "22/tcp from world"\nowner = "ops"\nreason = "bastion"\n',
            "the policy lowered it (approved_exposure[0])",
        ),
        (
            '[[trusted_principal]]\narn = "arn:aws:iam::*:user/test_user"\nreason = "the platform team"\n',
            "the policy lowered it",
        ),
    ],
    ids=["approved exposure", "trusted principal"],
)
def test_what_the_policy_lowered_is_never_revoked(policy: str, why: str) -> None:
    result = apply_policy(classify(SSH_WORLD), load_policy(policy))
    found = plan(result, RemediationSettings(frozenset({Severity.CRITICAL, Severity.HIGH})), DESCRIBED)
    assert found is not None and found.revoke == ()
    [(_, reason)] = found.refused
    assert reason.startswith(why)


def test_an_expired_approval_protects_nothing() -> None:
    policy = load_policy(
        f'[[approved_exposure]]\ngroup_id = "{GROUP}"\nexposure = "22/tcp from world"\nowner = "ops"\n'
        'expires = 2020-01-01\nreason = "bastion"\n'
    )
    found = plan(apply_policy(classify(SSH_WORLD), policy), CRITICAL, DESCRIBED)
    assert found is not None and [r.rule_id for r in found.revoke] == ["sgr-0ab4202bcd11d93d2"]


def test_break_glass_a_missing_id_and_other_severities_are_left_alone() -> None:
    tagged = plan(classify(SSH_WORLD), CRITICAL, {GROUP: {"sgwatch:break-glass": "incident 42"}})
    assert tagged is not None and tagged.revoke == ()
    assert tagged.refused == (("sgr-0ab4202bcd11d93d2", "the group carries the break-glass tag sgwatch:break-glass"),)

    unstated = json.loads(json.dumps(SSH_WORLD))
    del unstated["responseElements"]["securityGroupRuleSet"]
    found = plan(classify(unstated), CRITICAL, DESCRIBED)
    assert found is not None and found.revoke == ()
    assert found.refused[0][1].startswith("the record does not state the rule's id")

    assert plan(classify(SSH_WORLD), RemediationSettings(frozenset({Severity.HIGH})), DESCRIBED) is None
    undescribed = plan(classify(SSH_WORLD), CRITICAL, {})  # EC2 could not be asked: the tags are unknown
    assert undescribed is not None and undescribed.revoke == ()
    assert undescribed.refused[0][1].startswith("EC2 could not describe the group")
    failed = dict(SSH_WORLD, errorCode="Client.UnauthorizedOperation", responseElements=None)
    denied = plan(classify(failed), CRITICAL, {})
    assert denied is None or denied.revoke == ()  # a denied call added nothing


@pytest.mark.usefixtures("aws_environment")
def test_the_restore_command_brings_the_revoked_rule_back_exactly() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="bastion", Description="b", VpcId=vpc)["GroupId"]
        added = ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "it's \"temporary\""}]}],
        )["SecurityGroupRules"]  # fmt: skip
        record = json.loads(json.dumps(SSH_WORLD))
        record["requestParameters"]["groupId"] = group
        record["awsRegion"] = "eu-west-1"
        permission = record["requestParameters"]["ipPermissions"]["items"][0]
        permission["ipRanges"]["items"][0]["description"] = 'it\'s "temporary"'
        item = record["responseElements"]["securityGroupRuleSet"]["items"][0]
        item.update(groupId=group, securityGroupRuleId=added[0]["SecurityGroupRuleId"])
        [revocation] = plan(classify(record), CRITICAL, {group: {}}).revoke  # type: ignore[union-attr]
        ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[revocation.rule_id])
        assert _ingress(ec2, group) == []

        words = shlex.split(revocation.restore)
        options = dict(zip(words[3::2], words[4::2], strict=True))
        assert words[:3] == ["aws", "ec2", "authorize-security-group-ingress"]
        assert options["--region"] == "eu-west-1" and options["--group-id"] == group
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=json.loads(options["--ip-permissions"]))
        [rule] = _ingress(ec2, group)
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIpv4"], rule["Description"]) == (
            "tcp", 22, 22, "0.0.0.0/0", "it's \"temporary\"",
        )  # fmt: skip


def _ingress(ec2: Any, group: str) -> list[dict[str, Any]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return [rule for rule in rules if not rule["IsEgress"]]


def test_a_revocation_by_sgwatchs_own_function_is_info_and_says_so() -> None:
    """The revocation is a change CloudTrail records like any other: by the function's own session (Lambda names it
    after the function), it is INFO (below the publish threshold) and named as sgwatch's, never a new alert storm."""
    from sgwatch.core.classify import Settings
    from sgwatch.core.tamper import exact_resources

    revoke = load(
        REAL_RECORDS
        / "rubysoho07-cloudtrail-watcher/revoke_ingress_terraform_v6_ssh_with_revokedSecurityGroupRuleSet.json"
    )
    function = "sgwatch-ProcessorFunction3C4D5E6F-Z9Y8X7W6V5U4"
    revoke["userIdentity"]["arn"] = f"arn:aws:sts::000000000000:assumed-role/sgwatch-ProcessorRole-1A2B/{function}"
    revoke["userIdentity"]["type"] = "AssumedRole"
    own = Settings(own=exact_resources("sgwatch", [function], [], []))
    result = classify(revoke, settings=own)
    assert result.severity is Severity.INFO
    assert all(reason.endswith("sgwatch's own remediation") for reason in result.reasons), result.reasons
    assert not any("own remediation" in reason for reason in classify(revoke).reasons)  # a guess by name: not said


def test_a_tag_limit_leaves_untagged_groups_alone() -> None:
    limited = RemediationSettings(
        frozenset({Severity.CRITICAL}), Mode.ENFORCE, only_tagged=("sgwatch:remediate", "yes")
    )
    untagged = plan(classify(SSH_WORLD), limited, {GROUP: {"team": "web"}})
    assert untagged is not None and untagged.revoke == ()
    assert "limited to groups tagged sgwatch:remediate=yes" in untagged.refused[0][1]
    tagged = plan(classify(SSH_WORLD), limited, {GROUP: {"sgwatch:remediate": "yes"}})
    assert tagged is not None and [r.rule_id for r in tagged.revoke] == ["sgr-0ab4202bcd11d93d2"]


def test_a_rule_id_of_another_group_than_the_requests_is_not_this_calls() -> None:
    forged = json.loads(json.dumps(SSH_WORLD))
    forged["responseElements"]["securityGroupRuleSet"]["items"][0]["groupId"] = "sg-0ffffffffffffffff"
    [change] = classify(forged).to_dict()["changes"]
    assert "ruleId" not in change  # so nothing is revoked: no id, nothing broader
    found = plan(classify(forged), CRITICAL, {GROUP: {}, "sg-0ffffffffffffffff": {}})
    assert found is not None and found.revoke == ()


@pytest.mark.usefixtures("aws_environment")
def test_the_circuit_breaker_counts_the_hour_and_never_spends_it_on_what_cannot_fit() -> None:
    from sgwatch.emulation.account import create_dedup_table
    from sgwatch.runtime.aws import Ec2Remediator

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        hour = [1_800_000_000.0]
        breaker = Ec2Remediator(lambda region: None, dynamodb, create_dedup_table(dynamodb), max_per_hour=3,
                                clock=lambda: hour[0])  # fmt: skip
        assert breaker.admit(4) is False  # more than the limit at once: held, the budget untouched
        assert breaker.admit(2) is True and breaker.admit(1) is True  # 3 of 3
        assert breaker.admit(1) is False
        hour[0] += 3600  # the next hour
        assert breaker.admit(3) is True
