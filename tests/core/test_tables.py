"""The data tables: monitored events, sensitive ports, severity rules, and how addresses are read."""

from __future__ import annotations

import pytest
from sgwatch.core import rules
from sgwatch.core.addresses import PeerKind, classify_cidr
from sgwatch.core.events import MONITORED_EVENTS, monitored_event_names
from sgwatch.core.model import protocol_name
from sgwatch.core.ports import SENSITIVE_PORTS, sensitive_ports_covered
from sgwatch.core.severity import Severity

DESIGN_MONITORED = {
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup", "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress", "UpdateSecurityGroupRuleDescriptionsEgress",
    "ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute",
    # a prefix list opens every rule that references it, through calls that name no group
    "CreateManagedPrefixList", "ModifyManagedPrefixList", "RestoreManagedPrefixListVersion",
    # new or moved hosts behind groups, when the record names them
    "RunInstances", "CreateNetworkInterface", "CreateVpcEndpoint", "ModifyVpcEndpoint", "AssociateSecurityGroupVpc",
    "CreateLaunchTemplate", "CreateLaunchTemplateVersion",
}  # fmt: skip


def test_monitored_events_are_exactly_the_designed_list() -> None:
    names = monitored_event_names()
    assert len(names) == len(set(names))
    assert set(names) == DESIGN_MONITORED
    assert {event.name for event in MONITORED_EVENTS if event.requires_group_set} == {
        "ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute", "RunInstances", "CreateNetworkInterface",
        "CreateVpcEndpoint", "ModifyVpcEndpoint", "AssociateSecurityGroupVpc", "CreateLaunchTemplate",
        "CreateLaunchTemplateVersion",
    }  # fmt: skip
    assert all(len(event.rationale) > 20 for event in MONITORED_EVENTS)


def test_every_catalogue_entry_has_a_name_a_reason_and_a_sane_range() -> None:
    for entry in SENSITIVE_PORTS:
        assert entry.name and len(entry.reason) > 20 and entry.category
        assert entry.protocol in ("tcp", "udp")
        assert 0 < entry.first <= entry.last <= 65535


@pytest.mark.parametrize(
    ("protocol", "first", "last", "expected"),
    [
        ("tcp", 22, 22, ["SSH"]),
        ("tcp", 5985, 5985, ["WinRM"]),
        ("tcp", 5986, 6000, ["WinRM"]),
        ("udp", 22, 22, []),
        ("udp", 11211, 11211, ["Memcached"]),
        ("tcp", 80, 80, []),
        ("tcp", 3300, 3400, ["RDP", "MySQL"]),
    ],
)
def test_port_ranges_cover_by_arithmetic(protocol: str, first: int, last: int, expected: list[str]) -> None:
    assert [entry.name for entry in sensitive_ports_covered(protocol, first, last)] == expected


def test_all_protocols_cover_the_whole_catalogue() -> None:
    assert sensitive_ports_covered("all", 0, 65535) == list(SENSITIVE_PORTS)


def test_severity_rules_are_named_once_and_follow_the_design() -> None:
    assert len({rule.id for rule in rules.RULES}) == len(rules.RULES)
    assert all(rule.rationale and rule.advice for rule in rules.RULES)
    assert rules.WORLD_ALL_TRAFFIC.severity is Severity.CRITICAL
    assert rules.WORLD_SENSITIVE_PORT.severity is Severity.CRITICAL
    assert rules.WORLD_OTHER_PORT.severity is Severity.HIGH
    assert rules.BROAD_PUBLIC_SENSITIVE_PORT.severity is Severity.HIGH
    assert rules.DEFAULT_GROUP_INGRESS.severity is Severity.HIGH
    assert rules.DENIED_ATTEMPT.severity is Severity.MEDIUM
    assert rules.BROAD_PUBLIC_OTHER_PORT.severity is Severity.MEDIUM
    assert rules.WORLD_WEB_PORT.severity is Severity.LOW
    assert rules.RULE_REVOKED.severity is Severity.INFO


@pytest.mark.parametrize(
    ("cidr", "kind", "canonical"),
    [
        ("0.0.0.0/0", PeerKind.WORLD, "0.0.0.0/0"),
        ("10.20.30.40/0", PeerKind.WORLD, "0.0.0.0/0"),
        ("::/0", PeerKind.WORLD, "::/0"),
        ("2001:db8::1/0", PeerKind.WORLD, "::/0"),
        ("52.0.0.0/8", PeerKind.BROAD_PUBLIC, "52.0.0.0/8"),
        ("52.1.0.0/16", PeerKind.PUBLIC, "52.1.0.0/16"),
        ("10.0.0.0/8", PeerKind.PRIVATE, "10.0.0.0/8"),
        ("172.16.0.0/12", PeerKind.PRIVATE, "172.16.0.0/12"),
        ("172.0.0.0/8", PeerKind.BROAD_PUBLIC, "172.0.0.0/8"),
        ("192.168.1.7/32", PeerKind.PRIVATE, "192.168.1.7/32"),
        ("2600::/16", PeerKind.BROAD_PUBLIC, "2600::/16"),
        ("2600:1f18::/32", PeerKind.BROAD_PUBLIC, "2600:1f18::/32"),  # a whole provider: broader than a /48
        ("2600:1f18:1234::/48", PeerKind.PUBLIC, "2600:1f18:1234::/48"),  # one site
        ("0.0.0.0/1", PeerKind.WORLD, "0.0.0.0/1"),  # half the internet: no attacker worth naming is left out
        ("128.0.0.0/2", PeerKind.BROAD_PUBLIC, "128.0.0.0/2"),
        ("2000::/3", PeerKind.WORLD, "2000::/3"),  # all global unicast
        ("2000::/4", PeerKind.WORLD, "2000::/4"),  # half of it
        ("2000::/5", PeerKind.BROAD_PUBLIC, "2000::/5"),
        ("fd00::/8", PeerKind.PRIVATE, "fd00::/8"),
        ("203.0.113.9", PeerKind.PUBLIC, "203.0.113.9/32"),
    ],
)
def test_cidrs_are_read_by_their_network(cidr: str, kind: PeerKind, canonical: str) -> None:
    peer = classify_cidr(cidr)
    assert (peer.kind, peer.address) == (kind, canonical)


@pytest.mark.parametrize("text", ["", "not-a-cidr", "10.0.0.0/33", "300.1.1.1/32"])
def test_bad_cidrs_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address range"):
        classify_cidr(text)


def test_severity_parse_and_lowering() -> None:
    assert Severity.parse(" medium ") is Severity.MEDIUM
    with pytest.raises(ValueError, match="expected one of NONE, INFO"):
        Severity.parse("urgent")
    assert Severity.CRITICAL.lowered() is Severity.HIGH
    assert Severity.INFO.lowered() is Severity.INFO
    assert Severity.NONE.lowered() is Severity.NONE


@pytest.mark.parametrize("spelling", ["6", "06", "tcp", "TCP", " Tcp "])
def test_a_protocol_is_one_protocol_in_every_spelling_ec2_accepts(spelling: str) -> None:
    assert protocol_name(spelling) == "tcp"
