"""Build the app once per variant, as `cdk synth` would, with cdk.json's context."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import CfnResource, Stack
from aws_cdk.assertions import Template

from app import build_app, cdk_json_context
from infra.stack import SgwatchStack


def synth(**overrides: Any) -> tuple[SgwatchStack, Template]:
    """The stack and its template for cdk.json's context with `overrides`: each variant is synthesized once per test
    process (a synth with cdk-nag takes seconds; the templates are only read)."""
    return _synth(tuple(sorted(overrides.items())))


@functools.cache
def _synth(overrides: tuple[tuple[str, Any], ...]) -> tuple[SgwatchStack, Template]:
    app = build_app({**cdk_json_context(), **dict(overrides)})
    stack = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    app.synth()  # runs cdk-nag: an unacknowledged finding raises here
    return stack, Template.from_stack(stack)


def logical_id(stack: Stack, *path: str) -> str:
    """The logical id of the resource at a construct path below the stack, e.g. ("Detection", "Rule")."""
    construct = stack.node.find_child(path[0])
    for part in path[1:]:
        construct = construct.node.find_child(part)
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), path
    return str(stack.resolve(stack.get_logical_id(resource)))


def resource(template: Template, stack: Stack, *path: str) -> dict[str, Any]:
    found: dict[str, Any] = template.to_json()["Resources"][logical_id(stack, *path)]
    return found


def dashboard_body(template: Template) -> dict[str, Any]:
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    # Tokens (region, queue names) sit inside JSON strings: any text stands in for them.
    parsed: dict[str, Any] = json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))
    return parsed


def shown_metrics(template: Template, namespace: str) -> set[tuple[str, frozenset[str]]]:
    """(metric name, dimension names) of every metric of `namespace` on the dashboard and in the alarms."""
    shown = set()
    for widget in dashboard_body(template)["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            values = [value for value in metric if not isinstance(value, dict)]
            if values[0] == namespace:
                shown.add((values[1], frozenset(values[2::2])))
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("Namespace") == namespace:
            dimensions = frozenset(dimension["Name"] for dimension in properties.get("Dimensions", []))
            shown.add((properties["MetricName"], dimensions))
    return shown


def log_queries(template: Template) -> list[str]:
    return [
        widget["properties"]["query"] for widget in dashboard_body(template)["widgets"] if widget.get("type") == "log"
    ]


def cfn_lint(template: Template | dict[str, Any], directory: Path) -> str:
    """cfn-lint's findings on a template, with the project's settings (.cfnlintrc.yaml); "" when clean."""
    path = directory / "sgwatch.template.json"
    path.write_text(json.dumps(template.to_json() if isinstance(template, Template) else template))
    linted = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return "" if linted.returncode == 0 else linted.stdout + linted.stderr


def deployed_member_template(stack_set: dict[str, Any], *, account: str, function_role: str) -> str:
    """The StackSet's member template as a member stack receives it: each parameter's default set to the value the
    StackSet passes, with the deployed central stack's tokens (its partition, its account, its function's role)
    resolved to the values given."""
    body = stack_set["TemplateBody"]
    assert isinstance(body, str), "the member template must hold no token of the central stack"
    template = json.loads(body)
    passed = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in stack_set["Parameters"]}
    assert sorted(passed) == sorted(template["Parameters"]), "the StackSet passes every parameter, and only those"

    def resolved(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Fn::Join" in value:
            return "".join(resolved(part) for part in value["Fn::Join"][1])
        if value in ({"Ref": "AWS::Partition"}, {"Ref": "AWS::AccountId"}):
            return {"AWS::Partition": "aws", "AWS::AccountId": account}[value["Ref"]]
        assert "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn", f"a token these tests cannot resolve: {value}"
        return function_role

    for key, value in passed.items():
        template["Parameters"][key]["Default"] = resolved(value)
    return json.dumps(template)
