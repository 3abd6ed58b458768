"""Managed prefix lists: an edit is judged by its entries alone, and, with what EC2 says of the list, on every rule
that references it; a rule whose source is a list is judged by the list's entries."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sgwatch.core.classify import Classification, classify
from sgwatch.core.enrich import (
    MAX_REFERENCING_RATED,
    PrefixListFacts,
    ReferencingRule,
    apply_prefix_list_facts,
    prefix_list_ids,
)
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, load

LIST = "pl-0123456789abcdef0"
SSH_RULE = ReferencingRule("sg-0aaa1111bbbb2222c", "sgr-0111111111111111a", False, "tcp", 22, 22)
WEB_RULE = ReferencingRule("sg-0ddd4444eeee5555f", "sgr-0222222222222222b", False, "tcp", 443, 443)
EGRESS_RULE = ReferencingRule("sg-0ddd4444eeee5555f", "sgr-0333333333333333c", True, "-1", None, None)

#: Each prefix-list record: the verdict its entries alone give, and its severity.
BY_ENTRIES = {
    "modify_managed_prefix_list_add_world.json": ("prefix-list-world-entry", Severity.HIGH),
    "modify_managed_prefix_list_add_split_world_and_remove.json": ("prefix-list-world-entry", Severity.HIGH),
    "modify_managed_prefix_list_add_broad.json": ("prefix-list-broad-entry", Severity.MEDIUM),
    "create_managed_prefix_list_office.json": ("prefix-list-entries-added", Severity.LOW),
    "restore_managed_prefix_list_version.json": ("prefix-list-restored", Severity.LOW),
    "modify_managed_prefix_list_remove_only.json": ("prefix-list-nothing-added", Severity.INFO),
    "modify_managed_prefix_list_denied.json": ("denied-attempt", Severity.MEDIUM),
}


def classified(name: str) -> Classification:
    return classify(load(CONSTRUCTED / name))


@pytest.mark.parametrize("name", sorted(BY_ENTRIES))
def test_an_edit_is_judged_by_its_entries_without_enrichment(name: str) -> None:
    result = classified(name)
    assert not result.error
    assert [(verdict.rule.id, verdict.severity) for verdict in result.verdicts] == [BY_ENTRIES[name]]
    assert result.to_dict()["prefixList"]["prefixListId"] == LIST


def test_the_published_shape_is_read_entry_by_entry() -> None:
    edit = classified("modify_managed_prefix_list_add_split_world_and_remove.json").record.prefix_list  # type: ignore[union-attr]
    assert edit is not None
    assert [peer.address for peer in edit.added] == ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    assert [peer.address for peer in edit.removed] == ["203.0.113.0/24"]
    created = classified("create_managed_prefix_list_office.json").record.prefix_list  # type: ignore[union-attr]
    assert created is not None and created.list_id == LIST and created.name == "corporate-egress"


def test_a_world_entry_says_the_exposure_depends_on_the_referencing_rules() -> None:
    [reason] = classified("modify_managed_prefix_list_add_world.json").reasons
    assert "gained the whole internet (0.0.0.0/0)" in reason
    assert "exposure depends on the rules that reference this list" in reason


def test_an_entry_that_is_not_a_range_is_an_error_naming_its_path() -> None:
    record = load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json")
    record["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"]["cidr"] = "everyone"
    result = classify(record)
    assert "requestParameters.ModifyManagedPrefixListRequest.AddEntry.cidr" in result.error
    assert "'everyone'" in result.error


def _facts(*rules: ReferencingRule, entries: tuple[str, ...] = ("0.0.0.0/0",)) -> dict[str, PrefixListFacts]:
    return {LIST: PrefixListFacts(LIST, "corporate-egress", "111122223333", entries, rules)}


def test_with_the_referencing_rules_an_edit_is_rated_on_each_inbound_rule_and_names_the_groups() -> None:
    result = classified("modify_managed_prefix_list_add_world.json")
    assert prefix_list_ids(result) == [LIST]
    rated = apply_prefix_list_facts(result, _facts(SSH_RULE, WEB_RULE, EGRESS_RULE))
    assert [(verdict.rule.id, verdict.severity) for verdict in rated.verdicts] == [
        ("world-sensitive-port", Severity.CRITICAL),
        ("world-web-port", Severity.LOW),
    ]
    assert rated.severity is Severity.CRITICAL
    assert rated.group_ids == ["sg-0aaa1111bbbb2222c", "sg-0ddd4444eeee5555f"]
    ssh = rated.reasons[0]
    assert ssh.startswith("SSH (22/tcp) opened to the whole internet (0.0.0.0/0, added to prefix list")
    assert "on sg-0aaa1111bbbb2222c through rule sgr-0111111111111111a" in ssh
    [change, _] = rated.to_dict()["changes"]
    assert change["ruleId"] == "sgr-0111111111111111a" and change["peerKind"] == "world"
    assert change["peerVia"] == f"added to prefix list {LIST} (corporate-egress)"


def test_the_union_of_an_edits_entries_is_what_each_rule_opens_to() -> None:
    rated = apply_prefix_list_facts(classified("modify_managed_prefix_list_add_split_world_and_remove.json"),
                                    _facts(SSH_RULE))  # fmt: skip
    [verdict] = rated.verdicts
    assert verdict.rule.id == "world-sensitive-port"
    assert "half of the internet or more (0.0.0.0/2, with 64.0.0.0/2, 128.0.0.0/2, 192.0.0.0/2," in verdict.summary


def test_a_list_no_inbound_rule_references_keeps_its_verdict_and_says_so() -> None:
    rated = apply_prefix_list_facts(classified("modify_managed_prefix_list_add_world.json"), _facts(EGRESS_RULE))
    [verdict] = rated.verdicts
    assert verdict.rule.id == "prefix-list-world-entry"
    assert verdict.summary.endswith("; no inbound security-group rule references the list now")


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {LIST: PrefixListFacts(LIST, error="UnauthorizedOperation: not allowed")},
        {LIST: PrefixListFacts(LIST, "corporate-egress", "111122223333", ("0.0.0.0/0",), None)},
    ],
    ids=["not asked", "denied", "references unknown"],
)
def test_without_the_referencing_rules_the_edit_keeps_its_verdict(facts: dict[str, PrefixListFacts]) -> None:
    result = classified("modify_managed_prefix_list_add_world.json")
    assert apply_prefix_list_facts(result, facts) == result


def test_removed_entries_open_nothing_on_the_referencing_rules() -> None:
    result = classified("modify_managed_prefix_list_remove_only.json")
    assert apply_prefix_list_facts(result, _facts(SSH_RULE)) == result


def test_specific_public_entries_are_rated_low_on_each_rule_with_the_group_named() -> None:
    rated = apply_prefix_list_facts(classified("create_managed_prefix_list_office.json"), _facts(SSH_RULE))
    assert [(verdict.rule.id, verdict.severity) for verdict in rated.verdicts] == [("ingress-added", Severity.LOW)]
    assert rated.group_ids == ["sg-0aaa1111bbbb2222c"]


def test_a_restored_version_is_rated_by_the_entries_the_list_holds_now() -> None:
    result = classified("restore_managed_prefix_list_version.json")
    [verdict] = apply_prefix_list_facts(result, _facts(SSH_RULE, entries=("198.51.100.0/24", "0.0.0.0/0"))).verdicts
    assert verdict.rule.id == "world-sensitive-port"
    assert f"restored into prefix list {LIST}" in verdict.summary


def test_a_failed_edit_is_never_rated_on_the_rules() -> None:
    result = classified("modify_managed_prefix_list_denied.json")
    assert prefix_list_ids(result) == []
    assert apply_prefix_list_facts(result, _facts(SSH_RULE)) == result


RULE_TO_LIST = "modify_security_group_rules_prefix_list_object.json"  # 22/tcp from pl-0123456789abcdef0


def test_a_rule_whose_source_is_a_customer_list_is_rated_by_the_lists_entries() -> None:
    result = classified(RULE_TO_LIST)
    assert result.severity is Severity.LOW and prefix_list_ids(result) == [LIST]
    rated = apply_prefix_list_facts(result, _facts(entries=("198.51.100.0/24", "0.0.0.0/0")))
    [verdict] = rated.verdicts
    assert (verdict.rule.id, verdict.severity) == ("world-sensitive-port", Severity.CRITICAL)
    assert f"the entries of prefix list {LIST} (corporate-egress)" in verdict.summary


def test_a_customer_list_of_private_ranges_keeps_the_rule_low_and_says_why() -> None:
    rated = apply_prefix_list_facts(classified(RULE_TO_LIST), _facts(entries=("10.0.0.0/8", "192.168.0.0/16")))
    [verdict] = rated.verdicts
    assert verdict.severity is Severity.LOW
    assert verdict.summary.endswith("the 2 entries of prefix list pl-0123456789abcdef0 (corporate-egress) are all"
                                    " private or specific ranges")  # fmt: skip


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("com.amazonaws.eu-west-1.s3", "addresses of an AWS service, not the internet"),
        ("com.amazonaws.global.cloudfront.origin-facing", "public by design"),
    ],
)
def test_aws_managed_lists_are_known_and_not_the_world(name: str, said: str) -> None:
    facts = {LIST: PrefixListFacts(LIST, name, "AWS", ("52.216.0.0/15", "0.0.0.0/1"))}
    [verdict] = apply_prefix_list_facts(classified(RULE_TO_LIST), facts).verdicts
    assert verdict.severity is Severity.LOW
    assert "is managed by AWS: " in verdict.summary and said in verdict.summary


def test_a_list_referenced_by_hundreds_of_rules_is_rated_on_the_worst_and_counts_the_rest() -> None:
    web = [replace(WEB_RULE, group_id=f"sg-{index:017x}", rule_id=f"sgr-{index:017x}") for index in range(300)]
    rated = apply_prefix_list_facts(classified("modify_managed_prefix_list_add_world.json"), _facts(*web, SSH_RULE))
    assert len(rated.verdicts) == MAX_REFERENCING_RATED
    assert rated.verdicts[0].rule.id == "world-sensitive-port"  # the SSH rule, last of 301, is kept first
    assert rated.verdicts[-1].summary.endswith("; 276 more rules reference the list (EC2 lists them all)")


def test_a_restore_whose_version_is_not_a_number_is_still_a_restore() -> None:
    for version in ("²", "-1", "", "x" * 5000):
        record = load(CONSTRUCTED / "restore_managed_prefix_list_version.json")
        record["requestParameters"]["RestoreManagedPrefixListVersionRequest"]["PreviousVersion"] = version
        result = classify(record)
        assert not result.error and [verdict.rule.id for verdict in result.verdicts] == ["prefix-list-restored"]


def test_an_entry_that_completes_a_range_with_what_the_list_held_is_judged_with_it() -> None:
    record = load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json")
    record["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"]["cidr"] = "64.0.0.0/2"
    result = classify(record)
    assert result.severity is Severity.MEDIUM  # a quarter of the internet: broad, by its entry alone
    [verdict] = apply_prefix_list_facts(result, _facts(SSH_RULE, entries=("0.0.0.0/2", "64.0.0.0/2"))).verdicts
    assert verdict.rule.id == "world-sensitive-port"
    assert "(64.0.0.0/2, with 0.0.0.0/2, added to prefix list" in verdict.summary
    assert verdict.summary.count("beside the entries it held") == 1


def test_when_other_rules_may_reference_the_list_its_entries_verdict_stays() -> None:
    result = classified("modify_managed_prefix_list_add_world.json")
    shared = {LIST: PrefixListFacts(LIST, "partner", "999988887777", ("0.0.0.0/0",), (WEB_RULE,))}
    rated = apply_prefix_list_facts(result, shared)
    assert [verdict.rule.id for verdict in rated.verdicts] == ["prefix-list-world-entry", "world-web-port"]
    assert rated.severity is Severity.HIGH
    assert "owned by account 999988887777, whose rules this account cannot see" in rated.verdicts[0].summary
    cut = {LIST: replace(_facts(WEB_RULE)[LIST], references_complete=False)}
    assert apply_prefix_list_facts(result, cut).severity is Severity.HIGH


def test_an_edit_of_thousands_of_entries_keeps_its_json_and_sentences_bounded() -> None:
    record = load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json")
    record["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"] = [
        {"cidr": f"10.{index // 256}.{index % 256}.0/24"} for index in range(20_000)
    ] + [{"cidr": "0.0.0.0/2"}, {"cidr": "64.0.0.0/2"}]
    result = classify(record)
    document = result.to_dict()
    assert len(document["prefixList"]["added"]) == 100 and document["prefixList"]["addedTotal"] == 20_002
    assert result.severity is Severity.HIGH and len(json.dumps(document)) < 20_000
