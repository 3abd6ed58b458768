"""Shared test helpers: where the fixtures are and how to load them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REAL_RECORDS = (
    Path(__file__).parents[1] / "lambdas" / "sgwatch" / "emulation" / "records"
)  # package data: the demo replays them
CONSTRUCTED = FIXTURES / "constructed"


def load(path: Path | str) -> Any:
    """A fixture's JSON, by path relative to tests/fixtures or absolute."""
    if str(path).startswith("cloudtrail/"):
        return json.loads((REAL_RECORDS / str(path).removeprefix("cloudtrail/")).read_text())
    return json.loads((FIXTURES / path).read_text())


def real_record_files() -> list[Path]:
    return sorted(REAL_RECORDS.rglob("*.json"))


@pytest.fixture(scope="session")
def default_stack() -> Any:
    """The stack as `cdk synth` builds it (cdk.json's context, cdk-nag on), with an alert address set."""
    from tests.infra.conftest import synth

    return synth(alertEmail="secops@example.com")
