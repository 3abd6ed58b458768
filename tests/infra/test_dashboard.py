"""The dashboard and alarms show sgwatch's own metrics by the names the function emits them with."""

from __future__ import annotations

from datetime import date
from typing import Any

from sgwatch.core import names
from sgwatch.core.classify import classify
from sgwatch.core.events import monitored_event_names
from sgwatch.core.policy import apply_policy, load_policy
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, load
from tests.infra.conftest import dashboard_body, log_queries, shown_metrics, synth


def test_every_declared_metric_is_on_the_dashboard_or_an_alarm(default_stack: Any) -> None:
    _, template = default_stack
    shown = shown_metrics(template, names.METRIC_NAMESPACE)
    assert {name for name, _ in shown} == set(names.ALL_METRICS)


def test_dimensioned_metrics_carry_the_dimensions_the_function_emits(default_stack: Any) -> None:
    _, template = default_stack
    shown = shown_metrics(template, names.METRIC_NAMESPACE)
    service = names.SERVICE_DIMENSION
    assert (names.METRIC_CHANGES, frozenset({service, names.SEVERITY_DIMENSION})) in shown
    assert (names.METRIC_CHANGES_BY_EVENT, frozenset({service, names.EVENT_NAME_DIMENSION})) in shown
    assert all(dimensions >= {service} for _, dimensions in shown)


def test_severity_and_event_graphs_list_every_value(default_stack: Any) -> None:
    _, template = default_stack
    rows = [
        [value for value in metric if not isinstance(value, dict)]
        for widget in dashboard_body(template)["widgets"]
        for metric in widget.get("properties", {}).get("metrics", [])
    ]

    def values(metric: str, dimension: str) -> set[str]:
        return {row[row.index(dimension) + 1] for row in rows if row[:2] == [names.METRIC_NAMESPACE, metric]}

    assert values(names.METRIC_CHANGES, names.SEVERITY_DIMENSION) == {
        s.name for s in Severity if s is not Severity.NONE
    }
    assert values(names.METRIC_CHANGES_BY_EVENT, names.EVENT_NAME_DIMENSION) == set(monitored_event_names())


def test_logs_insights_table_shows_high_and_critical(default_stack: Any) -> None:
    _, template = default_stack
    [query] = [query for query in log_queries(template) if '"CRITICAL"' in query]
    assert 'filter message = "security-group change"' in query
    assert '"CRITICAL"' in query and '"HIGH"' in query


def test_a_logs_insights_table_shows_what_the_policy_lowered(default_stack: Any) -> None:
    """The table finds a result by its structured `loweredBy` field, whichever verdict was lowered; it reads no
    prose, so a lowered verdict after the first one (or an expired approval) is not missed."""
    _, template = default_stack
    [query] = [query for query in log_queries(template) if "loweredBy" in query]
    assert "ispresent(result.loweredBy.0)" in query
    assert "lowered to" not in query and "no longer counts" not in query and " like " not in query


def test_the_logged_result_names_the_lowering_entries_whatever_the_verdict_position() -> None:
    """The field the query reads. Two rules rewritten on one group: the second is approved (lowered), the first is
    covered by an approval that has expired (it lowers nothing, and the table shows it too)."""
    policy = load_policy(
        '[[approved_exposure]]\ngroup_id = "sg-0aaa1111bbbb2222c"\nexposure = "443/tcp from any"\n'
        'owner = "web"\nreason = "load balancer"\n\n'
        '[[approved_exposure]]\ngroup_id = "sg-0aaa1111bbbb2222c"\nexposure = "3389/tcp from world"\n'
        'owner = "ops"\nexpires = 2020-01-01\nreason = "migration"\n'
    )
    record = load(CONSTRUCTED / "modify_security_group_rules_list_two_rules.json")
    logged = apply_policy(classify(record), policy, today=date(2026, 11, 20)).to_dict()
    assert logged["loweredBy"] == ["approved_exposure[1]", "approved_exposure[0]"]
    first, second = logged["findings"]
    assert [lowering["action"] for lowering in first["loweredBy"]] == ["approval-expired"]
    assert (first["severity"], second["severity"]) == ("CRITICAL", "INFO")
    assert list(logged).index("loweredBy") < list(logged).index("changes")  # among the first fields Insights reads
    assert classify(record).to_dict()["loweredBy"] == []  # absent from Insights: the filter skips it


def test_changes_are_graphed_by_the_region_they_were_made_in() -> None:
    _, template = synth(regions="us-east-1,eu-central-1", homeRegion="eu-west-1")
    rows = [
        [value for value in metric if not isinstance(value, dict)]
        for widget in dashboard_body(template)["widgets"]
        for metric in widget.get("properties", {}).get("metrics", [])
    ]
    shown = {
        row[row.index(names.REGION_DIMENSION) + 1]
        for row in rows
        if row[:2] == [names.METRIC_NAMESPACE, names.METRIC_CHANGES_BY_REGION]
    }
    assert shown == {"eu-west-1", "us-east-1", "eu-central-1"}


def test_with_every_output_on_its_metrics_are_on_the_dashboard_too() -> None:
    _, template = synth(
        alertEmail="secops@example.com", securityHub=True, slackWorkspaceId="T0123ABCD", slackChannelId="C0456EFGH"
    )
    shown = {name for name, _ in shown_metrics(template, names.METRIC_NAMESPACE)}
    assert shown == {*names.ALL_METRICS, *names.SECURITY_HUB_METRICS, names.METRIC_CHAT_FAILURES}
