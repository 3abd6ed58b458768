"""The function's asset ships bytecode for its runtime when synth can compile it, and synth says so when it cannot."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Annotations, Match, Template

import infra.processor
from app import build_app, cdk_json_context
from infra.asset import LAMBDA_PYTHON, lambda_python
from infra.stack import SgwatchStack

Built = tuple[SgwatchStack, Template]
NO_BYTECODE = Match.string_like_regexp("^No Python 3\\.13 found: the function ships its modules as source")


def test_a_synth_that_compiles_the_asset_warns_of_nothing(default_stack: Built) -> None:
    if lambda_python() is None:
        pytest.skip("no Python 3.13 on this machine")
    stack, _ = default_stack
    assert Annotations.from_stack(stack).find_warning("*", NO_BYTECODE) == []


def test_without_the_runtimes_python_synth_warns_on_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra.processor, "lambda_python", lambda: None)
    app = build_app(cdk_json_context())
    stack = next(child for child in app.node.children if isinstance(child, SgwatchStack))
    warnings = Annotations.from_stack(stack).find_warning("*", NO_BYTECODE)
    assert [warning.id for warning in warnings] == ["/sgwatch/Processor"]


def test_the_bytecode_is_compiled_for_the_python_the_functions_run(default_stack: Built) -> None:
    _, template = default_stack
    runtimes = {
        function["Properties"]["Runtime"] for function in template.find_resources("AWS::Lambda::Function").values()
    }
    assert runtimes == {"python{}.{}".format(*LAMBDA_PYTHON)}
