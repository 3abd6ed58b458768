"""The scan's judgement, pure: a snapshot in, findings out; and the scheduled scan's alert, bounded and inert
whatever EC2 holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from sgwatch.core import alerts
from sgwatch.core.enrich import PrefixListFacts
from sgwatch.core.scan import (
    MAX_PER_DIGEST,
    Reach,
    ScannedGroup,
    ScannedRule,
    Snapshot,
    digest_publication,
    scan,
)
from sgwatch.core.severity import Severity

TODAY = date(2026, 12, 3)
INERT = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff\ud800-\udfff]"
)


def world(rule_id: str, group_id: str, port: int = 22) -> ScannedRule:
    return ScannedRule(rule_id, group_id, False, "tcp", port, port, cidr="0.0.0.0/0")


def test_reach_raises_nothing_and_lowers_an_unused_group_one_level() -> None:
    groups = {
        "sg-public": ScannedGroup("sg-public", "1", "r", interfaces=2, public_interfaces=1),
        "sg-unused": ScannedGroup("sg-unused", "1", "r", interfaces=0, public_interfaces=0),
        "sg-unknown": ScannedGroup("sg-unknown", "1", "r", interfaces=None, public_interfaces=None),
    }
    rules = [world(f"sgr-{name}", name) for name in groups]
    found = {f.group.group_id: f for f in scan(Snapshot("1", "r", groups, rules), today=TODAY)}
    assert (found["sg-public"].reach, found["sg-public"].severity) == (Reach.PUBLIC, Severity.CRITICAL)
    assert (found["sg-unused"].reach, found["sg-unused"].severity) == (Reach.UNUSED, Severity.HIGH)
    assert (found["sg-unknown"].reach, found["sg-unknown"].severity) == (Reach.UNKNOWN, Severity.CRITICAL)
    assert found["sg-unused"].verdict.severity is Severity.CRITICAL  # the verdict itself is the change rules'


def test_egress_is_not_judged_and_an_aws_managed_list_is_named_for_what_it_is() -> None:
    groups = {"sg-1": ScannedGroup("sg-1", "1", "r", interfaces=1, public_interfaces=1)}
    rules = [
        ScannedRule("sgr-out", "sg-1", True, "-1", None, None, cidr="0.0.0.0/0"),
        ScannedRule("sgr-s3", "sg-1", False, "tcp", 443, 443, prefix_list_id="pl-s3"),
    ]
    lists = {"pl-s3": PrefixListFacts("pl-s3", "com.amazonaws.eu-west-1.s3", "AWS", ("52.218.0.0/17",))}
    [found] = scan(Snapshot("1", "r", groups, rules, lists), today=TODAY)
    assert found.rule.rule_id == "sgr-s3" and found.severity is Severity.LOW
    assert "is managed by AWS: addresses of an AWS service, not the internet" in found.verdict.summary


def test_the_digest_of_thousands_of_hostile_findings_fits_and_stays_inert() -> None:
    hostile = "web\n[CRITICAL] forged\u202e\x1b[31m" + "\U0001f525" * 200
    groups = {
        f"sg-{index:05d}": ScannedGroup(f"sg-{index:05d}", "123456789012", "eu-west-1", name=hostile, interfaces=1,
                                        public_interfaces=1)
        for index in range(5000)
    }  # fmt: skip
    rules = [world(f"sgr-{index:05d}", f"sg-{index:05d}", 3389) for index in range(5000)]
    findings = scan(Snapshot("123456789012", "eu-west-1", groups, rules), today=TODAY)
    rendered, listed = digest_publication(
        findings, account="123456789012", region="eu-west-1", published_at=datetime(2026, 12, 3, tzinfo=UTC)
    )
    assert len(rendered.message.encode()) <= alerts.MAX_MESSAGE_BYTES
    assert len(rendered.subject) <= alerts.MAX_SUBJECT and rendered.subject.isascii()
    document = json.loads(rendered.document)
    assert 0 < len(listed) == len(document["findings"]) <= MAX_PER_DIGEST  # the text and the document list the same
    assert [f["ruleId"] for f in document["findings"]] == [found.rule.rule_id for found in listed]
    assert rendered.text.count("\n  [CRITICAL] ") == len(listed)
    assert document["omittedFindings"] == 5000 - len(listed)
    lines = rendered.text.split("\n")
    assert not INERT.search(rendered.text)
    assert not [line for line in lines if line.startswith("[CRITICAL] forged")]  # no line of its own
    assert lines[-1] == f"  ({5000 - len(listed)} more not listed here: the next alert lists them)"
