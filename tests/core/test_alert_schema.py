"""Every alert's JSON part, whole, truncated or minimal, is valid against schemas/alert.schema.json: the document
queue and SIEM subscribers parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from sgwatch.core.alerts import Alert, minimal_publication, publication
from sgwatch.core.classify import Classification, classify
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.envelopes import unwrap

from tests.conftest import CONSTRUCTED, FIXTURES, real_record_files

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json").read_text())
NOW = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
RECORDS = real_record_files() + sorted(CONSTRUCTED.glob("*.json")) + sorted((FIXTURES / "alerts").glob("*.json"))


def json_part(message: str) -> Any:
    return json.loads(message.split("--- JSON ---\n", 1)[1])


def judged() -> list[Classification]:
    results = []
    for path in RECORDS:
        for item in unwrap(json.loads(path.read_bytes()), str(path)):
            result = classify(item.record) if item.record is not None else None
            if result is not None and (result.watched or result.error):
                results.append(result)
    return results


def facts_of(result: Classification) -> tuple[GroupFacts, ...]:
    described = [GroupFacts(group, name="web", vpc_id="vpc-1", tags={"team": "x"}, interface_count=3)
                 for group in result.group_ids[:2]]  # fmt: skip
    return (*described, GroupFacts("sg-0fffffffffffffff0", error="AccessDenied"))


def test_every_alert_of_the_test_records_is_a_valid_document_whole_and_minimal() -> None:
    results = judged()
    assert len(results) > 40
    for result in results:
        alert = Alert((result,), facts_of(result), raw={"eventName": "x"} if result.error else None)
        jsonschema.validate(json_part(publication(alert, published_at=NOW).message), SCHEMA)
        jsonschema.validate(json_part(minimal_publication(alert, published_at=NOW).message), SCHEMA)


@pytest.mark.parametrize("results", [1, 3000])
def test_a_truncated_alert_is_still_a_valid_document(results: int) -> None:
    [record] = [
        item.record
        for item in unwrap(json.loads((CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json").read_bytes()), "x")
    ]
    many = tuple(classify(dict(record, eventID=f"event-{index}")) for index in range(results))
    tags = {f"key-{tag}": "v" * 250 for tag in range(50)}
    alert = Alert(many, tuple(GroupFacts(f"sg-{index:017x}", tags=tags) for index in range(300)))
    document = json_part(publication(alert, published_at=NOW).message)
    jsonschema.validate(document, SCHEMA)
    assert document.get("truncated") is True
