"""A policy an intruder cannot use: a mute silences only its own group, a user agent alone trusts nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sgwatch.core.classify import classify
from sgwatch.core.enrich import GroupFacts, apply_facts
from sgwatch.core.errors import PolicyError
from sgwatch.core.policy import apply_policy, load_policy
from sgwatch.core.severity import Severity
from sgwatch.operator.cli import main

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load

ATTACH = load(CONSTRUCTED / "modify_instance_attribute_groupset.json")  # groupSet sg-0aaa1111bbbb2222c, sg-0ddd...
OPEN, MUTED = "sg-0aaa1111bbbb2222c", "sg-0ddd3333eeee4444f"
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"


def world_ssh(group: str) -> GroupFacts:
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    return GroupFacts(group, name="bastion", vpc_id="vpc-1", ingress_permissions=(ssh,), interface_count=1)


def test_a_muted_group_attached_beside_an_open_group_does_not_silence_the_open_group() -> None:
    policy = load_policy(f'[[mute]]\ngroup_id = "{MUTED}"\nreason = "load-test group"\n')
    facts = {OPEN: world_ssh(OPEN), MUTED: GroupFacts(MUTED, name="load-test", vpc_id="vpc-1")}
    result = apply_policy(apply_facts(classify(ATTACH), facts), policy)
    assert result.severity is Severity.HIGH
    [opened] = [verdict for verdict in result.verdicts if verdict.rule.id == "open-group-attached"]
    assert opened.group_id == OPEN and not opened.lowered_by
    [attached] = [verdict for verdict in result.verdicts if verdict.rule.id == "attachment-changed"]
    assert not attached.lowered_by  # about both groups, one of them not muted


def test_a_mute_of_every_group_a_change_touches_still_mutes_it() -> None:
    text = f'[[mute]]\ngroup_id = "{MUTED}"\nreason = "r"\n\n[[mute]]\ngroup_id = "{OPEN}"\nreason = "r"\n'
    facts = {OPEN: world_ssh(OPEN), MUTED: GroupFacts(MUTED, name="load-test", vpc_id="vpc-1")}
    result = apply_policy(apply_facts(classify(ATTACH), facts), load_policy(text))
    assert result.severity is Severity.INFO
    assert all("mute policy mute[" in reason for reason in result.reasons)


def test_a_user_agent_alone_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"trusted_user_agent\[0\]\.principal: required"):
        load_policy('[[trusted_user_agent]]\npattern = "*Terraform*"\nreason = "pipeline"\n')


def test_a_user_agent_counts_only_with_its_principal() -> None:
    agent = SSH_WORLD["userAgent"]
    text = f'[[trusted_user_agent]]\npattern = "{agent}"\nprincipal = "arn:aws:iam::*:role/Deploy"\nreason = "ci"\n'
    policy = load_policy(text)
    assert apply_policy(classify(SSH_WORLD), policy).severity is Severity.CRITICAL  # agent matches, caller does not
    caller = SSH_WORLD["userIdentity"]["arn"]
    both = load_policy(text.replace("arn:aws:iam::*:role/Deploy", caller))
    assert apply_policy(classify(SSH_WORLD), both).severity is Severity.HIGH


def test_policy_check_says_a_user_agent_alone_lowers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[[trusted_user_agent]]\npattern = "*Terraform*"\nprincipal = "arn:aws:iam::*:role/CI"\nreason = "ci"\n'
    )
    out = io.StringIO()
    assert main(["policy", "check", str(path)], out, io.StringIO()) == 0
    assert "the user agent alone lowers nothing" in out.getvalue()


def test_the_example_policy_trusts_no_tags_and_no_user_agent() -> None:
    policy = load_policy(EXAMPLE.read_text(), str(EXAMPLE))
    assert policy.tag_approvals is False
    assert policy.trusted_user_agents == ()
