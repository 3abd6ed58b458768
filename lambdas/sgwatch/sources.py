"""Read CloudTrail records from files, directories and stdin: JSON, JSON lines, gzip, log files.

Large CloudTrail log files take a fast path when msgspec is installed: a typed decoder reads only the fields that
classification uses and leaves the rest of each record undecoded, so the 99% of records from other services cost
almost nothing. The Lambda never imports this module.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from sgwatch.envelopes import Item, unwrap, unwrap_log_entry
from sgwatch.events import MONITORED_BY_NAME

#: Every monitored eventName contains "SecurityGroup", except the two attachment calls, which count only with groupSet.
_MARKERS = (b"SecurityGroup", b"groupSet", b"groupset")

#: The record fields classification reads (CloudTrail's own casing), and the wrappers a Records entry can be.
CLASSIFIED_FIELDS = (
    "eventID", "eventName", "eventTime", "eventSource", "awsRegion", "recipientAccountId", "userIdentity",
    "userAgent", "sourceIPAddress", "sessionCredentialFromConsole", "requestParameters", "responseElements",
    "errorCode", "errorMessage",
)  # fmt: skip
_WRAPPER_FIELDS = ("Sns", "body")

#: File names a directory walk reads. A file named on the command line is read whatever its name.
READABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")

Decoder = Callable[[bytes], Any]


def may_be_security_group(raw: bytes) -> bool:
    """False only when the bytes cannot hold a monitored record (a necessary condition, checked cheaply)."""
    return any(marker in raw for marker in _MARKERS)


def _msgspec() -> Any:
    try:
        import msgspec  # noqa: PLC0415 - optional, and kept off the import path of everything else
    except ImportError:  # the fast path is optional: plain json reads the same input, slower
        return None
    return msgspec


@cache
def _log_file_type(msgspec: Any) -> Any:
    # eventName is decoded to decide; every other field stays raw bytes. An absent field is an empty Raw.
    fields = [
        (name, str | None, None) if name == "eventName" else (name, msgspec.Raw, msgspec.Raw())
        for name in CLASSIFIED_FIELDS + _WRAPPER_FIELDS
    ]
    entry = msgspec.defstruct("Entry", fields)
    return msgspec.defstruct("LogFile", [("Records", list[entry])])  # type: ignore[valid-type]


def read_bytes(data: bytes, name: str, keep_all: bool = False) -> Iterator[Item]:
    """Every record in one input. Unless keep_all, records that cannot be security-group calls may be skipped."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            yield Item(name, error=f"{name}: not a readable gzip file ({error})")
            return
    msgspec = _msgspec()
    decode: Decoder = msgspec.json.decode if msgspec else json.loads
    decode_error: type[Exception] = msgspec.DecodeError if msgspec else ValueError
    if msgspec is not None and not keep_all:
        fast = _fast_log_file(data, name, msgspec)
        if fast is not None:
            yield from fast
            return
    try:
        document = decode(data)
    except (decode_error, UnicodeDecodeError) as error:
        if data.count(b"\n", 0, len(data.rstrip())) == 0:
            yield Item(name, error=f"{name}: not valid JSON ({error})")
        else:
            yield from _json_lines(data, name, decode, decode_error, keep_all)
        return
    yield from unwrap(document, name)


def _fast_log_file(data: bytes, name: str, msgspec: Any) -> list[Item] | None:
    """A CloudTrail log file read by the typed decoder, or None when the input is not one in CloudTrail's own form."""
    if data.lstrip()[:1] != b"{" or b'"Records"' not in data[:4096]:
        return None
    try:
        entries = msgspec.json.decode(data, type=_log_file_type(msgspec)).Records
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # the general path reads it and names what is wrong
    items: list[Item] = []
    skipped = 0
    for index, entry in enumerate(entries):
        event_name = entry.eventName
        wrapped = bool(entry.Sns) or bool(entry.body)
        if event_name is None and not wrapped:
            return None  # not CloudTrail's casing (a pipeline rewrote the keys): the general path reads every key
        if not wrapped and event_name not in MONITORED_BY_NAME:
            skipped += 1
            continue
        if skipped:
            items.append(Item("", skipped=skipped))
            skipped = 0
        record = {
            field: value if field == "eventName" else msgspec.json.decode(value)
            for field in CLASSIFIED_FIELDS + _WRAPPER_FIELDS
            if (value := getattr(entry, field)) is not None and (field == "eventName" or len(value))
        }
        items.extend(unwrap_log_entry(record, f"{name}:Records[{index}]"))
    if skipped:
        items.append(Item("", skipped=skipped))
    return items


def _json_lines(
    data: bytes, name: str, decode: Decoder, decode_error: type[Exception], keep_all: bool
) -> Iterator[Item]:
    skipped = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        if not keep_all and not may_be_security_group(line):
            skipped += 1
            continue
        if skipped:
            yield Item("", skipped=skipped)
            skipped = 0
        location = f"{name}:line {number}"
        try:
            value = decode(line)
        except (decode_error, UnicodeDecodeError) as error:
            yield Item(location, error=f"{location}: not valid JSON ({error})")
            continue
        yield from unwrap(value, location)
    if skipped:
        yield Item("", skipped=skipped)


def _walk(path: Path) -> Iterator[Path]:
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            yield from _walk(child)
        elif child.name.endswith(READABLE_SUFFIXES):
            yield child


def read_paths(paths: Iterable[str], keep_all: bool = False, stdin: Any = None) -> Iterator[Item]:
    """Records from files, directories (recursively) and "-" (stdin), in the order given."""
    for text in paths:
        if text == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            yield from read_bytes(stream.read(), "<stdin>", keep_all)
            continue
        path = Path(text)
        files = list(_walk(path)) if path.is_dir() else [path]
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as error:
                yield Item(str(file), error=f"{file}: cannot read ({error.strerror or error})")
                continue
            yield from read_bytes(data, str(file), keep_all)
