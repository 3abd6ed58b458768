"""The function's environment, validated once: sgwatch's own resources (exact, or a guess when unset), and the
central account that tells a member's heartbeat (organization mode only)."""

from __future__ import annotations

import json

import pytest
from sgwatch.core import names
from sgwatch.core.errors import ConfigError
from sgwatch.core.tamper import GUESSED_BY_NAME, Ownership
from sgwatch.runtime.settings import own_resources_from_env, settings_from_env

TOPIC = "arn:aws:sns:eu-west-1:999999999999:sgwatch-Alerts"
OWN = {"stack": "sgwatch", "detectionRules": ["bus|sgwatch-Rule"], "guardRules": ["sgwatch-Guard"], "names": ["q"]}


def test_own_resources_are_exact_and_name_the_function_and_the_rules_without_their_bus() -> None:
    own = own_resources_from_env({names.ENV_OWN_RESOURCES: json.dumps(OWN), "AWS_LAMBDA_FUNCTION_NAME": "fn"})
    assert not own.guess
    assert {"sgwatch", "sgwatch-Rule", "sgwatch-Guard", "q", "fn"} <= own.names
    assert own.owns("arn:aws:lambda:eu-west-1:999999999999:function:fn") is Ownership.OWN
    assert own.owns("sgwatch-other") is Ownership.OTHER  # exact: no guessing by name
    assert own.pattern_of("sgwatch-Rule") is not None
    assert own_resources_from_env({}) is GUESSED_BY_NAME


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"names": []}),
        json.dumps({**OWN, "names": [1]}),
        json.dumps({**OWN, "monitor": "x"}),
    ],
)
def test_a_malformed_own_resources_variable_says_what_to_fix(text: str) -> None:
    with pytest.raises(ConfigError, match=names.ENV_OWN_RESOURCES):
        own_resources_from_env({names.ENV_OWN_RESOURCES: text})


def test_the_central_account_is_known_only_in_organization_mode() -> None:
    assert settings_from_env({names.ENV_TOPIC_ARN: TOPIC}).pipeline.home_account == ""
    organization = {names.ENV_TOPIC_ARN: TOPIC, names.ENV_ENRICHMENT_ROLE: "sgwatch-enrichment"}
    assert settings_from_env(organization).pipeline.home_account == "999999999999"
