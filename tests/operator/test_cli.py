"""`sgwatch classify` and `sgwatch demo` as DESIGN.md specifies them: shapes, order, --all, errors, exit codes."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sgwatch.operator.cli import EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, main

from tests.conftest import CONSTRUCTED, FIXTURES, REAL_RECORDS, load

SSH_WORLD = "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json"
USER_DATA = "stratus-red-team/modifyinstanceattribute_userdata.json"
REQUIRED_KEYS = {
    "eventID", "eventName", "eventTime", "account", "region", "actor", "severity", "outcome", "groupIds", "changes", "reasons",
}  # fmt: skip


def run(*argv: str, stdin: bytes = b"") -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    sys_stdin = io.BytesIO(stdin)
    original = sys.stdin
    sys.stdin = io.TextIOWrapper(sys_stdin)
    try:
        status = main(list(argv), out, err)
    finally:
        sys.stdin = original
    lines = [json.loads(line) for line in out.getvalue().splitlines()] if "--format" not in argv else []
    return status, lines, out.getvalue() if "--format" in argv else err.getvalue()


def log_file(*records: Any) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


def test_json_lines_have_the_documented_fields() -> None:
    status, lines, err = run("classify", str(REAL_RECORDS / SSH_WORLD))
    assert status == EXIT_OK
    [line] = lines
    assert set(line) >= REQUIRED_KEYS
    assert (line["severity"], line["outcome"], line["groupIds"]) == ("CRITICAL", "succeeded", ["sg-0e79c7acdf4a0225e"])
    assert "1 security-group records (1 CRITICAL)" in err


def test_directory_is_read_recursively_in_order_and_others_are_counted(tmp_path: Path) -> None:
    status, lines, err = run("classify", str(REAL_RECORDS))
    assert status == EXIT_OK
    assert len(lines) == 31  # 30 security-group changes and a stopped trail
    sources = [line["source"] for line in lines]
    assert sources == sorted(sources)
    assert "4 other records skipped" in err
    assert "30 security-group records and 1 tamper records" in err


def test_all_prints_every_record_with_none_for_the_others() -> None:
    status, lines, _ = run("classify", "--all", str(REAL_RECORDS / USER_DATA), str(REAL_RECORDS / SSH_WORLD))
    assert status == EXIT_OK
    assert [(line["eventName"], line["severity"]) for line in lines] == [
        ("ModifyInstanceAttribute", "NONE"),
        ("AuthorizeSecurityGroupIngress", "CRITICAL"),
    ]


def test_gzip_log_file_and_input_order(tmp_path: Path) -> None:
    records = [
        load(REAL_RECORDS / USER_DATA),
        load(REAL_RECORDS / SSH_WORLD),
        load(CONSTRUCTED / "revoke_ingress_rule_ids.json"),
    ]
    path = tmp_path / "111122223333_CloudTrail_eu-west-1_20261120T0915Z_abc.json.gz"
    path.write_bytes(gzip.compress(log_file(*records)))
    status, lines, err = run("classify", str(path))
    assert status == EXIT_OK
    assert [(line["source"].rsplit(":", 1)[1], line["severity"]) for line in lines] == [
        ("Records[1]", "CRITICAL"),
        ("Records[2]", "INFO"),
    ]
    assert "1 other records skipped" in err


def test_json_lines_file_and_stdin() -> None:
    records = [
        load(REAL_RECORDS / SSH_WORLD),
        load(REAL_RECORDS / USER_DATA),
        load(CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json"),
    ]
    data = "\n".join(json.dumps(record) for record in records).encode() + b"\n"
    status, lines, _ = run("classify", "-", stdin=data)
    assert status == EXIT_OK
    assert [(line["source"], line["severity"]) for line in lines] == [
        ("<stdin>:line 1", "CRITICAL"),
        ("<stdin>:line 3.detail", "CRITICAL"),
    ]


def test_unreadable_record_names_file_record_and_field_and_the_rest_goes_on(tmp_path: Path) -> None:
    broken = load(REAL_RECORDS / SSH_WORLD)
    broken["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "twenty-two"
    path = tmp_path / "trail.json"
    path.write_bytes(
        log_file(load(REAL_RECORDS / SSH_WORLD), broken, load(CONSTRUCTED / "revoke_ingress_rule_ids.json"))
    )
    status, lines, err = run("classify", str(path))
    assert status == EXIT_UNREADABLE
    assert [line.get("severity", "error") for line in lines] == ["CRITICAL", "error", "INFO"]
    error = lines[1]["error"]
    assert str(path) in error
    assert "Records[1]" in error
    assert "requestParameters.ipPermissions.items[0].fromPort" in error
    assert "'twenty-two'" in error
    assert lines[1]["eventID"] == broken["eventID"]
    assert "1 unreadable" in err


def test_invalid_json_and_missing_file_are_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Records": [')
    status, lines, _ = run("classify", str(bad), str(tmp_path / "missing.json"), str(REAL_RECORDS / SSH_WORLD))
    assert status == EXIT_UNREADABLE
    assert "not valid JSON" in lines[0]["error"] and str(bad) in lines[0]["error"]
    assert "cannot read" in lines[1]["error"] and "missing.json" in lines[1]["error"]
    assert lines[2]["severity"] == "CRITICAL"


def test_bad_line_in_json_lines_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(load(REAL_RECORDS / SSH_WORLD)) + "\n{not json SecurityGroup\n")
    status, lines, _ = run("classify", str(path))
    assert status == EXIT_UNREADABLE
    assert lines[0]["severity"] == "CRITICAL"
    assert f"{path}:line 2: not valid JSON" in lines[1]["error"]


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "trail.json.gz"
    path.write_bytes(gzip.compress(b'{"Records": []}')[:12])
    status, lines, _ = run("classify", str(path))
    assert status == EXIT_UNREADABLE
    assert "not a readable gzip file" in lines[0]["error"]


@pytest.mark.parametrize("argv", [[], ["classify"], ["classify", "--format", "xml", "x"], ["frobnicate"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert main(argv, io.StringIO(), io.StringIO()) == EXIT_USAGE


def test_text_format_is_readable() -> None:
    status, _, text = run("classify", "--format", "text", str(REAL_RECORDS / SSH_WORLD))
    assert status == EXIT_OK
    assert text.startswith("CRITICAL  AuthorizeSecurityGroupIngress  sg-0e79c7acdf4a0225e  000000000000/ap-northeast-2")
    assert "+ ingress  22/tcp" in text
    assert "  why     SSH (22/tcp) opened to the whole internet (0.0.0.0/0)" in text
    assert "  do      Revoke the rule now" in text


def test_text_format_neutralises_control_characters(tmp_path: Path) -> None:
    record = load(REAL_RECORDS / SSH_WORLD)
    record["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"][0]["description"] = (
        "ok\nCRITICAL forged line"
    )
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(record))
    _, _, text = run("classify", "--format", "text", str(path))
    assert "\nCRITICAL forged line" not in text
    assert "'ok\\nCRITICAL forged line'" in text


def test_demo_reports_by_severity_and_shows_the_worst() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo", "--classify-only"], out, err) == EXIT_OK
    report = out.getvalue()
    assert report.startswith(
        "sgwatch report: 30 security-group changes, 1 call that can blind the monitor, 0 unreadable records"
    )
    assert "CRITICAL       6  AuthorizeSecurityGroupIngress x5, StopLogging" in report
    assert "The 3 most severe:" in report
    assert report.count("\nCRITICAL  AuthorizeSecurityGroupIngress") == 2  # different exposures first,
    assert "\nCRITICAL  StopLogging  CloudTrail trail stratus-red-team-ct-stop-trail-" in report  # and the trail
    # the three shown are three different exposures, not the same one thrice
    assert "SSH (22/tcp) opened" in report
    assert "All traffic (every protocol and port) opened" in report


def test_console_script_runs() -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "sgwatch"), "classify", str(REAL_RECORDS / SSH_WORLD)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == EXIT_OK, completed.stderr
    assert json.loads(completed.stdout)["severity"] == "CRITICAL"


def test_classify_takes_sgwatchs_resources_from_the_stack_name_and_says_it_guessed() -> None:
    rule = str(FIXTURES / "tamper" / "events__disable_rule__sgwatch.json")
    status, [line], err = run("classify", rule)
    assert (status, line["severity"], line["resource"]["sgwatchOwn"]) == (EXIT_OK, "CRITICAL", "guessed")
    assert "(sgwatch's by a guess: its name starts with 'sgwatch')" in line["reasons"][0]
    assert "0 security-group records and 1 tamper records (1 CRITICAL)" in err
    status, lines, err = run("classify", "--stack-name", "monitor", rule)
    assert (status, lines) == (EXIT_OK, [])  # another stack's rule: not this sgwatch's business
    assert "1 other records skipped" in err
