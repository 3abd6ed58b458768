"""The policy file: every validation error names the line and the field; every effect is visible and only lowers."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from sgwatch.core.classify import Classification, classify
from sgwatch.core.envelopes import unwrap
from sgwatch.core.errors import PolicyError
from sgwatch.core.policy import apply_policy, load_policy, tag_approvals
from sgwatch.core.severity import Severity
from sgwatch.operator.cli import EXIT_OK, EXIT_USAGE, main

from tests.conftest import CONSTRUCTED, FIXTURES, REAL_RECORDS, load, real_record_files

POLICIES = FIXTURES / "policies"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"
SSH_WORLD = "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json"
TODAY = date(2026, 11, 26)


def policy(name: str) -> str:
    return (POLICIES / name).read_text()


def classified(path: Path, policy_text: str, tags: dict[str, dict[str, str]] | None = None) -> Classification:
    loaded = load_policy(policy_text, "policy.toml")
    [item] = unwrap(load(path), str(path))
    result = classify(item.record, account=item.account, region=item.region, settings=loaded.settings)
    return apply_policy(result, loaded, tags=tags, today=TODAY)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_cidr.toml", "policy.toml:7: internal_range[1].cidr: 'not-a-cidr' is not a CIDR"),
        ("missing_reason.toml", "policy.toml:1: trusted_principal[0].reason: every entry says why"),
        ("bad_exposure.toml", "policy.toml:1: approved_exposure[0].exposure: 'ssh from everywhere' is not an exposure"),
        ("bad_expiry.toml", "policy.toml:1: approved_exposure[0].expires: write a TOML date such as 2027-03-31"),
        ("unknown_field.toml", "policy.toml:1: mute[0]: unknown field 'group'; fields are account, group_id, reason"),
        ("unknown_section.toml", "policy.toml: unknown section 'trusted_principals'"),
        ("world_internal.toml", "internal_range[0].cidr: '0.0.0.0/0' is the whole internet; it cannot be internal"),
        ("not_in_catalogue.toml", "not_sensitive[0].name: Gopher/tcp is not in the built-in catalogue"),
        ("bad_channel.toml", "policy.toml: channels.email: unknown severity 'LOUD'"),
        ("not_toml.toml", "policy.toml: not valid TOML"),
    ],
)
def test_validation_errors_name_the_line_and_the_field(name: str, message: str) -> None:
    with pytest.raises(PolicyError) as error:
        load_policy(policy(name), "policy.toml")
    assert message in str(error.value)


def test_the_example_policy_is_valid_and_explained() -> None:
    out = io.StringIO()
    assert main(["policy", "check", str(EXAMPLE)], out, io.StringIO()) == EXIT_OK
    assert (
        "approved_exposure[0]: 22/tcp from world on sg-0e79c7acdf4a0225e is approved until 2026-12-31" in out.getvalue()
    )
    err = io.StringIO()
    assert main(["policy", "check", str(POLICIES / "bad_cidr.toml")], io.StringIO(), err) == EXIT_USAGE
    assert "internal_range[1].cidr" in err.getvalue()


def test_trusted_principal_lowers_one_level_and_says_so() -> None:
    text = '[[trusted_principal]]\narn = "arn:aws:iam::000000000000:user/test_user"\nreason = "the CI user"\n'
    result = classified(REAL_RECORDS / SSH_WORLD, text)
    assert result.severity is Severity.HIGH
    assert (
        "[CRITICAL lowered to HIGH by trusted policy trusted_principal[0] (policy line 1): the CI user]"
        in result.reasons[0]
    )


def test_trusted_role_matches_the_role_behind_the_session() -> None:
    text = '[[trusted_principal]]\narn = "arn:aws:iam::*:role/Operator"\nreason = "operators"\n'
    result = classified(REAL_RECORDS / "panther-analysis/manualsgchange__authorize_ingress_aws_sdk_go.json", text)
    assert result.severity is Severity.HIGH


def test_internal_range_is_private_not_public() -> None:
    path = CONSTRUCTED / "authorize_ingress_broad_public_postgres.json"
    assert classified(path, "").severity is Severity.HIGH
    text = '[[internal_range]]\ncidr = "52.0.0.0/8"\nreason = "our own allocation"\n'
    result = classified(path, text)
    assert result.severity is Severity.LOW
    assert result.to_dict()["changes"][0]["peerKind"] == "private"


def test_approval_by_entry_makes_the_change_info_and_names_it() -> None:
    result = classified(CONSTRUCTED / "authorize_ingress_world_web_80_443.json", policy("approve_web.toml"))
    assert result.severity is Severity.INFO
    assert all(
        "by approval policy approved_exposure[0] (policy line 1): 80-443/tcp from world, owner web-team" in r
        for r in result.reasons
    )


def test_approval_by_tag_on_the_group() -> None:
    tags = {"sg-0e79c7acdf4a0225e": {"sgwatch:approved": "22/tcp from world; owner=bastion-team; expires=2027-06-30"}}
    assert classified(REAL_RECORDS / SSH_WORLD, "", tags).severity is Severity.CRITICAL  # tags count only if trusted
    result = classified(REAL_RECORDS / SSH_WORLD, "tag_approvals = true\n", tags)
    assert result.severity is Severity.INFO
    assert (
        "approval sgwatch:approved on sg-0e79c7acdf4a0225e: 22/tcp from world, owner bastion-team" in result.reasons[0]
    )


def test_an_approval_that_does_not_cover_the_change_does_nothing() -> None:
    tags = {"sg-0e79c7acdf4a0225e": {"sgwatch:approved": "443/tcp from world; owner=web"}}
    assert classified(REAL_RECORDS / SSH_WORLD, "tag_approvals = true\n", tags).severity is Severity.CRITICAL


def test_an_expired_approval_stops_counting_and_says_so() -> None:
    result = classified(REAL_RECORDS / SSH_WORLD, policy("expired_approval.toml"))
    assert result.severity is Severity.CRITICAL
    assert "expired on 2026-01-01; it no longer counts" in result.reasons[0]


def test_a_bad_tag_approves_nothing_and_says_why() -> None:
    approvals, problems = tag_approvals("sg-1", {"sgwatch:approved": "ssh from anywhere; expires=soon"})
    assert approvals == []
    assert any("expires='soon' is not a date" in problem for problem in problems)
    assert any("is not an exposure" in problem for problem in problems)


def test_sensitive_ports_can_be_added_and_removed() -> None:
    jupyter = '[[sensitive_port]]\nname = "Jupyter"\nprotocol = "tcp"\nports = "8080"\nreason = "notebooks"\n'
    result = classified(CONSTRUCTED / "authorize_ingress_ipv6_world_8080.json", jupyter)
    assert result.severity is Severity.CRITICAL and "Jupyter (8080/tcp)" in result.reasons[0]
    no_ntp = '[[not_sensitive]]\nname = "NTP"\nprotocol = "udp"\nreason = "our time servers are public"\n'
    assert (
        classified(CONSTRUCTED / "authorize_ingress_world_ntp_udp_string_ports.json", no_ntp).severity is Severity.HIGH
    )


def test_muted_group_is_info_and_cites_the_mute() -> None:
    text = '[[mute]]\ngroup_id = "sg-0e79c7acdf4a0225e"\nreason = "load-test group"\n'
    result = classified(REAL_RECORDS / SSH_WORLD, text)
    assert result.severity is Severity.INFO
    assert "[CRITICAL lowered to INFO by mute policy mute[0] (policy line 1): load-test group]" in result.reasons[0]


def test_no_critical_is_lost_under_a_policy_that_silences_everything() -> None:
    silencing = policy("mute_everything.toml")
    for path in real_record_files():
        for item in unwrap(load(path), str(path)):
            plain = classify(item.record, account=item.account, region=item.region)
            if plain.severity is not Severity.CRITICAL:
                continue
            loaded = load_policy(silencing, "policy.toml")
            result = apply_policy(plain, loaded, today=TODAY)
            if plain.tamper is not None:  # no mute covers a call that blinds the monitor; trust lowers one level
                assert result.severity is Severity.HIGH
                assert [lowering.action.value for lowering in result.verdicts[0].lowered_by] == ["trusted"]
                continue
            assert result.record is not None  # still a finding: logged, counted, in the JSON
            assert result.severity < Severity.CRITICAL
            assert all("lowered to" in reason and "policy" in reason for reason in result.reasons), result.reasons


def test_classify_policy_option_with_the_example_gives_fewer_alerts_each_explained() -> None:
    plain_out, policy_out = io.StringIO(), io.StringIO()
    main(["classify", str(REAL_RECORDS)], plain_out, io.StringIO())
    main(["classify", "--policy", str(EXAMPLE), str(REAL_RECORDS)], policy_out, io.StringIO())
    plain = [json.loads(line) for line in plain_out.getvalue().splitlines()]
    lowered = [json.loads(line) for line in policy_out.getvalue().splitlines()]
    assert len(plain) == len(lowered)  # nothing disappears
    at_least_medium = [r for r in lowered if Severity[r["severity"]] >= Severity.MEDIUM]
    assert len(at_least_medium) < len([r for r in plain if Severity[r["severity"]] >= Severity.MEDIUM])
    for before, after in zip(plain, lowered, strict=True):
        if after["severity"] != before["severity"]:
            assert any("policy" in reason or "approval" in reason for reason in after["reasons"])


def test_a_bad_policy_is_a_usage_error() -> None:
    err = io.StringIO()
    assert (
        main(["classify", "--policy", str(POLICIES / "bad_cidr.toml"), str(REAL_RECORDS)], io.StringIO(), err)
        == EXIT_USAGE
    )
    assert "bad_cidr.toml:7: internal_range[1].cidr" in err.getvalue()
