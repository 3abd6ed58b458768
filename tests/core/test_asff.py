"""Every judged record becomes a Security Hub finding that botocore's model of BatchImportFindings accepts, within
Security Hub's limits, with text made inert; moto's Security Hub imports them, and an import sent again updates."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sgwatch.core import asff
from sgwatch.core.alerts import REGION_NAME
from sgwatch.core.asff import SEVERITY_LABELS, security_hub_finding
from sgwatch.core.classify import Classification, classify
from sgwatch.core.envelopes import unwrap

from tests.conftest import CONSTRUCTED, real_record_files

NOW = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
RECORDS = real_record_files() + sorted(CONSTRUCTED.glob("*.json"))
#: ASFF's type namespaces (Types taxonomy in the Security Hub user guide)
NAMESPACES = {
    "Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications",
}  # fmt: skip
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def judged() -> list[Classification]:
    results = []
    for path in RECORDS:
        for item in unwrap(json.loads(path.read_bytes()), str(path)):
            if item.record is None:
                continue
            result = classify(item.record)
            fileable = REGION_NAME.match(result.region) and result.account.isdigit() and len(result.account) == 12
            if (result.watched or result.error) and fileable:
                results.append(result)
    return results


def within_limits(finding: dict[str, Any]) -> None:
    required = (
        "AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn", "Resources", "SchemaVersion",
        "Severity", "Title", "Types", "UpdatedAt",
    )  # fmt: skip
    assert all(finding.get(key) for key in required), [key for key in required if not finding.get(key)]
    assert len(json.dumps(finding).encode()) <= asff.MAX_FINDING_BYTES
    assert len(finding["Id"]) <= asff.MAX_ID and len(finding["GeneratorId"]) <= asff.MAX_ID
    assert len(finding["Title"]) <= asff.MAX_TITLE and len(finding["Description"]) <= asff.MAX_DESCRIPTION
    assert 1 <= len(finding["Resources"]) <= asff.MAX_RESOURCES
    assert len(finding["ProductFields"]) <= asff.MAX_PRODUCT_FIELDS
    assert all(len(value) <= asff.MAX_PRODUCT_FIELD_VALUE for value in finding["ProductFields"].values())
    assert all(kind.split("/")[0] in NAMESPACES and 2 <= len(kind.split("/")) <= 3 for kind in finding["Types"])
    assert finding["Severity"]["Label"] in SEVERITY_LABELS.values()
    assert finding["FindingProviderFields"]["Severity"] == finding["Severity"]
    for text in (finding["Title"], finding["Description"], *finding["ProductFields"].values()):
        assert not CONTROL.search(text), text
    assert "Workflow" not in finding and "RecordState" not in finding  # the team's to set


def test_each_judged_record_is_a_finding_within_security_hubs_limits_and_says_what_sgwatch_found() -> None:
    results = judged()
    assert len(results) > 30
    for result in results:
        finding = security_hub_finding(result, updated_at=NOW)
        within_limits(finding)
        if result.error:
            assert finding["Severity"]["Label"] == "MEDIUM"
            continue
        worst = max(result.verdicts, key=lambda verdict: verdict.severity)
        assert finding["Severity"]["Label"] == SEVERITY_LABELS[result.severity]
        assert finding["GeneratorId"] == f"sgwatch/{worst.rule.id}"
        assert finding["Title"] == worst.summary[: asff.MAX_TITLE] or finding["Title"].endswith("...")
        groups = [r["Id"].rsplit("/", 1)[1] for r in finding["Resources"] if r["Type"] == "AwsEc2SecurityGroup"]
        assert groups == result.group_ids[: asff.MAX_RESOURCES]


def test_a_hostile_record_gives_a_bounded_inert_finding() -> None:
    [record] = [
        item.record
        for item in unwrap(json.loads((CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json").read_bytes()), "x")
    ]
    hostile = copy.deepcopy(record)
    hostile["userIdentity"]["arn"] = "arn:aws:iam::123456789012:user/" + "\u202e\x1b[31m" * 50_000
    hostile["eventID"] = "e\n" * 10_000
    hostile["requestParameters"]["groupId"] = "sg-0123456789abcdef0\u2028" + "x" * 100_000
    finding = security_hub_finding(classify(hostile), updated_at=NOW)
    within_limits(finding)


def test_a_record_without_an_account_or_a_region_name_is_refused_with_its_event_id() -> None:
    result = judged()[0]
    with pytest.raises(ValueError, match="no account and region"):
        security_hub_finding(Classification(**{**result.__dict__, "region": "../../evil"}), updated_at=NOW)


def test_security_hub_imports_the_findings_and_a_second_import_updates_them() -> None:
    by_account: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in judged():
        finding = security_hub_finding(result, updated_at=NOW)
        by_account.setdefault((finding["AwsAccountId"], finding["Region"]), []).append(finding)
    (_, region), findings = max(by_account.items(), key=lambda entry: len(entry[1]))
    with mock_aws():
        hub = boto3.client("securityhub", region_name=region)  # botocore checks each finding against the API model
        for start in range(0, len(findings), asff.MAX_FINDINGS_PER_REQUEST):
            answer = hub.batch_import_findings(Findings=findings[start : start + asff.MAX_FINDINGS_PER_REQUEST])
            assert answer["FailedCount"] == 0, answer["FailedFindings"]
        again = hub.batch_import_findings(Findings=findings[: asff.MAX_FINDINGS_PER_REQUEST])
        assert again["FailedCount"] == 0
        stored = hub.get_findings(MaxResults=100)["Findings"]
    assert sorted(f["Id"] for f in stored) == sorted({f["Id"] for f in findings})  # updated, not duplicated
