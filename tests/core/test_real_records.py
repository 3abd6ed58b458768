"""Every real, published CloudTrail record classifies without error to the severity a security engineer expects."""

from __future__ import annotations

from pathlib import Path

import pytest
from sgwatch.core.classify import classify
from sgwatch.core.envelopes import unwrap
from sgwatch.core.severity import Severity

from tests.conftest import REAL_RECORDS, load, real_record_files

#: file -> (severity, the severity rules behind it). Why each one, in a word: see the comment.
EXPECTED: dict[str, tuple[Severity, set[str]]] = {
    # 203.0.113.1/32 may ping: a specific source
    "netebakari-cloudtrail-lambda/authorize_ingress_console_icmp_all_types_-1.json": (Severity.LOW, {"ingress-added"}),
    "netebakari-cloudtrail-lambda/modify_network_interface_attribute_groupset_three_groups_console.json": (
        Severity.LOW,
        {"attachment-changed"},
    ),
    "netebakari-cloudtrail-lambda/revoke_ingress_console_mysql_3306_32.json": (Severity.INFO, {"rule-revoked"}),
    # outbound all traffic: the usual egress rule
    "panther-analysis/manualsgchange__authorize_egress_terraform.json": (Severity.LOW, {"egress-added"}),
    "panther-analysis/manualsgchange__authorize_ingress_aws_sdk_go.json": (Severity.CRITICAL, {"world-sensitive-port"}),
    # 0.0.0.0/16 is not the world and not wider than a /16
    "panther-analysis/manualsgchange__authorize_ingress_console_assumedrole.json": (Severity.LOW, {"ingress-added"}),
    "panther-analysis/manualsgchange__authorize_ingress_console_error_unauthorizedoperation.json": (
        Severity.MEDIUM,
        {"denied-attempt"},
    ),
    "panther-analysis/manualsgchange__create_security_group_terraform.json": (Severity.INFO, {"group-created"}),
    "panther-analysis/sgmodified__authorize_ingress_console_ssh_32.json": (Severity.LOW, {"ingress-added"}),
    "panther-analysis/sgmodified__authorize_ingress_error_requestexpired.json": (Severity.LOW, {"failed-call"}),
    "panther-analysis/startupscriptchange__modifyinstanceattribute_instancetype_lowercase_keys.json": (
        Severity.NONE,
        set(),
    ),
    "panther-analysis/startupscriptchange__modifyinstanceattribute_userdata.json": (Severity.NONE, set()),
    "panther-analysis/vulnxzimage__runinstances_console_networkinterfaceset.json": (
        Severity.LOW,
        {"attachment-changed"},
    ),
    "rubysoho07-cloudtrail-watcher/authorize_egress_terraform_v6_all_traffic_proto_-1.json": (
        Severity.LOW,
        {"egress-added"},
    ),
    "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json": (
        Severity.CRITICAL,
        {"world-sensitive-port"},
    ),
    "rubysoho07-cloudtrail-watcher/create_security_group_console_2022_placeholders.json": (
        Severity.INFO,
        {"group-created"},
    ),
    # the direction is unstated: rated as ingress from a /32
    "rubysoho07-cloudtrail-watcher/modify_security_group_rules_console_iamuser_cidrv4_443.json": (
        Severity.LOW,
        {"ingress-added"},
    ),
    "rubysoho07-cloudtrail-watcher/revoke_egress_terraform_v6_all_traffic_with_revokedSecurityGroupRuleSet.json": (
        Severity.INFO,
        {"rule-revoked"},
    ),
    "rubysoho07-cloudtrail-watcher/revoke_ingress_terraform_v6_ssh_with_revokedSecurityGroupRuleSet.json": (
        Severity.INFO,
        {"rule-revoked"},
    ),
    # 208.236.235.254/0 is the anonymiser's rewrite of 0.0.0.0/0: still the world
    "stratus-red-team/authorize_ingress_flat_cidrIp_port22_iamuser.json": (Severity.CRITICAL, {"world-sensitive-port"}),
    "stratus-red-team/modifyinstanceattribute_userdata.json": (Severity.NONE, set()),
    # not a security-group call: the trail stopped (tamper detection); any trail counts, whoever owns it
    "stratus-red-team/stop_logging_iamuser.json": (Severity.CRITICAL, {"monitor-stopped"}),
    "streamalert/eventbridge_authorize_ingress_all_traffic_0_0_0_0_and_ipv6_any.json": (
        Severity.CRITICAL,
        {"world-all-traffic"},
    ),
    "streamalert/eventbridge_authorize_ingress_all_traffic_rfc1918.json": (Severity.LOW, {"ingress-added"}),
    "wwalpha-aws-spotlight/authorize_egress_console_iamuser_all_traffic_proto_-1_ipv4_ipv6_any.json": (
        Severity.LOW,
        {"egress-added"},
    ),
    "wwalpha-aws-spotlight/authorize_ingress_console_switchrole_mysql_3306_any_ipv4_ipv6.json": (
        Severity.CRITICAL,
        {"world-sensitive-port"},
    ),
    "wwalpha-aws-spotlight/create_security_group_console_iamuser.json": (Severity.INFO, {"group-created"}),
    "wwalpha-aws-spotlight/create_security_group_terraform_instance_role_with_tags.json": (
        Severity.INFO,
        {"group-created"},
    ),
    "wwalpha-aws-spotlight/delete_security_group_eks_service_linked_role.json": (Severity.LOW, {"group-deleted"}),
    "wwalpha-aws-spotlight/delete_security_group_terraform_instance_role_by_groupId.json": (
        Severity.LOW,
        {"group-deleted"},
    ),
    "wwalpha-aws-spotlight/delete_security_group_terraform_instance_role_by_groupName_EDITED.json": (
        Severity.LOW,
        {"group-deleted"},
    ),
    "wwalpha-aws-spotlight/modify_instance_attribute_instancetype_console_NOT_groupset.json": (Severity.NONE, set()),
    "wwalpha-aws-spotlight/modify_network_interface_attribute_groupset_clientvpn_service.json": (
        Severity.LOW,
        {"attachment-changed"},
    ),
    "wwalpha-aws-spotlight/revoke_egress_console_iamuser_ssh_32.json": (Severity.INFO, {"rule-revoked"}),
    "wwalpha-aws-spotlight/revoke_ingress_console_switchrole_mysql_3306_any_ipv4_ipv6.json": (
        Severity.INFO,
        {"rule-revoked"},
    ),
}


def _name(path: Path) -> str:
    return path.relative_to(REAL_RECORDS).as_posix()


def test_every_real_record_has_an_expectation() -> None:
    assert sorted(_name(path) for path in real_record_files()) == sorted(EXPECTED)


def test_provenance_names_every_real_record() -> None:
    provenance = (REAL_RECORDS / "PROVENANCE.md").read_text()
    missing = [name for name in EXPECTED if f"`{name}`" not in provenance]
    assert missing == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_record_severity(name: str) -> None:
    severity, rules = EXPECTED[name]
    items = list(unwrap(load(REAL_RECORDS / name), name))
    assert len(items) == 1
    item = items[0]
    result = classify(item.record, location=item.location, account=item.account, region=item.region)
    assert result.error == ""
    assert result.severity is severity
    assert {verdict.rule.id for verdict in result.verdicts} == rules
    if severity is not Severity.NONE:
        assert result.reasons and all(reason.strip() for reason in result.reasons)
        assert result.event_name and result.actor
