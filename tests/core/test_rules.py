"""The rules registry: each rule's predicate on a record that reaches it, and the declared order that decides
between rules whose predicates both apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from sgwatch.core import rules
from sgwatch.core.addresses import most_open
from sgwatch.core.classify import Classification, classify
from sgwatch.core.enrich import GroupFacts, apply_facts
from sgwatch.core.envelopes import unwrap
from sgwatch.core.model import SecurityGroupRecord
from sgwatch.core.ports import SensitivePort, sensitive_ports_covered
from sgwatch.core.rules import Context, Family, Rule, first_rule
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load
from tests.core.test_tamper import EXPECTED as TAMPER_EXPECTED

#: A record that reaches each rule, real where one exists (REAL_RECORDS), constructed otherwise.
REACHED_BY: dict[str, Path] = {
    "rule-revoked": REAL_RECORDS / "netebakari-cloudtrail-lambda/revoke_ingress_console_mysql_3306_32.json",
    "description-updated": CONSTRUCTED / "update_descriptions_ingress_ippermissions.json",
    "egress-added": REAL_RECORDS / "panther-analysis/manualsgchange__authorize_egress_terraform.json",
    "world-all-traffic": REAL_RECORDS
    / "streamalert/eventbridge_authorize_ingress_all_traffic_0_0_0_0_and_ipv6_any.json",
    "world-sensitive-port": REAL_RECORDS
    / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json",
    "world-icmp": CONSTRUCTED / "authorize_ingress_world_icmp_echo.json",
    "world-web-port": CONSTRUCTED / "authorize_ingress_world_web_80_443.json",
    "world-other-port": CONSTRUCTED / "authorize_ingress_ipv6_world_8080.json",
    "broad-public-sensitive-port": CONSTRUCTED / "authorize_ingress_broad_public_postgres.json",
    "broad-public-other-port": CONSTRUCTED / "authorize_ingress_broad_public_8443.json",
    "public-all-traffic": CONSTRUCTED / "authorize_ingress_public_all_traffic.json",
    "ingress-added": REAL_RECORDS / "netebakari-cloudtrail-lambda/authorize_ingress_console_icmp_all_types_-1.json",
    "group-created": REAL_RECORDS / "panther-analysis/manualsgchange__create_security_group_terraform.json",
    "group-deleted": REAL_RECORDS
    / "wwalpha-aws-spotlight/delete_security_group_terraform_instance_role_by_groupId.json",
    "attachment-changed": CONSTRUCTED / "modify_instance_attribute_groupset.json",
    "default-group-ingress": CONSTRUCTED / "authorize_ingress_groupname_default_postgres_private.json",
    "open-group-attached": CONSTRUCTED / "modify_instance_attribute_groupset.json",
    "denied-attempt": CONSTRUCTED / "authorize_ingress_client_unauthorizedoperation_rdp_world.json",
    "failed-call": CONSTRUCTED / "duplicate_rule_invalidpermission.json",
    "prefix-list-world-entry": CONSTRUCTED / "modify_managed_prefix_list_add_world.json",
    "prefix-list-broad-entry": CONSTRUCTED / "modify_managed_prefix_list_add_broad.json",
    "prefix-list-restored": CONSTRUCTED / "restore_managed_prefix_list_version.json",
    "prefix-list-entries-added": CONSTRUCTED / "create_managed_prefix_list_office.json",
    "prefix-list-nothing-added": CONSTRUCTED / "modify_managed_prefix_list_remove_only.json",
}
OPEN_GROUP = "sg-0aaa1111bbbb2222c"  # the first group modify_instance_attribute_groupset.json attaches


def classified(path: Path) -> Classification:
    """The file's one record, out of its envelope (EventBridge, SNS, SQS) when it has one."""
    [item] = unwrap(load(path), str(path))
    return classify(item.record, account=item.account, region=item.region)


def parsed(path: Path) -> SecurityGroupRecord:
    record = classified(path).record
    assert record is not None, path
    return record


def context_of(rule: Rule, record: SecurityGroupRecord) -> Context:
    """What the classifier hands the rule's family for this record: its first change, the services it covers."""
    change = record.changes[0] if record.changes and rule.family is not Family.RECORD else None
    services: tuple[SensitivePort, ...] = ()
    if change is not None and change.protocol:
        services = tuple(sensitive_ports_covered(change.protocol, *change.port_range))
    return Context(
        record=record,
        change=change,
        services=services,
        group_is_default=record.group_name == "default",
        attached_exposure=Severity.CRITICAL if rule is rules.OPEN_GROUP_ATTACHED else Severity.NONE,
        entries=most_open(record.prefix_list.added) if record.prefix_list is not None else None,
    )


def test_every_rule_has_a_record_that_reaches_it() -> None:
    tamper_rules = {rule_id for _, rule_id in TAMPER_EXPECTED.values() if rule_id}  # tests/core/test_tamper.py
    assert set(REACHED_BY) | tamper_rules | {"unreadable-record", "tamper-failed"} == {rule.id for rule in rules.RULES}


def test_a_failed_tamper_call_that_was_not_denied_is_low() -> None:
    throttled = {**load("tamper/cloudtrail__stop_logging__denied.json"), "errorCode": "ThrottlingException"}
    (verdict,) = classify(throttled).verdicts
    assert verdict.rule is rules.TAMPER_FAILED and verdict.severity is Severity.LOW


@pytest.mark.parametrize("rule", [rule for rule in rules.RULES if rule.id in REACHED_BY], ids=lambda rule: rule.id)
def test_each_predicate_applies_to_its_record_and_is_its_familys_first(rule: Rule) -> None:
    context = context_of(rule, parsed(REACHED_BY[rule.id]))
    assert rule.applies(context)
    if rule.family is not Family.HYGIENE:  # hygiene rules raise another family's verdict; they are not its first
        assert first_rule(rule.family, context) is rule


@pytest.mark.parametrize("rule_id", sorted(set(REACHED_BY) - {"open-group-attached"}))
def test_each_rule_is_the_verdict_of_its_record(rule_id: str) -> None:
    assert rule_id in {verdict.rule.id for verdict in classified(REACHED_BY[rule_id]).verdicts}


def test_an_open_group_attached_is_judged_from_what_ec2_says_of_the_group() -> None:
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    facts = {OPEN_GROUP: GroupFacts(OPEN_GROUP, name="bastion", vpc_id="vpc-1", ingress_permissions=(ssh,))}
    result = apply_facts(classified(REACHED_BY["open-group-attached"]), facts)
    assert [verdict.rule.id for verdict in result.verdicts] == ["attachment-changed", "open-group-attached"]
    record = parsed(REACHED_BY["open-group-attached"])
    assert not rules.OPEN_GROUP_ATTACHED.applies(Context(record=record, attached_exposure=Severity.LOW))


def test_unreadable_record_applies_only_to_what_could_not_be_read() -> None:
    assert rules.UNREADABLE_RECORD.applies(Context(unreadable=True))
    failed = parsed(REACHED_BY["failed-call"])
    assert first_rule(Family.OUTCOME, Context(record=failed)) is rules.FAILED_CALL


def test_predicates_say_no_to_what_they_do_not_judge() -> None:
    revoked = parsed(REACHED_BY["rule-revoked"])
    assert first_rule(Family.OUTCOME, Context(record=revoked)) is None  # it succeeded
    assert first_rule(Family.RECORD, Context(record=revoked)) is None  # it is about rules, not the group
    assert not rules.DEFAULT_GROUP_INGRESS.applies(context_of(rules.RULE_REVOKED, revoked))


def test_the_registry_declares_each_familys_order() -> None:
    order = {family: [rule.id for rule in rules.RULES if rule.family is family] for family in Family}
    assert order == {
        Family.CHANGE: ["rule-revoked", "description-updated", "egress-added"],
        Family.EXPOSURE: [
            "world-all-traffic", "world-sensitive-port", "world-icmp", "world-web-port", "world-other-port",
            "broad-public-sensitive-port", "broad-public-other-port", "public-all-traffic", "ingress-added",
        ],
        Family.RECORD: ["group-created", "group-deleted", "attachment-changed"],
        Family.PREFIX_LIST: [
            "prefix-list-world-entry", "prefix-list-broad-entry", "prefix-list-restored", "prefix-list-entries-added",
            "prefix-list-nothing-added",
        ],
        Family.HYGIENE: ["default-group-ingress", "open-group-attached"],
        Family.OUTCOME: ["unreadable-record", "denied-attempt", "failed-call"],
        Family.TAMPER: ["monitor-stopped", "monitor-weakened", "monitor-restored", "monitor-setting-changed"],
        Family.TAMPER_OUTCOME: ["tamper-denied", "tamper-failed"],
    }  # fmt: skip
    assert len({rule.id for rule in rules.RULES}) == len(rules.RULES)


def test_the_order_decides_between_predicates_that_both_apply() -> None:
    ssh_world = context_of(rules.WORLD_SENSITIVE_PORT, parsed(REACHED_BY["world-sensitive-port"]))
    applying = [rule.id for rule in rules.RULES if rule.family is Family.EXPOSURE and rule.applies(ssh_world)]
    assert applying == ["world-sensitive-port", "world-other-port", "ingress-added"]
    denied = Context(record=parsed(REACHED_BY["denied-attempt"]))
    assert rules.FAILED_CALL.applies(denied) and first_rule(Family.OUTCOME, denied) is rules.DENIED_ATTEMPT
