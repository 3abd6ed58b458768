"""Every alert's JSON document, whole, truncated or minimal, is valid against schemas/alert.schema.json: what queue and
SIEM subscribers parse; its results' OCSF findings are valid for the OCSF models too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from sgwatch.core.alerts import Alert, Publication, minimal_publication, publication
from sgwatch.core.classify import Classification, classify
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.envelopes import unwrap

from tests.conftest import CONSTRUCTED, FIXTURES, real_record_files

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json").read_text())
NOW = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
RECORDS = real_record_files() + sorted(CONSTRUCTED.glob("*.json")) + sorted((FIXTURES / "alerts").glob("*.json"))


def document_of(published: Publication) -> Any:
    """The document, as the message carries it to every protocol but email."""
    bodies = json.loads(published.message)
    assert set(bodies) == {"default", "email"} and bodies["email"] == published.text
    return json.loads(bodies["default"])


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
        document = document_of(publication(alert, published_at=NOW))
        jsonschema.validate(document, SCHEMA)
        [carried] = document["results"]
        if not carried.get("omitted"):  # a hostile record's result may be too large to carry whole: its stub has none
            assert carried["ocsf"]["finding_info"]["uid"].startswith("sgwatch:")
            DetectionFinding.model_validate(carried["ocsf"])  # the OCSF object a SIEM can take as it is
        jsonschema.validate(document_of(minimal_publication(alert, published_at=NOW)), SCHEMA)


@pytest.mark.parametrize("results", [1, 3000])
def test_a_truncated_alert_is_still_a_valid_document(results: int) -> None:
    [record] = [
        item.record
        for item in unwrap(json.loads((CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json").read_bytes()), "x")
    ]
    many = tuple(classify(dict(record, eventID=f"event-{index}")) for index in range(results))
    tags = {f"key-{tag}": "v" * 250 for tag in range(50)}
    alert = Alert(many, tuple(GroupFacts(f"sg-{index:017x}", tags=tags) for index in range(300)))
    document = document_of(publication(alert, published_at=NOW))
    jsonschema.validate(document, SCHEMA)
    assert document.get("truncated") is True
