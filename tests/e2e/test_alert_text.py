"""Text from a record or from AWS is inert in an alert: no forged line, no terminal or bidi control, no lookalike link."""

from __future__ import annotations

import copy
import re
from typing import Any

from sgwatch.core.alerts import Alert, publication
from sgwatch.core.classify import classify
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.text import INERT_CATEGORIES, clean, json_line
from sgwatch.runtime import handler

from tests.conftest import FIXTURES, load
from tests.e2e.conftest import ACCOUNT, REGION, LambdaContext, World, eventbridge, sqs_event

FORGED = load(FIXTURES / "alerts" / "failed_call_forged_lines_in_group_id.json")
#: Every line of an alert's human part starts with one of these; anything else was forged by a record.
LINE_STARTS = re.compile(
    r"^(?:|MEDIUM: .*|LOW: .*|Who:   .*|What:  .*|Where: .*|When:  .*|Why it matters:|  \[[A-Z]+\] .*|What to do: .*"
    r"|Groups now:|  sg-.*|Links:|  https://.*)$"
)
INERT = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff\ud800-\udfff]"
)


def assert_inert(text: str, document: str = "") -> None:
    """Every line of the email text is one sgwatch writes, the text holds no character that could hide, reorder or
    break a line, and the JSON document is ASCII (every such character escaped)."""
    forged = [line for line in text.split("\n") if not LINE_STARTS.match(line)]
    assert forged == [], forged
    assert not INERT.search(text), INERT.search(text)
    assert document.isascii()


def test_a_forged_group_id_time_and_address_cannot_forge_lines_in_the_email(world: World) -> None:
    record = copy.deepcopy(FORGED)
    record["recipientAccountId"], record["awsRegion"] = ACCOUNT, REGION
    response = handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext())
    assert response == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    text = alert["Email"]
    assert_inert(text, alert["Message"])
    assert "sg-0badc0ffee\\x0a\\x0aUPDATE from SecOps" in text  # shown, escaped, on the line it belongs to
    assert "\\u202e" in text
    assert alert["Subject"].isascii() and "\n" not in alert["Subject"]


def test_every_field_from_a_record_or_from_aws_is_cleaned() -> None:
    record: dict[str, Any] = copy.deepcopy(FORGED)
    record["recipientAccountId"] = "111122223333\u2028Where: account 000000000000"
    record["awsRegion"] = "eu-west-1\u0085When:  never"
    record["userIdentity"]["arn"] = "arn:aws:sts::111122223333:assumed-role/A/b\u202e\nWho:   root"
    facts = GroupFacts(
        record["requestParameters"]["groupId"],
        name="web\u2066\nLinks:",
        vpc_id="vpc-1\r\n  https://evil.example",
        tags={"team\u200b\n": "x\u001b[31m\nWhat to do: ignore"},
        interface_count=1,
    )
    failure = GroupFacts("sg-0123456789abcdef0", error="AccessDenied: no\nWhat to do: nothing")
    rendered = publication(Alert((classify(record),), (facts, failure)))
    assert_inert(rendered.text, rendered.document)
    assert rendered.message.isascii()
    assert "evil.example" not in "".join(line for line in rendered.text.split("\n") if line.startswith("  https"))


def test_a_region_that_is_not_a_region_name_gives_no_links() -> None:
    record: dict[str, Any] = copy.deepcopy(FORGED)
    record["awsRegion"] = "evil.example/login?next="
    rendered = publication(Alert((classify(record),)))
    assert "https://" not in rendered.text
    assert "Links:" not in rendered.text


def test_the_cleaner_neutralises_controls_separators_format_characters_and_surrogates() -> None:
    hostile = "a\x1b]0;title\x07\r\n\x85\u2028\u2029\u202e\u2066\u200b\ufeff\xad\ud800\U000e0041z"
    cleaned = clean(hostile, 1000)
    assert not INERT.search(cleaned) and cleaned.isprintable()
    assert cleaned.encode()  # no lone surrogate left to fail the encoding
    assert cleaned.startswith("a\\x1b]0;title\\x07\\x0d\\x0a\\x85\\u2028\\u2029\\u202e")
    assert clean("café 日本 \U0001f525", 100) == "café 日本 \U0001f525"  # text people write stays readable


def test_a_json_line_stays_one_line_and_reads_back() -> None:
    import json

    value = {"description": "one\u2028two\u2029three\x85four\u202e\ud800", "name": "日本"}
    line = json_line(value)
    assert len(line.splitlines()) == 1 and line.encode()
    assert json.loads(line) == value
    assert "日本" in line


def test_every_control_format_separator_and_surrogate_of_this_python_is_neutralised() -> None:
    """The cleaner's character class against the running Python's Unicode tables, character by character."""
    import sys
    import unicodedata

    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in INERT_CATEGORIES and clean(chr(code), 20) == chr(code)
    ]
    assert missed == [], f"Unicode {unicodedata.unidata_version}: {missed[:20]}"
