"""Shared test helpers: where the fixtures are and how to load them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
REAL_RECORDS = FIXTURES / "cloudtrail"
CONSTRUCTED = FIXTURES / "constructed"


def load(path: Path | str) -> Any:
    """A fixture's JSON, by path relative to tests/fixtures or absolute."""
    return json.loads((FIXTURES / path).read_text())


def real_record_files() -> list[Path]:
    return sorted(REAL_RECORDS.rglob("*.json"))
