"""Every judged record becomes an OCSF Detection Finding that the OCSF models (py-ocsf-models, as Prowler uses)
accept, and the finding says what the classification says: severity, rules, groups, place, time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from sgwatch.core.classify import classify
from sgwatch.core.envelopes import unwrap
from sgwatch.core.ocsf import SEVERITY_IDS, detection_finding
from sgwatch.core.severity import Severity

from tests.conftest import CONSTRUCTED, real_record_files

RECORDS = real_record_files() + sorted(CONSTRUCTED.glob("*.json"))


def records_of(path: Path) -> list[Any]:
    return [item.record for item in unwrap(json.loads(path.read_bytes()), str(path)) if item.record is not None]


@pytest.mark.parametrize("path", RECORDS, ids=lambda path: path.name)
def test_each_judged_record_is_a_valid_detection_finding_that_says_what_sgwatch_found(path: Path) -> None:
    for record in records_of(path):
        result = classify(record)
        if not result.watched and not result.error:
            continue
        finding = detection_finding(result)
        DetectionFinding.model_validate(finding)  # raises on a missing or mistyped field
        assert finding["class_uid"] == 2004 and finding["type_uid"] == 200401
        if result.error:
            assert finding["severity_id"] == SEVERITY_IDS[Severity.MEDIUM][0]
            continue
        assert finding["severity_id"] == SEVERITY_IDS[result.severity][0]
        assert set(finding["finding_info"]["types"]) == {verdict.rule.id for verdict in result.verdicts}
        assert [resource["uid"] for resource in finding["resources"]] == result.group_ids
        assert finding["cloud"].get("account", {}).get("uid", "") == result.account
        assert finding["unmapped"]["sgwatch"] == result.to_dict()
        assert finding["time"] > 0 or not result.event_time


def test_the_most_severe_verdict_titles_the_finding_and_advises_the_fix() -> None:
    [record] = records_of(CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json")
    result = classify(record)
    finding = detection_finding(result)
    worst = max(result.verdicts, key=lambda verdict: verdict.severity)
    assert finding["severity"] == "Critical" == SEVERITY_IDS[worst.severity][1]
    assert finding["finding_info"]["title"] == worst.summary == finding["message"]
    assert finding["remediation"]["desc"] == worst.advice
    assert finding["finding_info"]["types"][0] == worst.rule.id


def test_a_record_without_a_readable_time_is_dated_when_it_was_judged() -> None:
    [record] = records_of(CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    finding = detection_finding(classify(dict(record, eventTime="yesterday")), now=now)
    assert finding["time"] == int(now.timestamp() * 1000)
    DetectionFinding.model_validate(finding)
