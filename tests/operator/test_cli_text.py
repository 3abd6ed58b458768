"""Hostile text is inert in everything the CLI prints: every field that comes from a record or from AWS is cleaned in
text output and tables (no escape sequence reaches the terminal, no line can be forged), and JSON output keeps one
record per line whatever the strings hold.

fixtures/cli/hostile_text_log_file.json puts escape sequences, line breaks, line and paragraph separators and a bidi
override in each field a person reads: group id, account, region, event time, source IP, protocol, peer, rule id,
error code, event name, descriptions.
"""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from sgwatch.core.classify import Classification, classify
from sgwatch.operator import audit, history
from sgwatch.operator.cli import EXIT_OK, EXIT_UNREADABLE, main
from sgwatch.operator.commands import aws

from tests.operator.test_classify_input import CLI_FIXTURES

HOSTILE = CLI_FIXTURES / "hostile_text_log_file.json"
RECORDS: list[dict[str, Any]] = json.loads(HOSTILE.read_text())["Records"]
INERT = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def assert_inert(text: str) -> None:
    """Only printable text and newlines: nothing a terminal acts on, nothing a line-oriented tool splits on."""
    shown = {char for char in text if char != "\n" and unicodedata.category(char) in INERT}
    assert not shown, sorted(shown)
    assert text.splitlines() == text.rstrip("\n").split("\n")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def hostile_results() -> list[Classification]:
    return [classify(record, location=f"{HOSTILE}:Records[{index}]") for index, record in enumerate(RECORDS)]


def test_classify_text_output_cleans_every_field() -> None:
    status, text, err = run("classify", "--all", "--format", "text", str(HOSTILE))
    assert status == EXIT_OK
    assert_inert(text)
    assert_inert(err)
    lines = text.splitlines()
    # one headline per record, every other line indented: nothing forged a line of its own
    assert [line.split()[0] for line in lines if not line.startswith("  ")] == ["LOW", "LOW", "NONE"]
    assert "sg-0badc0ffee\\x0a\\x0aUPDATE from SecOps: approved" in lines[0]
    assert "111122223333\\x1b[2J/eu-west-1\\x1b]0;owned\\x07  2026-11-20T09:15:00Z\\x1b[1A\\x1b[2K" in lines[0]
    assert "from 198.51.100.7\\x1b[8m" in text
    assert "IP protocol \\x1b[2j" in text
    assert "pl-0123\\x1b]0;pwned\\x07 (prefix-list)" in text
    assert "sg-peer\\x0d\\x0aCRITICAL  forged line (security-group)" in text
    assert " sgr-1\\x1b[2J\\u2029forged  [LOW]" in text
    assert "FAILED: Client.InvalidPermission.NotFound\\x1b[5m" in text
    assert "RunInstances\\x1b]0;title\\x07" in lines[-1]


def test_classify_json_output_keeps_one_record_per_line() -> None:
    status, text, _ = run("classify", "--all", str(HOSTILE))
    assert status == EXIT_OK
    lines = text.splitlines()
    assert len(lines) == len(RECORDS)
    assert text.isascii() or not {"\u2028", "\u2029", "\x85"} & set(text)
    parsed = [json.loads(line) for line in lines]
    # escaped, not altered: the values read back as the record wrote them
    assert parsed[0]["groupIds"] == [RECORDS[0]["requestParameters"]["groupId"]]
    assert [change["description"] for change in parsed[0]["changes"]] == ["line\u2028break", "rtl\u202eexe.txt\x85next"]
    assert parsed[1]["changes"][0]["ruleId"] == "sgr-1\x1b[2J\u2029forged"


def test_error_lines_and_notes_clean_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "evil\x1b]0;owned\x07\u2028.json").write_text("{not json")
    status, text, err = run("classify", "--format", "text", str(tmp_path))
    assert status == EXIT_UNREADABLE
    assert_inert(text)
    assert_inert(err)
    assert text.startswith("ERROR     ") and "evil\\x1b]0;owned\\x07\\u2028.json: not valid JSON" in text
    status, text, _ = run("classify", str(tmp_path))
    [line] = text.splitlines()
    assert json.loads(line)["error"].startswith(str(tmp_path / "evil\x1b]0;owned\x07\u2028.json"))


def test_demo_report_cleans_every_field() -> None:
    status, text, _ = run("demo", "--classify-only", str(HOSTILE))
    assert status == EXIT_OK
    assert_inert(text)
    assert "pl-0123\\x1b]0;pwned\\x07 (prefix-list)" in text


class _NoClients:
    default_region = "eu-west-1"

    def __call__(self, service: str, region: str) -> object:
        raise AssertionError("no AWS call expected")


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sgwatch history` with LookupEvents answered by the hostile records (and a region whose error is hostile)."""

    def run_history(regions: list[str], *args: Any, **kwargs: Any) -> Any:
        failed = history.RegionResult(
            "us-east-1", error="us-east-1: LookupEvents failed: AccessDenied: \x1b[2Jno\nPASS"
        )
        return hostile_results(), [history.RegionResult("eu-west-1"), failed]

    monkeypatch.setattr(aws, "clients_for", lambda args: _NoClients())
    monkeypatch.setattr(history, "run_history", run_history)


@pytest.mark.usefixtures("looked_up")
def test_history_table_cleans_every_field() -> None:
    status, text, err = run("history", "--since", "1d", "--format", "text")
    assert status == EXIT_UNREADABLE  # one region failed
    assert_inert(text)
    assert_inert(err)
    rows = text.splitlines()
    assert rows[0].startswith("SEVERITY")
    assert [row.split()[0] for row in rows[1:]] == ["LOW", "LOW"]
    assert "2026-11-20T09:15:00Z\\x1b[1A\\x1b[2K" in text and "eu-west-1\\x1b]0;owned\\x07" in text
    assert "sgwatch history: us-east-1: LookupEvents failed: AccessDenied: \\x1b[2Jno\\x0aPASS" in err


@pytest.mark.usefixtures("looked_up")
def test_history_json_keeps_one_record_per_line() -> None:
    _, text, _ = run("history", "--since", "1d", "--format", "json")
    lines = text.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["changes"][0]["description"] == "line\u2028break"


def test_audit_table_cleans_every_field() -> None:
    checks = [
        audit.Check(
            "eu-west-1\x1b[2J", "cloudtrail", audit.FAIL, "trail t\x1b]0;x\x07 is not logging\nPASS ok", "do\u2028it"
        ),
        audit.Check("eu-west-1", "config\u202e", audit.PASS, "recording"),
    ]
    table = audit.render_table(checks)
    assert_inert(table)
    assert "trail t\\x1b]0;x\\x07 is not logging\\x0aPASS ok" in table
    assert "fix: do\\u2028it" in table
    assert len(table.splitlines()) == 1 + 3 + 2  # heading, three rows, a blank line and the totals


def test_audit_json_keeps_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = [audit.Check("eu-west-1", "cloudtrail", audit.FAIL, "detail\u2028with a separator")]
    monkeypatch.setattr(aws, "clients_for", lambda args: _NoClients())
    monkeypatch.setattr(audit, "run_audit", lambda *args, **kwargs: checks)
    out = io.StringIO()
    assert main(["audit", "--regions", "eu-west-1", "--format", "json"], out, io.StringIO()) == 1
    assert_inert(out.getvalue())
    assert json.loads(out.getvalue())[0]["detail"] == "detail\u2028with a separator"
