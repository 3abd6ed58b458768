"""Read CloudTrail records from files, directories and stdin: JSON, JSON lines, gzip, log files.

Large CloudTrail log files take a fast path when msgspec is installed: each record is kept as raw bytes and
decoded only when it can be a security-group call. The Lambda never imports this module.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sgwatch.envelopes import Item, unwrap, unwrap_log_entry

#: Stands for a record that the fast path proved is not a security-group call, without decoding it.
SKIPPED = Item("")

#: Every monitored eventName contains "SecurityGroup", except the two attachment calls, which count only with groupSet.
_MARKERS = (b"SecurityGroup", b"groupSet", b"groupset")

#: File names a directory walk reads. A file named on the command line is read whatever its name.
READABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")

Decoder = Callable[[bytes], Any]


def may_be_security_group(raw: bytes) -> bool:
    """False only when the bytes cannot hold a monitored record (a necessary condition, checked cheaply)."""
    return any(marker in raw for marker in _MARKERS)


def _decoder() -> tuple[Decoder, type[Exception], Any]:
    try:
        import msgspec  # noqa: PLC0415 - optional, and kept off the import path of everything else
    except ImportError:  # the fast path is optional: plain json reads the same input, slower
        return json.loads, ValueError, None
    return msgspec.json.decode, msgspec.DecodeError, msgspec


def read_bytes(data: bytes, name: str, keep_all: bool = False) -> Iterator[Item]:
    """Every record in one input. Unless keep_all, records that cannot be security-group calls may be SKIPPED."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            yield Item(name, error=f"{name}: not a readable gzip file ({error})")
            return
    decode, decode_error, msgspec = _decoder()
    if msgspec is not None and not keep_all:
        entries = _raw_log_entries(data, msgspec)
        if entries is not None:
            for index, raw in enumerate(entries):
                if may_be_security_group(raw):
                    yield from unwrap_log_entry(decode(raw), f"{name}:Records[{index}]")
                else:
                    yield SKIPPED
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


def _raw_log_entries(data: bytes, msgspec: Any) -> list[bytes] | None:
    """The Records of a CloudTrail log file as undecoded bytes, or None when the input is not one."""
    if data.lstrip()[:1] != b"{" or b'"Records"' not in data[:4096]:
        return None

    log_file = msgspec.defstruct("LogFile", [("Records", list[msgspec.Raw])])
    try:
        return [bytes(raw) for raw in msgspec.json.decode(data, type=log_file).Records]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # the general path reads it and names what is wrong


def _json_lines(
    data: bytes, name: str, decode: Decoder, decode_error: type[Exception], keep_all: bool
) -> Iterator[Item]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"{name}:line {number}"
        if not keep_all and not may_be_security_group(line):
            yield SKIPPED
            continue
        try:
            value = decode(line)
        except (decode_error, UnicodeDecodeError) as error:
            yield Item(location, error=f"{location}: not valid JSON ({error})")
            continue
        yield from unwrap(value, location)


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
