"""The dashboard and alarms show sgwatch's own metrics by the names the function emits them with."""

from __future__ import annotations

from typing import Any

from sgwatch.core import names
from sgwatch.core.events import monitored_event_names
from sgwatch.core.severity import Severity

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
    _, template = default_stack
    [query] = [query for query in log_queries(template) if "lowered to" in query]
    assert "no longer counts" in query  # expired approvals too


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
