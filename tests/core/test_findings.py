"""Findings as data: a verdict's summary, why, advice and policy entries are fields; the sentences people read are
rendered from them, equal to what sgwatch has always written (the expected texts below are its earlier output)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sgwatch.core import rules
from sgwatch.core.classify import classify
from sgwatch.core.enrich import GroupFacts, apply_facts
from sgwatch.core.findings import Lowering, PolicyAction, Wording, render_reason
from sgwatch.core.policy import apply_policy, load_policy, read_policy
from sgwatch.core.severity import Severity
from sgwatch.operator.history import render_table

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load

EXAMPLE = read_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.toml")
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
ICMP_SANDBOX = load(REAL_RECORDS / "netebakari-cloudtrail-lambda/authorize_ingress_console_icmp_all_types_-1.json")
REVOKE_SANDBOX = load(REAL_RECORDS / "netebakari-cloudtrail-lambda/revoke_ingress_console_mysql_3306_32.json")
TODAY = date(2026, 6, 1)


def test_an_approved_exposure_is_data_and_renders_as_before() -> None:
    [verdict] = apply_policy(classify(SSH_WORLD), EXAMPLE, today=TODAY).verdicts
    assert verdict.rule is rules.WORLD_SENSITIVE_PORT
    assert verdict.summary == (
        "SSH (22/tcp) opened to the whole internet (0.0.0.0/0) on sg-0e79c7acdf4a0225e by user/test_user via"
        " Terraform 1.13.5"
    )
    assert verdict.why.startswith("SSH is remote administration")  # the service's reason, not the rule's
    assert verdict.lowered_by == (
        Lowering(
            PolicyAction.APPROVED, "approved_exposure[0]", 32,
            "bastion during the data-centre migration, then replaced by Session Manager",
            Severity.CRITICAL, Severity.INFO, exposure="22/tcp from world", owner="platform-team@example.com",
            expires=date(2026, 12, 31),
        ),
    )  # fmt: skip
    assert verdict.severity is Severity.INFO
    assert render_reason(verdict) == (
        "SSH (22/tcp) opened to the whole internet (0.0.0.0/0) on sg-0e79c7acdf4a0225e by user/test_user via"
        " Terraform 1.13.5. Why it matters: SSH is remote administration, a way into the host: scanned and"
        " brute-forced from the internet within minutes. [CRITICAL lowered to INFO by approval policy"
        " approved_exposure[0] (policy line 32): 22/tcp from world, owner platform-team@example.com, until 2026-12-31"
        " (bastion during the data-centre migration, then replaced by Session Manager)]"
    )


def test_a_mute_is_data_and_renders_as_before() -> None:
    [verdict] = apply_policy(classify(ICMP_SANDBOX), EXAMPLE, today=TODAY).verdicts
    [mute] = verdict.lowered_by
    assert (mute.action, mute.entry, mute.line, mute.note) == (
        PolicyAction.MUTED,
        "mute[0]",
        52,
        "sandbox account, rebuilt nightly",
    )
    assert (mute.from_severity, mute.to_severity, mute.lowered) == (Severity.LOW, Severity.INFO, True)
    assert render_reason(verdict) == (
        "All ICMP opened to public range 203.0.113.1/32 on sg-01234567890abcdef by user/username via console."
        " Why it matters: inbound access was added from a specific, private or referenced source."
        " [LOW lowered to INFO by mute policy mute[0] (policy line 52): sandbox account, rebuilt nightly]"
    )


def test_a_mute_of_what_is_already_info_names_itself_and_lowers_nothing() -> None:
    [verdict] = apply_policy(classify(REVOKE_SANDBOX), EXAMPLE, today=TODAY).verdicts
    assert verdict.wording is Wording.SUMMARY_ONLY and verdict.why == rules.RULE_REVOKED.rationale
    [mute] = verdict.lowered_by
    assert not mute.lowered and mute.to_severity is Severity.INFO
    assert render_reason(verdict) == (
        "Inbound rule (3306/tcp with public range 203.0.113.1/32) revoked on sg-01234567890abcdef by user/username"
        " via console [mute policy mute[0] (policy line 52): sandbox account, rebuilt nightly]"
    )


def test_an_expired_approval_is_data_that_lowers_nothing() -> None:
    policy = load_policy(
        '[[approved_exposure]]\ngroup_id = "sg-0e79c7acdf4a0225e"\nexposure = "22/tcp from world"\n'
        'owner = "ops"\nexpires = 2026-01-01\nreason = "migration"\n'
    )
    result = apply_policy(classify(SSH_WORLD), policy, today=TODAY)
    [verdict] = result.verdicts
    [expired] = verdict.lowered_by
    assert expired.action is PolicyAction.APPROVAL_EXPIRED and expired.entry == "approved_exposure[0]"
    assert (expired.from_severity, expired.to_severity) == (Severity.CRITICAL, Severity.CRITICAL)
    assert result.severity is Severity.CRITICAL and result.to_dict()["loweredBy"] == ["approved_exposure[0]"]
    assert render_reason(verdict).endswith(
        " [approval policy approved_exposure[0] (policy line 1) for 22/tcp from world expired on 2026-01-01;"
        " it no longer counts]"
    )


def test_a_tag_approval_names_the_tag_and_a_bad_tag_says_why() -> None:
    tags = {"sg-0e79c7acdf4a0225e": {"sgwatch:approved": "22/tcp from world, nonsense; owner=bastion"}}
    result = apply_policy(classify(SSH_WORLD), load_policy("tag_approvals = true\n"), tags=tags, today=TODAY)
    [verdict] = result.verdicts
    approved, unreadable = verdict.lowered_by
    assert approved.action is PolicyAction.APPROVED and approved.from_tag and approved.owner == "bastion"
    assert unreadable.action is PolicyAction.TAG_UNREADABLE and not unreadable.lowered
    assert render_reason(verdict).endswith(
        ". [CRITICAL lowered to INFO by approval sgwatch:approved on sg-0e79c7acdf4a0225e: 22/tcp from world, owner"
        " bastion (sgwatch:approved on sg-0e79c7acdf4a0225e)] [tag sgwatch:approved on sg-0e79c7acdf4a0225e:"
        " ' nonsense' is not an exposure; write e.g. '443/tcp from world' or '22/tcp from 10.0.0.0/8']"
    )


def test_a_default_group_learned_from_ec2_appends_its_why() -> None:
    record = load(CONSTRUCTED / "authorize_ingress_broad_public_8443.json")
    group = classify(record).group_ids[0]
    result = apply_facts(classify(record), {group: GroupFacts(group, name="default", vpc_id="vpc-1")})
    default = result.verdicts[-1]
    assert default.rule is rules.DEFAULT_GROUP_INGRESS and default.wording is Wording.APPENDED
    assert render_reason(default) == (
        f"{group} is the default security group of vpc-1: {rules.DEFAULT_GROUP_INGRESS.rationale}."
    )
    assert result.severity is Severity.HIGH  # derived from the verdicts, not stored


def test_a_denied_call_says_what_was_attempted_from_the_attempts_summary() -> None:
    denied = classify(load(CONSTRUCTED / "authorize_ingress_client_unauthorizedoperation_rdp_world.json"))
    [verdict] = denied.verdicts
    assert verdict.rule is rules.DENIED_ATTEMPT and verdict.why == rules.DENIED_ATTEMPT.rationale
    assert "; nothing changed. Attempted: RDP (3389/tcp) opened to the whole internet" in verdict.summary
    assert "Why it matters" not in verdict.summary
    assert render_reason(verdict) == f"{verdict.summary}. Why it matters: {rules.DENIED_ATTEMPT.rationale}."


def test_the_json_result_keeps_its_reasons_and_gains_findings() -> None:
    result = apply_policy(classify(ICMP_SANDBOX), EXAMPLE, today=TODAY)
    logged = result.to_dict()
    assert logged["reasons"] == [render_reason(verdict) for verdict in result.verdicts]
    assert logged["loweredBy"] == ["mute[0]"]
    assert logged["findings"] == [
        {
            "rule": "ingress-added",
            "severity": "INFO",
            "summary": result.verdicts[0].summary,
            "why": rules.INGRESS_ADDED.rationale,
            "advice": rules.INGRESS_ADDED.advice,
            "groupId": "sg-01234567890abcdef",
            "change": 0,
            "loweredBy": [
                {"action": "mute", "entry": "mute[0]", "line": 52, "note": "sandbox account, rebuilt nightly",
                 "from": "LOW", "to": "INFO"},
            ],
        }
    ]  # fmt: skip


def test_the_history_table_shows_the_summary_whatever_the_policy_added() -> None:
    muted = apply_policy(classify(ICMP_SANDBOX), EXAMPLE, today=TODAY)
    [line] = render_table([muted]).splitlines()[1:]
    assert line.endswith(muted.verdicts[0].summary)
