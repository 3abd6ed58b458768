"""`sgwatch classify` survives any input: each bad input is one error line naming it, the rest is still read, the
summary line and the documented exit status always come out, and memory stays bounded.

The hostile inputs are fixtures in fixtures/cli (their provenance is in its README) or, where they are huge (deep
nesting, a gzip bomb), generated here.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sgwatch.core.envelopes import unwrap
from sgwatch.operator import sources
from sgwatch.operator.cli import EXIT_OK, EXIT_UNREADABLE, build_parser, main

from tests.conftest import FIXTURES, REAL_RECORDS

CLI_FIXTURES = FIXTURES / "cli"
SSH_WORLD = REAL_RECORDS / "rubysoho07-cloudtrail-watcher" / "authorize_ingress_terraform_v6_ssh_0_0_0_0.json"
SUMMARY = "sgwatch: "
SGWATCH = str(Path(sys.executable).parent / "sgwatch")  # the console script
DEEP = 100_000


def classify(*argv: str, stdin: bytes = b"") -> tuple[int, list[dict[str, Any]], str]:
    """Run `sgwatch classify` in process: exit status, the JSON lines it printed, and stderr."""
    out, err = io.StringIO(), io.StringIO()
    original = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        status = main(["classify", *argv], out, err)
    finally:
        sys.stdin = original
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def summary(err: str) -> str:
    """The summary line, which must always be the last line on stderr."""
    last = err.splitlines()[-1]
    assert last.startswith(SUMMARY), err
    return last


def errors(lines: list[dict[str, Any]]) -> list[str]:
    return [line["error"] for line in lines if "error" in line]


@pytest.fixture(params=["msgspec", "plain json"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both decoders: msgspec (installed, the default) and plain json (what runs where msgspec is absent)."""
    if request.param == "plain json":
        monkeypatch.setattr(sources, "_msgspec", lambda: None)
    yield request.param


def deep_array() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def deep_record() -> bytes:
    """A log file whose one record hides 100,000 levels of objects in requestParameters."""
    record = json.loads(SSH_WORLD.read_text())
    record["requestParameters"]["x"] = "here"
    deep = b'{"a": ' * DEEP + b"1" + b"}" * DEEP
    return json.dumps({"Records": [record]}).encode().replace(b'"here"', deep)


# Deep nesting -------------------------------------------------------------------------------------------------------


def test_deep_nesting_is_one_error_line_and_the_rest_is_read(tmp_path: Path, decoder: str) -> None:
    (tmp_path / "a_deep_array.json").write_bytes(deep_array())
    (tmp_path / "b_deep_record.json").write_bytes(deep_record())
    compact = json.dumps(json.loads(SSH_WORLD.read_text())).encode()
    (tmp_path / "c_deep_line.jsonl").write_bytes(
        b'{"eventName": "SecurityGroup", "x": ' + deep_array() + b"}\n" + compact
    )
    (tmp_path / "d_deep.json.gz").write_bytes(gzip.compress(deep_array()))
    (tmp_path / "e_good.json").write_bytes(SSH_WORLD.read_bytes())
    status, lines, err = classify(str(tmp_path))
    assert status == EXIT_UNREADABLE
    assert [line.get("severity", "error") for line in lines] == ["error"] * 3 + ["CRITICAL", "error", "CRITICAL"]
    lines = [line for line in lines if "error" in line]
    for line, name in zip(
        lines, ("a_deep_array.json", "b_deep_record.json", "c_deep_line.jsonl:line 1", "d_deep"), strict=True
    ):
        assert name in line["error"] and "nested too deeply" in line["error"]
    assert summary(err).endswith("4 unreadable")


def test_deep_nesting_in_a_delivery_does_not_raise_out_of_unwrap() -> None:
    """The Lambda pipeline unwraps SNS and SQS deliveries with the same code: a deep message is an unreadable record."""
    sns = {"Type": "Notification", "Message": deep_array().decode()}
    [item] = unwrap(sns, "sqs message m-1")
    assert item.error.startswith("sqs message m-1.Message: nested too deeply")
    nested: list[Any] = []
    for _ in range(DEEP):  # deeper than any recursion limit, built without recursing
        nested = [nested]
    [item] = unwrap(nested, "body")
    assert item.error and item.record is None


# Directory walks ----------------------------------------------------------------------------------------------------


def test_symlink_loop_is_followed_once(tmp_path: Path) -> None:
    tree = tmp_path / "trail"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "record.json").write_bytes(SSH_WORLD.read_bytes())
    (tree / "a" / "up").symlink_to("..")  # a loop: today the record is read once per level, 41 times, until ELOOP
    status, lines, err = classify(str(tree))
    assert status == EXIT_OK
    assert [line["source"] for line in lines] == [str(tree / "a" / "record.json")]
    assert "1 security-group records" in summary(err)


def test_a_directory_reached_twice_is_read_once(tmp_path: Path) -> None:
    tree = tmp_path / "trail"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "record.json").write_bytes(SSH_WORLD.read_bytes())
    (tree / "b").symlink_to("a")  # the same real directory under another name
    (tree / "a" / "again.json").symlink_to("record.json")  # the same real file under another name
    status, lines, _ = classify(str(tree))
    assert status == EXIT_OK
    assert [line["source"] for line in lines] == [str(tree / "a" / "again.json")]


def test_two_symlink_loops_do_not_make_the_walk_exponential(tmp_path: Path) -> None:
    tree = tmp_path / "trail"
    tree.mkdir()
    (tree / "record.json").write_bytes(SSH_WORLD.read_bytes())
    for name in "xyz":
        (tree / name).symlink_to(".")  # 3^40 paths today: the walk never ends
    completed = subprocess.run(
        [SGWATCH, "classify", str(tree)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert completed.returncode == EXIT_OK, completed.stderr
    assert len(completed.stdout.splitlines()) == 1


def test_fifo_and_devices_are_skipped_with_a_note(tmp_path: Path) -> None:
    """A FIFO nobody writes to blocks open() forever and /dev/zero never ends: neither is read, each gets a note."""
    tree = tmp_path / "trail"
    tree.mkdir()
    os.mkfifo(tree / "pipe.json")
    (tree / "record.json").write_bytes(SSH_WORLD.read_bytes())
    os.mkfifo(tmp_path / "named.json")
    completed = subprocess.run(
        [SGWATCH, "classify", str(tmp_path / "named.json"), "/dev/zero", str(tree)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert completed.returncode == EXIT_OK, completed.stderr
    assert [json.loads(line)["severity"] for line in completed.stdout.splitlines()] == ["CRITICAL"]
    notes = completed.stderr.splitlines()
    assert notes[0] == f"sgwatch classify: {tmp_path / 'named.json'}: not a regular file (a FIFO), not read;" + (
        " pipe it to `sgwatch classify -` to read it"
    )
    assert notes[1].startswith("sgwatch classify: /dev/zero: not a regular file (a character device), not read")
    assert notes[2].startswith(f"sgwatch classify: {tree / 'pipe.json'}: not a regular file (a FIFO)")
    assert notes[3].startswith(SUMMARY) and notes[3].endswith("; 3 inputs skipped (not regular files)")


def test_unreadable_subdirectory_is_reported_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated: the tests run as root, who may list any directory, so the kernel's EACCES is raised where listing a
    directory surfaces it (os.scandir, and os.listdir which pathlib used)."""
    tree = tmp_path / "trail"
    for name in ("a", "b_locked", "c"):
        (tree / name).mkdir(parents=True)
        (tree / name / "record.json").write_bytes(SSH_WORLD.read_bytes())
    locked = str(tree / "b_locked")
    real_scandir, real_listdir = os.scandir, os.listdir

    def refuse(real: Any) -> Any:
        def call(path: Any = ".") -> Any:
            if os.fspath(path) == locked:
                raise PermissionError(13, "Permission denied", locked)
            return real(path)

        return call

    monkeypatch.setattr(os, "scandir", refuse(real_scandir))
    monkeypatch.setattr(os, "listdir", refuse(real_listdir))
    status, lines, err = classify(str(tree))
    assert status == EXIT_UNREADABLE
    assert [line.get("severity", "error") for line in lines] == ["CRITICAL", "error", "CRITICAL"]
    assert lines[1]["error"] == f"{locked}: cannot read the directory (Permission denied)"
    assert summary(err).endswith("1 unreadable")


# Size limits --------------------------------------------------------------------------------------------------------


def gzip_bomb(decompressed: int) -> bytes:
    """A multi-member gzip file of JSON whitespace: 8 MiB members of about 8 KB each, repeated."""
    member = gzip.compress(b" " * (8 << 20), compresslevel=9)
    return member * (decompressed // (8 << 20))


def test_gzip_bomb_is_an_error_line_and_the_rest_is_read(tmp_path: Path) -> None:
    (tmp_path / "a_bomb.json.gz").write_bytes(gzip_bomb(64 << 20))
    (tmp_path / "b_large.json").write_bytes(b" " * (2 << 20) + SSH_WORLD.read_bytes())
    (tmp_path / "c_good.json.gz").write_bytes(gzip.compress(SSH_WORLD.read_bytes()))
    status, lines, err = classify("--max-decompressed-size", "1MiB", str(tmp_path))
    assert status == EXIT_UNREADABLE
    assert errors(lines) == [
        f"{tmp_path / 'a_bomb.json.gz'}: decompresses to more than 1 MiB, the limit (--max-decompressed-size)",
        f"{tmp_path / 'b_large.json'}: larger than 1 MiB, the limit (--max-decompressed-size)",
    ]
    assert lines[-1]["severity"] == "CRITICAL"
    assert summary(err).endswith("2 unreadable")


def test_stdin_over_the_limit_is_an_error_line() -> None:
    status, lines, err = classify("--max-decompressed-size", "1KiB", "-", stdin=SSH_WORLD.read_bytes() * 2)
    assert status == EXIT_UNREADABLE
    assert errors(lines) == ["<stdin>: larger than 1 KiB, the limit (--max-decompressed-size)"]
    assert summary(err).endswith("1 unreadable")


def test_the_limit_defaults_to_2_gib_and_takes_units() -> None:
    parse = build_parser().parse_args
    assert parse(["classify", "x"]).max_decompressed_size == 2 << 30
    assert parse(["classify", "--max-decompressed-size", "64MiB", "x"]).max_decompressed_size == 64 << 20
    assert parse(["classify", "--max-decompressed-size", "1000", "x"]).max_decompressed_size == 1000
    assert main(["classify", "--max-decompressed-size", "lots", "x"], io.StringIO(), io.StringIO()) == 2


def test_multi_member_gzip_is_read_whole(tmp_path: Path) -> None:
    record = json.dumps(json.loads(SSH_WORLD.read_text())).encode() + b"\n"
    (tmp_path / "two.jsonl.gz").write_bytes(gzip.compress(record) + gzip.compress(record))
    status, lines, _ = classify(str(tmp_path / "two.jsonl.gz"))
    assert status == EXIT_OK
    assert [line["source"].rsplit(":", 1)[1] for line in lines] == ["line 1", "line 2"]


def test_truncated_gzip_member_is_an_error_line(tmp_path: Path) -> None:
    whole = gzip.compress(SSH_WORLD.read_bytes())
    (tmp_path / "cut.json.gz").write_bytes(whole + whole[: len(whole) // 2])
    status, lines, _ = classify(str(tmp_path / "cut.json.gz"))
    assert status == EXIT_UNREADABLE
    [error] = errors(lines)
    assert error.startswith(f"{tmp_path / 'cut.json.gz'}: not a readable gzip file")


def classify_in_a_fresh_interpreter(*args: str) -> tuple[int, int, str]:
    """`sgwatch classify ARGS` in a new interpreter: its exit status, its peak RSS in KiB and what it wrote. The peak
    is VmHWM, the high-water mark of the interpreter's own memory: ru_maxrss would carry over the RSS of the pytest
    process that forked it (Linux keeps it across exec)."""
    program = (
        "import io, re, sys\n"
        "from sgwatch.operator.cli import main\n"
        "out = io.StringIO()\n"
        "status = main(['classify', *sys.argv[1:]], out, out)\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print(status, peak)\n"
        "print(out.getvalue())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=120, check=True
    )
    first, rest = completed.stdout.split("\n", 1)
    status, peak_kib = map(int, first.split())
    return status, peak_kib, rest


def test_gzip_bomb_peak_memory_stays_bounded(tmp_path: Path) -> None:
    """1 GiB of decompressed input against a 16 MiB limit."""
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip_bomb(1 << 30))
    status, peak_kib, _ = classify_in_a_fresh_interpreter("--max-decompressed-size", "16MiB", str(bomb))
    assert status == EXIT_UNREADABLE
    assert bomb.stat().st_size < 2 << 20
    assert peak_kib < 100 << 10, f"peak RSS {peak_kib} KiB"


# Shapes -------------------------------------------------------------------------------------------------------------


def test_utf8_bom_is_accepted(decoder: str) -> None:
    status, lines, _ = classify(str(CLI_FIXTURES / "bom_authorize_ingress_ssh_world.json"))
    assert status == EXIT_OK
    assert [line["severity"] for line in lines] == ["CRITICAL"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("eventbridge_detail_string.json", ".detail: expected the CloudTrail record (an object), got a string"),
        ("eventbridge_detail_null.json", ".detail: expected the CloudTrail record (an object), got null"),
        ("records_not_a_list.json", ":Records: expected a list of records, got a string"),
    ],
)
def test_envelope_without_a_record_is_an_error_not_skipped(name: str, expected: str) -> None:
    path = CLI_FIXTURES / name
    status, lines, err = classify(str(path))
    assert status == EXIT_UNREADABLE
    assert errors(lines) == [f"{path}{expected}"]
    assert summary(err).endswith("0 other records skipped; 1 unreadable")


def test_pretty_printed_broken_json_reports_the_parse_error_once(decoder: str) -> None:
    path = CLI_FIXTURES / "pretty_printed_missing_comma.json"
    broken_line = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.endswith('Ingress"'))
    status, lines, err = classify(str(path))
    assert status == EXIT_UNREADABLE
    [error] = errors(lines)
    assert error.startswith(f"{path}: not valid JSON (Expecting ',' delimiter: line {broken_line + 1} column")
    assert len(lines) == 1
    assert summary(err).endswith("1 unreadable")


def test_json_escaped_event_name_reads_the_same_in_a_document_and_in_json_lines(decoder: str) -> None:
    _, document, _ = classify(str(CLI_FIXTURES / "escaped_event_name.json"))
    _, json_lines, _ = classify(str(CLI_FIXTURES / "escaped_event_name.jsonl"))
    assert len(document) == len(json_lines) == 1
    assert document[0].pop("source") != json_lines[0].pop("source")
    assert document == json_lines
    assert document[0]["severity"] == "CRITICAL"


def test_all_reports_the_real_outcome_of_other_records() -> None:
    status, lines, _ = classify("--all", str(CLI_FIXTURES / "failed_run_instances.json"))
    assert status == EXIT_OK
    [line] = lines
    assert (line["eventName"], line["severity"], line["outcome"]) == ("RunInstances", "NONE", "failed")


@pytest.mark.parametrize(
    ("name", "where"), [("lookup_events.json", ":Events[{}]"), ("lookup_events.jsonl", ":line {}")]
)
def test_lookup_events_output_is_read_as_the_records_it_carries(name: str, where: str) -> None:
    path = CLI_FIXTURES / name
    status, lines, _ = classify(str(path))
    assert status == EXIT_OK
    assert [(line["severity"], line["account"], line["region"], line["actor"], line["groupIds"]) for line in lines] == [
        ("CRITICAL", "000000000000", "ap-northeast-2", "user/test_user", ["sg-0e79c7acdf4a0225e"]),
        ("INFO", "111122223333", "eu-west-1", "assumed-role/PlatformAdmin/alice", ["sg-0aaa1111bbbb2222c"]),
    ]
    offset = 0 if name.endswith(".json") else 1
    assert [line["source"] for line in lines] == [
        f"{path}{where.format(index + offset)}.CloudTrailEvent" for index in range(2)
    ]


def test_lookup_event_with_a_broken_cloudtrail_event_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(
        json.dumps({"Events": [{"EventId": "e-1", "CloudTrailEvent": '{"eventName": '}, {"EventId": "e-2"}]})
    )
    status, lines, _ = classify(str(path))
    assert status == EXIT_UNREADABLE
    assert [error.split(": ", 1)[0] for error in errors(lines)] == [
        f"{path}:Events[0].CloudTrailEvent",
        f"{path}:Events[1]",
    ]


def test_every_shape_in_one_run_still_ends_with_the_summary(tmp_path: Path) -> None:
    status, lines, err = classify(*(str(path) for path in sorted(CLI_FIXTURES.glob("*.json*"))))
    assert status == EXIT_UNREADABLE
    assert "unreadable" in summary(err)
    assert len(errors(lines)) == 4  # the three envelopes without a record and the broken pretty-printed file


def test_pretty_printed_values_one_after_another_are_each_read(tmp_path: Path) -> None:
    """What `aws cloudtrail lookup-events | jq '.Events[].CloudTrailEvent | fromjson'` prints: one value per record,
    each over many lines. A broken value ends the reading there, with one error naming its line."""
    record = json.loads(SSH_WORLD.read_text())
    path = tmp_path / "records.json"
    text = json.dumps(record, indent=2) + "\n" + json.dumps(record, indent=2) + "\n"
    path.write_text(text + '{\n  "eventName": \n')
    status, lines, _ = classify(str(path))
    assert status == EXIT_UNREADABLE
    second = text.count("\n", 0, len(json.dumps(record, indent=2)) + 1) + 1
    assert [line.get("source") for line in lines[:2]] == [f"{path}:line 1", f"{path}:line {second}"]
    assert [line.get("severity") for line in lines[:2]] == ["CRITICAL", "CRITICAL"]
    [error] = errors(lines)
    assert error.startswith(f"{path}:line {text.count(chr(10)) + 1}: not valid JSON (Expecting value")


def test_json_lines_with_a_broken_first_line_still_read_the_rest(tmp_path: Path, decoder: str) -> None:
    compact = json.dumps(json.loads(SSH_WORLD.read_text()))
    path = tmp_path / "events.jsonl"
    path.write_text(compact[: compact.index("SecurityGroup") + 20] + "\n" + compact + "\n")  # cut short
    status, lines, _ = classify(str(path))
    assert status == EXIT_UNREADABLE
    assert [line.get("severity", "error") for line in lines] == ["error", "CRITICAL"]
    assert lines[0]["error"].startswith(f"{path}:line 1: not valid JSON")


def test_a_gzip_trailer_that_lies_about_the_size_costs_no_memory(tmp_path: Path) -> None:
    """The trailer's size only sizes the output when deflate could reach it from the file's bytes: a small file that
    claims to inflate to 1 GiB is read well under that, and reported as unreadable."""
    honest = gzip.compress(SSH_WORLD.read_bytes())
    liar = tmp_path / "liar.json.gz"
    liar.write_bytes(honest[:-4] + (1 << 30).to_bytes(4, "little"))
    status, peak_kib, written = classify_in_a_fresh_interpreter(str(liar))
    assert status == EXIT_UNREADABLE and "not a readable gzip file" in written
    assert peak_kib < 100 << 10, f"peak RSS {peak_kib} KiB"


def test_json_lines_on_stdin_are_judged_as_they_arrive() -> None:
    """A follower (`tail -f`, a stream consumer) never closes the pipe: each line's result is printed before the
    next line comes, not at the end of input."""
    line = json.dumps(json.loads(SSH_WORLD.read_bytes())).encode() + b"\n"
    process = subprocess.Popen(
        [SGWATCH, "classify", "--format", "json", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(line * 2)
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no result while stdin is still open"
        first = json.loads(process.stdout.readline())
        assert first["severity"] == "CRITICAL"
        process.stdin.write(line)
        process.stdin.close()
        rest = process.stdout.read().splitlines()
        assert process.wait(timeout=20) == EXIT_OK
    finally:
        process.kill()
    assert len(rest) == 2


def test_a_json_line_on_stdin_over_the_limit_is_skipped_and_reported_and_the_rest_is_read() -> None:
    line = json.dumps(json.loads(SSH_WORLD.read_bytes())).encode() + b"\n"
    huge = b'{"eventName": "AuthorizeSecurityGroupIngress", "padding": "' + b"x" * 8192 + b'"}\n'
    stdin = line * 8 + huge + line
    status, lines, _ = classify("--max-decompressed-size", "4KiB", "-", stdin=stdin)
    assert status == EXIT_UNREADABLE
    assert errors(lines) == [
        "<stdin>:line 9: a line larger than 4 KiB, the limit (--max-decompressed-size); the line is skipped"
    ]
    assert len(lines) == 10 and lines[-1]["severity"] == "CRITICAL"


def test_json_lines_read_from_stdin_are_judged_as_read_from_a_file(tmp_path: Path) -> None:
    """Lines cut by \\n, \\r\\n or a lone \\r, blank lines, a BOM, a broken line: the same results and places."""
    line = json.dumps(json.loads(SSH_WORLD.read_bytes())).encode()
    data = (
        b"\xef\xbb\xbf"
        + line
        + b"\r\n\n"
        + line
        + b"\r"
        + b'{"eventName": "AuthorizeSecurityGroupIngress", \n'
        + line
        + b"\n"
        + line
    )
    (tmp_path / "lines.json").write_bytes(data)
    from_file = classify("--format", "json", str(tmp_path / "lines.json"))
    from_stdin = classify("--format", "json", "-", stdin=data)
    place = str(tmp_path / "lines.json")
    assert json.dumps(from_file[1]).replace(place, "<stdin>") == json.dumps(from_stdin[1])
    assert from_file[0] == from_stdin[0] == EXIT_UNREADABLE
    assert len(from_stdin[1]) == 5


def test_ocsf_output_is_one_detection_finding_per_judged_record_and_input_errors_go_to_stderr(tmp_path: Path) -> None:
    (tmp_path / "record.json").write_bytes(SSH_WORLD.read_bytes())
    status, lines, err = classify("--format", "ocsf", str(tmp_path / "record.json"), str(tmp_path / "missing.json"))
    assert status == EXIT_UNREADABLE
    [finding] = lines
    assert finding["class_uid"] == 2004 and finding["severity"] == "Critical"
    assert finding["unmapped"]["sgwatch"]["eventID"] == json.loads(SSH_WORLD.read_bytes())["eventID"]
    assert f"{tmp_path / 'missing.json'}: cannot read" in err


def test_asff_output_is_one_security_hub_finding_per_judged_record(tmp_path: Path) -> None:
    (tmp_path / "record.json").write_bytes(SSH_WORLD.read_bytes())
    record = json.loads(SSH_WORLD.read_bytes())
    nowhere = dict(record, awsRegion="not a region", eventID="nowhere")
    (tmp_path / "nowhere.json").write_text(json.dumps(nowhere))
    status, lines, err = classify("--format", "asff", str(tmp_path / "record.json"), str(tmp_path / "nowhere.json"))
    assert status == EXIT_UNREADABLE  # a finding that cannot be filed is not silently dropped
    [finding] = lines
    assert finding["Id"] == f"sgwatch/{record['awsRegion']}/{record['eventID']}"
    assert finding["Severity"]["Label"] == "CRITICAL" and finding["AwsAccountId"] == record["recipientAccountId"]
    assert "nowhere: no account and region to file a finding under" in err


def test_an_over_long_second_line_on_stdin_keeps_every_later_line_at_its_place() -> None:
    line = json.dumps(json.loads(SSH_WORLD.read_bytes())).encode()
    assert len(line) < 4096
    exact = line + b" " * (4096 - len(line))  # exactly the limit: accepted
    huge = b'{"eventName": "AuthorizeSecurityGroupIngress", "x": "' + b"y" * 9000 + b'"}'
    stdin = line + b"\n" + huge + b"\n" + exact + b"\r\n" + line + b"\n"
    status, lines, _ = classify("--max-decompressed-size", "4KiB", "-", stdin=stdin)
    assert status == EXIT_UNREADABLE
    assert errors(lines) == [
        "<stdin>:line 2: a line larger than 4 KiB, the limit (--max-decompressed-size); the line is skipped"
    ]
    assert [entry.get("source") for entry in lines if "error" not in entry] == [
        "<stdin>:line 1", "<stdin>:line 3", "<stdin>:line 4"
    ]  # fmt: skip
