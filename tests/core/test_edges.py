"""Each shape and edge of the encoding rules, asserted on what sgwatch reads from it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sgwatch.core.addresses import PeerKind
from sgwatch.core.classify import Classification, classify
from sgwatch.core.envelopes import unwrap
from sgwatch.core.model import Action, Direction
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load
from tests.core.test_prefix_lists import BY_ENTRIES as PREFIX_LIST_EXPECTED


def classify_file(path: str) -> Classification:
    items = list(unwrap(load(path), path))
    assert len(items) == 1, items
    item = items[0]
    return classify(item.record, location=item.location, account=item.account, region=item.region)


def changes(result: Classification) -> list[dict[str, Any]]:
    return result.to_dict()["changes"]  # type: ignore[no-any-return]


CONSTRUCTED_EXPECTED = {
    "run_instances_launch_template_groups_in_response.json": (Severity.LOW, "attachment-changed"),
    "run_instances_denied_groupset.json": (Severity.LOW, "failed-call"),  # a denied launch is about the launch
    "create_network_interface_default_group.json": (Severity.LOW, "attachment-changed"),
    "create_vpc_endpoint_security_group.json": (Severity.LOW, "attachment-changed"),
    "create_vpc_endpoint_default_group.json": (Severity.LOW, "attachment-changed"),
    "modify_vpc_endpoint_add_security_groups.json": (Severity.LOW, "attachment-changed"),
    "associate_security_group_vpc.json": (Severity.LOW, "attachment-changed"),
    "create_launch_template_security_groups.json": (Severity.LOW, "attachment-changed"),
    "create_launch_template_version_interface_groups.json": (Severity.LOW, "attachment-changed"),
    **{name: (severity, rule_id) for name, (rule_id, severity) in PREFIX_LIST_EXPECTED.items()},
    "authorize_ingress_prefix_list_https.json": (Severity.LOW, "ingress-added"),
    "authorize_ingress_group_reference_postgres.json": (Severity.LOW, "ingress-added"),
    "authorize_ingress_groupname_default_postgres_private.json": (Severity.HIGH, "default-group-ingress"),
    "authorize_ingress_broad_public_postgres.json": (Severity.HIGH, "broad-public-sensitive-port"),
    "authorize_ingress_broad_public_8443.json": (Severity.MEDIUM, "broad-public-other-port"),
    "authorize_ingress_ipv6_world_8080.json": (Severity.HIGH, "world-other-port"),
    "authorize_ingress_world_web_80_443.json": (Severity.LOW, "world-web-port"),
    "authorize_ingress_world_ntp_udp_string_ports.json": (Severity.CRITICAL, "world-sensitive-port"),
    "authorize_ingress_world_icmp_echo.json": (Severity.LOW, "world-icmp"),
    "authorize_ingress_world_tcp_range_1024_65535.json": (Severity.CRITICAL, "world-sensitive-port"),
    "authorize_ingress_client_unauthorizedoperation_rdp_world.json": (Severity.MEDIUM, "denied-attempt"),
    "duplicate_rule_invalidpermission.json": (Severity.LOW, "failed-call"),
    "modify_security_group_rules_list_two_rules.json": (Severity.CRITICAL, "world-sensitive-port"),
    "modify_security_group_rules_prefix_list_object.json": (Severity.LOW, "ingress-added"),
    "update_descriptions_ingress_ippermissions.json": (Severity.INFO, "description-updated"),
    "update_descriptions_egress_rule_ids.json": (Severity.INFO, "description-updated"),
    "revoke_ingress_rule_ids.json": (Severity.INFO, "rule-revoked"),
    "authorize_ingress_split_world_ssh.json": (Severity.CRITICAL, "world-sensitive-port"),  # judged together
    "authorize_ingress_public_all_traffic.json": (Severity.MEDIUM, "public-all-traffic"),
    "modify_instance_attribute_groupset.json": (Severity.LOW, "attachment-changed"),
    "eventbridge_authorize_ingress_rdp_world.json": (Severity.CRITICAL, "world-sensitive-port"),
    "sns_wrapped_eventbridge_authorize_ingress_rdp_world.json": (Severity.CRITICAL, "world-sensitive-port"),
    "sqs_wrapped_eventbridge_authorize_ingress_rdp_world.json": (Severity.CRITICAL, "world-sensitive-port"),
}


def test_every_constructed_record_has_an_expectation() -> None:
    # the log file is read whole; the heartbeat has no verdict at all (tests/core/test_heartbeat.py)
    single = {path.name for path in CONSTRUCTED.glob("*.json")} - {
        "cloudtrail_log_file_mixed.json",
        "heartbeat_update_descriptions_egress_canary.json",
        "modify_vpc_endpoint_policy_only.json",  # names no group: not watched (tests/core/test_attachments.py)
        "create_launch_template_version_no_groups.json",  # the same
        "create_vpc_endpoint_gateway_no_groups.json",  # the same
    }
    assert single == set(CONSTRUCTED_EXPECTED)


@pytest.mark.parametrize("name", sorted(CONSTRUCTED_EXPECTED))
def test_constructed_record_severity(name: str) -> None:
    severity, top_rule = CONSTRUCTED_EXPECTED[name]
    result = classify_file(f"constructed/{name}")
    assert result.error == ""
    assert result.severity is severity
    assert max(result.verdicts, key=lambda verdict: verdict.severity).rule.id == top_rule


def test_reason_says_what_where_who_and_how() -> None:
    result = classify_file("cloudtrail/rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
    assert result.reasons[0].startswith(
        "SSH (22/tcp) opened to the whole internet (0.0.0.0/0) on sg-0e79c7acdf4a0225e by user/test_user via Terraform"
    )
    assert "Why it matters: SSH is remote administration" in result.reasons[0]


def test_flat_legacy_form_and_non_canonical_world_cidr() -> None:
    result = classify_file("cloudtrail/stratus-red-team/authorize_ingress_flat_cidrIp_port22_iamuser.json")
    [change] = changes(result)
    assert change["peer"] == "0.0.0.0/0"
    assert change["peerAsWritten"] == "208.236.235.254/0"
    assert change["peerKind"] == "world"
    assert (change["protocol"], change["fromPort"], change["toPort"]) == ("tcp", 22, 22)
    assert "208.236.235.254/0, read as 0.0.0.0/0" in result.reasons[0]


def test_group_name_only_takes_the_id_from_the_response() -> None:
    result = classify_file("constructed/authorize_ingress_groupname_default_postgres_private.json")
    assert result.group_ids == ["sg-0def0def0def0def0"]
    assert "the VPC's default group" in result.reasons[0]


def test_delete_by_group_name_names_the_group() -> None:
    name = "wwalpha-aws-spotlight/delete_security_group_terraform_instance_role_by_groupName_EDITED.json"
    result = classify_file(f"cloudtrail/{name}")
    assert result.group_ids == []
    assert "'bluegreen_alb_sg-20230117040516059800000001'" in result.reasons[0]


def test_modify_security_group_rules_object_and_list() -> None:
    single = classify_file(
        "cloudtrail/rubysoho07-cloudtrail-watcher/modify_security_group_rules_console_iamuser_cidrv4_443.json"
    )
    [change] = changes(single)
    assert change["ruleId"] == "sgr-0481972caed6e2e1c"
    assert change["direction"] == "unstated"
    assert single.group_ids == ["sg-ef6e8186"]
    assert "rated as inbound, the worst case" in single.reasons[0]
    several = classify_file("constructed/modify_security_group_rules_list_two_rules.json")
    assert [(c["ruleId"], c["peerKind"], c["severity"]) for c in changes(several)] == [
        ("sgr-0111111111111111a", "world", "CRITICAL"),
        ("sgr-0222222222222222b", "security-group", "LOW"),
    ]


def test_protocol_all_without_ports_covers_everything() -> None:
    result = classify_file("cloudtrail/streamalert/eventbridge_authorize_ingress_all_traffic_0_0_0_0_and_ipv6_any.json")
    assert [(c["protocol"], c["fromPort"], c["peer"], c["peerKind"]) for c in changes(result)] == [
        ("all", None, "0.0.0.0/0", "world"),
        ("all", None, "::/0", "world"),
    ]
    assert result.reasons[0].startswith("All traffic (every protocol and port) opened to the whole internet")


def test_icmp_minus_one_means_all_types() -> None:
    result = classify_file("cloudtrail/netebakari-cloudtrail-lambda/authorize_ingress_console_icmp_all_types_-1.json")
    [change] = changes(result)
    assert (change["protocol"], change["ports"]) == ("icmp", "all ICMP")


def test_string_ports_and_numeric_protocol() -> None:
    result = classify_file("constructed/authorize_ingress_world_ntp_udp_string_ports.json")
    [change] = changes(result)
    assert (change["protocol"], change["fromPort"], change["toPort"]) == ("udp", 123, 123)
    assert result.reasons[0].startswith("NTP (123/udp) opened to the whole internet")


def test_prefix_list_and_group_reference_are_not_world() -> None:
    prefix = classify_file("constructed/authorize_ingress_prefix_list_https.json")
    assert [(c["peer"], c["peerKind"]) for c in changes(prefix)] == [("pl-0123456789abcdef0", "prefix-list")]
    reference = classify_file("constructed/authorize_ingress_group_reference_postgres.json")
    assert [(c["peer"], c["peerKind"]) for c in changes(reference)] == [("sg-0ddd3333eeee4444f", "security-group")]


def test_ipv6_world() -> None:
    result = classify_file("constructed/authorize_ingress_ipv6_world_8080.json")
    assert [(c["peer"], c["peerKind"]) for c in changes(result)] == [("::/0", "world")]


def test_description_updates_are_info_and_quote_the_description() -> None:
    result = classify_file("constructed/update_descriptions_ingress_ippermissions.json")
    assert result.record is not None
    assert result.record.changes[0].action is Action.DESCRIBE
    assert "'office VPN'" in result.reasons[0]
    by_id = classify_file("constructed/update_descriptions_egress_rule_ids.json")
    assert by_id.record is not None
    assert by_id.record.changes[0].direction is Direction.EGRESS
    assert by_id.record.changes[0].rule_id == "sgr-0444444444444444d"


def test_revocation_by_rule_id_reads_the_rule_from_the_response() -> None:
    result = classify_file("constructed/revoke_ingress_rule_ids.json")
    assert result.record is not None
    [change] = result.record.changes
    assert (change.rule_id, change.peer.kind, change.ports_label()) == (
        "sgr-0555555555555555e",
        PeerKind.WORLD,
        "22/tcp",
    )


def test_denied_attempt_is_medium_and_never_higher() -> None:
    result = classify_file("constructed/authorize_ingress_client_unauthorizedoperation_rdp_world.json")
    assert result.outcome == "failed"
    assert result.to_dict()["errorCode"] == "Client.UnauthorizedOperation"
    assert result.severity is Severity.MEDIUM
    assert "was denied (Client.UnauthorizedOperation" in result.reasons[0]
    assert "Attempted: RDP (3389/tcp) opened to the whole internet" in result.reasons[0]
    assert result.actor == "assumed-role/ReadOnly/mallory"


def test_lower_cased_keys_are_read() -> None:
    result = classify_file(
        "cloudtrail/panther-analysis/manualsgchange__authorize_ingress_console_error_unauthorizedoperation.json"
    )
    assert result.actor == "assumed-role/TestAdmin/alan"
    assert result.account == "112233445566"
    assert result.event_time == "2021-01-24T04:55:45Z"


def test_attachment_lists_the_new_group_set_and_target() -> None:
    result = classify_file(
        "cloudtrail/netebakari-cloudtrail-lambda/modify_network_interface_attribute_groupset_three_groups_console.json"
    )
    assert result.group_ids == ["sg-01234567890abcdef", "sg-1234567890abcdef0", "sg-234567890abcdef01"]
    assert result.record is not None
    assert result.record.target == "eni-01234567890abcdef"


def test_service_caller_is_named_by_the_service() -> None:
    result = classify_file("cloudtrail/wwalpha-aws-spotlight/delete_security_group_eks_service_linked_role.json")
    assert "eks.amazonaws.com" in result.actor or "eks.amazonaws.com" in result.via


def test_envelope_account_and_region_fill_gaps() -> None:
    envelope = load("constructed/eventbridge_authorize_ingress_rdp_world.json")
    del envelope["detail"]["recipientAccountId"], envelope["detail"]["awsRegion"]
    del envelope["detail"]["userIdentity"]["accountId"]
    [item] = unwrap(envelope, "event")
    result = classify(item.record, account=item.account, region=item.region)
    assert (result.account, result.region) == ("111122223333", "eu-west-1")


def test_the_same_record_in_every_wrapper_classifies_the_same() -> None:
    raw = load("constructed/eventbridge_authorize_ingress_rdp_world.json")["detail"]
    expected = classify(raw).to_dict()
    for name in (
        "eventbridge_authorize_ingress_rdp_world.json",
        "sns_wrapped_eventbridge_authorize_ingress_rdp_world.json",
        "sqs_wrapped_eventbridge_authorize_ingress_rdp_world.json",
    ):
        wrapped = classify_file(f"constructed/{name}").to_dict()
        assert wrapped.pop("source").startswith(f"constructed/{name}")
        assert wrapped == expected


def test_real_records_dir_exists() -> None:
    assert (REAL_RECORDS / "PROVENANCE.md").is_file()


@pytest.mark.parametrize("event_time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_at_the_calendars_edge_is_kept_as_written_and_judged_as_any_other(event_time: str) -> None:
    """Such a time has no UTC form (converting it overflows): it is shown as the record wrote it."""
    record = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher" / "authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
    result = classify(dict(record, eventTime=event_time))
    assert result.severity is Severity.CRITICAL and not result.error
    assert result.event_time == event_time


def test_an_added_rule_carries_the_id_ec2_gave_it_matched_by_its_content() -> None:
    """The response's securityGroupRuleSet names each added rule's id: matched by direction, protocol, ports and peer,
    whatever the order, so that a rule can be revoked by its id and by nothing broader."""
    record = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
    [change] = classify(record).to_dict()["changes"]
    assert change["ruleId"] == "sgr-0ab4202bcd11d93d2"

    two = json.loads(json.dumps(record))
    https = {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}
    two["requestParameters"]["ipPermissions"]["items"].append(https)
    [ssh_item] = two["responseElements"]["securityGroupRuleSet"]["items"]
    https_item = dict(
        ssh_item, securityGroupRuleId="sgr-0bbbbbbbbbbbbbbbb", fromPort=443, toPort=443, cidrIpv4="10.0.0.0/8"
    )
    unmatched = dict(ssh_item, securityGroupRuleId="sgr-0ccccccccccccccccc", fromPort=3389, toPort=3389)
    two["responseElements"]["securityGroupRuleSet"]["items"] = [unmatched, https_item, ssh_item]  # any order
    assert [(c["ports"], c.get("ruleId")) for c in classify(two).to_dict()["changes"]] == [
        ("22/tcp", "sgr-0ab4202bcd11d93d2"),
        ("443/tcp", "sgr-0bbbbbbbbbbbbbbbb"),
    ]
    del two["responseElements"]["securityGroupRuleSet"]["items"][2]  # EC2 did not state the SSH rule: no id guessed
    assert [c.get("ruleId") for c in classify(two).to_dict()["changes"]] == [None, "sgr-0bbbbbbbbbbbbbbbb"]
