"""Read CloudTrail records from files, directories and stdin: JSON, JSON lines, gzip, log files, LookupEvents output.

Large CloudTrail log files take a fast path when msgspec is installed: a typed decoder reads only the fields that
classification uses and leaves the rest of each record undecoded, so the 99% of records from other services cost
almost nothing. The Lambda never imports this module.

Any input is survived: what cannot be read is an Item with an error that names it (the rest is still read); a
directory tree is walked once per real directory, whatever its symbolic links; FIFOs and devices are passed over with
a note rather than opened; and no input may hold more than a limit of bytes, gzip members included, which are
decompressed a chunk at a time so that memory stays bounded by the limit, not by what a small file expands to.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from sgwatch.core.envelopes import Item, unwrap, unwrap_log_entry
from sgwatch.core.events import MONITORED_EVENTS
from sgwatch.core.tamper import TAMPER_CALLS, is_watched_name

#: Bytes one of which every monitored record holds: "SecurityGroup" in most event names, groupSet in the attachment
#: calls, and the names of the other monitored and tamper calls (the prefix-list calls name no group). A pipeline may
#: have lower-cased the keys, so the case is ignored.
_MARKERS = re.compile(
    b"(?i)SecurityGroup|groupSet|"
    + b"|".join(
        name.encode()
        for name in (
            *(
                event.name
                for event in MONITORED_EVENTS
                if "SecurityGroup" not in event.name and not event.requires_group_set
            ),
            *(call.name for call in TAMPER_CALLS),
        )
    )
)
#: A JSON escape can spell any letter of a marker ("Authorize\u0053ecurityGroupIngress"): such bytes are decoded.
_ESCAPE = b"\\u"

#: The record fields classification reads (CloudTrail's own casing), and the wrappers a Records entry can be.
CLASSIFIED_FIELDS = (
    "eventID", "eventName", "eventTime", "eventSource", "awsRegion", "recipientAccountId", "userIdentity",
    "userAgent", "sourceIPAddress", "sessionCredentialFromConsole", "requestParameters", "responseElements",
    "errorCode", "errorMessage",
)  # fmt: skip
_WRAPPER_FIELDS = ("Sns", "body")

#: File names a directory walk reads. A file named on the command line is read whatever its name.
READABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")

#: The most bytes one input may hold, once decompressed (settable: `sgwatch classify --max-decompressed-size`).
DEFAULT_MAX_SIZE = 2 << 30
LIMIT_OPTION = "--max-decompressed-size"

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20  # gzip input and output per step
_PROBED_LINES = 100  # lines tried to tell JSON lines from a broken multi-line document
_WHITESPACE = frozenset(b" \t\r\n")

Data = bytes | bytearray
Decoder = Callable[[Data], Any]


class NotReadable(Exception):
    """What is wrong with an input or a part of it ("not valid JSON (...)"); the caller says where."""

    def __init__(self, problem: str, more_follows: bool = False) -> None:
        super().__init__(problem)
        self.more_follows = more_follows  # a complete JSON value was read, and more text follows it


class TooLarge(NotReadable):
    """The input holds more bytes than the limit."""


def size_label(size: int) -> str:
    """1073741824 -> "1 GiB"; sizes that are not a whole number of KiB, MiB or GiB in bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def _over_limit(limit: int, what: str = "larger than") -> str:
    return f"{what} {size_label(limit)}, the limit ({LIMIT_OPTION})"


def may_be_security_group(raw: Data) -> bool:
    """False only when the bytes cannot hold a monitored record (a necessary condition, checked cheaply)."""
    return _ESCAPE in raw or _MARKERS.search(raw) is not None


#: Said once per run when msgspec is missing (measured on the 200,000-record bench file: 8x the time, 5x the memory).
SLOW_READER_NOTICE = (
    "msgspec is not installed, so CloudTrail log files are read by the standard library: about 8 times slower, and"
    " a whole file is held decoded in memory; install it with `pip install msgspec` (a dependency of sgwatch)"
)


def fast_reader_installed() -> bool:
    return _msgspec() is not None


def _msgspec() -> Any:
    try:
        import msgspec  # noqa: PLC0415 - optional, and kept off the import path of everything else
    except ImportError:  # the fast path is optional: plain json reads the same input, slower
        return None
    return msgspec


@cache
def _log_file_entry_type(msgspec: Any) -> Any:
    # eventName is decoded to decide; every other field stays raw bytes. An absent field is an empty Raw.
    fields = [
        (name, str | None, None) if name == "eventName" else (name, msgspec.Raw, msgspec.Raw())
        for name in CLASSIFIED_FIELDS + _WRAPPER_FIELDS
    ]
    return msgspec.defstruct("Entry", fields)


@cache
def _skim_log_file_type(msgspec: Any) -> Any:
    # only what decides whether a record may be watched: its event name, and whether it wraps one (SNS, SQS)
    fields = [
        ("eventName", str | None, None),
        ("Sns", msgspec.Raw, msgspec.Raw()),
        ("body", msgspec.Raw, msgspec.Raw()),
    ]
    skim = msgspec.defstruct("Skim", fields)
    return msgspec.defstruct("SkimLog", [("Records", list[skim])])  # type: ignore[valid-type]


@cache
def _raw_log_file_type(msgspec: Any) -> Any:
    # each record's bytes, as a view of the input: what is decoded further is decoded one record at a time
    return msgspec.defstruct("LogFile", [("Records", list[msgspec.Raw])])


def _json_decode(data: Data) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise NotReadable("nested too deeply to read") from None
    except json.JSONDecodeError as error:
        raise NotReadable(f"not valid JSON ({error})", more_follows=error.msg == "Extra data") from None
    except ValueError as error:  # UnicodeDecodeError
        raise NotReadable(f"not valid JSON ({error})") from None


def _decoder(msgspec: Any) -> Decoder:
    """A decoder that raises only NotReadable. msgspec reads first; when it refuses, json says where (line and
    column) or reads what msgspec does not (NaN, UTF-16)."""
    if msgspec is None:
        return _json_decode
    fast, refused = msgspec.json.decode, msgspec.DecodeError

    def decode(data: Data) -> Any:
        try:
            return fast(data)
        except RecursionError:
            raise NotReadable("nested too deeply to read") from None
        except refused:
            return _json_decode(data)

    return decode


def gunzip(data: Data, limit: int) -> bytearray:
    """Every member of a gzip file, decompressed a chunk at a time. TooLarge past `limit` bytes, NotReadable when the
    data is not gzip, is cut short or has something after its last member (zeros excepted, as gzip allows)."""
    # The last member's trailer gives its size (mod 2^32): the output is made that size at once and filled in place,
    # rather than grown and copied. Only a hint: trimmed or grown to what the data inflates to, within `limit`; and
    # no more than deflate's best ratio (1,032 to 1) allows, whatever a hostile trailer says.
    hint = int.from_bytes(data[-4:], "little") if len(data) >= 18 else 0
    out = bytearray(hint if hint <= min(limit, len(data) * 1032) else 0)
    filled = 0
    view = memoryview(data)
    position = 0
    try:
        while position < len(data):
            if view[position : position + 2] != _GZIP_MAGIC:
                if data.count(0, position) == len(data) - position:
                    break
                raise NotReadable(f"not a readable gzip file (unexpected data at byte {position})")
            stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while not stream.eof:
                feed = stream.unconsumed_tail or view[position : position + _CHUNK]
                if not stream.unconsumed_tail:
                    position += len(feed)
                chunk = stream.decompress(feed, _CHUNK)
                if filled + len(chunk) > limit:
                    raise TooLarge(_over_limit(limit, "decompresses to more than"))
                out[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
                if not chunk and not feed:
                    raise NotReadable("not a readable gzip file (it ends in the middle of a member)")
            position -= len(stream.unused_data)
    except zlib.error as error:
        raise NotReadable(f"not a readable gzip file ({error})") from None
    finally:
        view.release()
    del out[filled:]
    return out


def read_bytes(data: Data, name: str, keep_all: bool = False, max_size: int = DEFAULT_MAX_SIZE) -> Iterator[Item]:
    """Every record in one input. Unless keep_all, records that cannot be security-group calls may be skipped."""
    try:
        if data[:2] == _GZIP_MAGIC:
            data = gunzip(data, max_size)
        elif len(data) > max_size:
            raise TooLarge(_over_limit(max_size))
    except NotReadable as problem:
        yield Item(name, error=f"{name}: {problem}")
        return
    if data[:3] == _BOM:
        data = data[3:]
    msgspec = _msgspec()
    if msgspec is not None and not keep_all:
        fast = _fast_log_file(data, name, msgspec)
        if fast is not None:
            yield from fast
            return
    decode = _decoder(msgspec)
    try:
        document = decode(data)
    except NotReadable as problem:
        yield from _after_document_error(data, name, problem, decode, keep_all)
        return
    yield from unwrap(document, name)


def _after_document_error(
    data: Data, name: str, problem: NotReadable, decode: Decoder, keep_all: bool
) -> Iterator[Item]:
    """JSON lines, JSON values one after another, or one broken document: told apart, each read as it is."""
    lines = data.splitlines()
    if _looks_like_json_lines(lines, decode):
        yield from _json_lines(lines, name, decode, keep_all)
    elif problem.more_follows:  # a complete first value, then more: values one after another (`jq .`)
        yield from _concatenated(data, name)
    else:
        yield Item(name, error=f"{name}: {problem}")


def _looks_like_json_lines(lines: Sequence[Data], decode: Decoder) -> bool:
    """True when the first line is a JSON value by itself, or another early line is an object by itself: a broken
    pretty-printed document is then not mistaken for JSON lines (with one error per line)."""
    nonblank = [line for line in lines[: _PROBED_LINES * 2] if line.strip()][:_PROBED_LINES]
    if len(nonblank) < 2:
        return False
    for index, line in enumerate(nonblank):
        if index == 0 or line[:1] == b"{":  # an object that starts at column 0: not a line inside a document
            try:
                decode(line)
            except NotReadable:
                continue
            return True
    return False


def _json_lines(lines: Iterable[Data | _Unread], name: str, decode: Decoder, keep_all: bool) -> Iterator[Item]:
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if isinstance(line, _Unread):
            yield Item(f"{name}:line {number}", error=f"{name}:line {number}: {line}")
            continue
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
        except NotReadable as problem:
            yield Item(location, error=f"{location}: {problem}")
            continue
        yield from unwrap(value, location)
    if skipped:
        yield Item("", skipped=skipped)


def _concatenated(data: Data, name: str) -> Iterator[Item]:
    """JSON values one after another, each over several lines; named by the line each starts on."""
    try:
        text = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    except UnicodeDecodeError as error:
        yield Item(name, error=f"{name}: not valid JSON ({error})")
        return
    decoder = json.JSONDecoder()
    position, line = 0, 1
    while True:
        start = position
        while position < len(text) and ord(text[position]) in _WHITESPACE:
            position += 1
        if position == len(text):
            return
        line += text.count("\n", start, position)
        location = f"{name}:line {line}"
        try:
            value, end = decoder.raw_decode(text, position)
        except RecursionError:
            yield Item(location, error=f"{location}: nested too deeply to read; the rest of {name} is not read")
            return
        except ValueError as error:
            yield Item(location, error=f"{location}: not valid JSON ({error}); the rest of {name} is not read")
            return
        line += text.count("\n", position, end)
        position = end
        yield from unwrap(value, location)


def _first_byte(data: Data) -> bytes:
    for index in range(min(len(data), 4096)):
        if data[index] not in _WHITESPACE:
            return bytes(data[index : index + 1])
    return b""


def _fast_log_file(data: Data, name: str, msgspec: Any) -> Iterator[Item] | None:
    """A CloudTrail log file read by the typed decoder, record by record, or None when the input is not one in
    CloudTrail's own form. The file is split into its records' raw bytes (views of the input, no copy) first; each
    record is decoded as it is read, so the records of a big file are never all held at once."""
    if _first_byte(data) != b"{" or b'"Records"' not in data[:4096]:
        return None
    wanted = _wanted(data, msgspec)
    try:
        raws = msgspec.json.decode(data, type=_raw_log_file_type(msgspec)).Records
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # the general path reads it and names what is wrong
    return _fast_entries(raws, name, msgspec, wanted if wanted is not None and len(wanted) == len(raws) else None)


def _wanted(data: Data, msgspec: Any) -> bytearray | None:
    """Which records may be watched (1) and which are certainly not (0), from one pass of the whole file that reads
    only each record's event name: the others are counted without being decoded one by one. None when the file does
    not read that way (an element that is not an object, an event name that is not a string): then every record is
    decoded on its own, and what is wrong is said record by record."""
    try:
        skims = msgspec.json.decode(data, type=_skim_log_file_type(msgspec)).Records
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return bytearray(
        skim.eventName is None or bool(skim.Sns) or bool(skim.body) or is_watched_name(skim.eventName) for skim in skims
    )


def _fast_entries(raws: list[Any], name: str, msgspec: Any, wanted: bytearray | None = None) -> Iterator[Item]:
    entry_decoder = msgspec.json.Decoder(_log_file_entry_type(msgspec))
    general = _decoder(msgspec)
    skipped = 0
    # A record not in CloudTrail's own form (keys a pipeline rewrote, an element that is not an object): from there
    # on, records are read key by key, as the general path reads a log file.
    rewritten = False
    decode_entry, errors = entry_decoder.decode, (msgspec.DecodeError, msgspec.ValidationError)
    for index, raw in enumerate(raws):
        # an unwatched call's record in CloudTrail's form, as the one pass over the names found it
        if wanted is not None and not rewritten and not wanted[index]:
            skipped += 1
            continue
        entry = None
        if not rewritten:
            try:
                entry = decode_entry(raw)
            except RecursionError:
                entry = None
            except errors:
                rewritten = True
            else:
                # the common case first, and cheaply: a record of a call sgwatch does not watch
                if entry.eventName is not None and not entry.Sns and not entry.body:
                    if not is_watched_name(entry.eventName):
                        skipped += 1
                        continue
                else:
                    rewritten = entry.eventName is None and not (entry.Sns or entry.body)
        location = f"{name}:Records[{index}]"
        if skipped:
            yield Item("", skipped=skipped)
            skipped = 0
        if rewritten:
            yield from _general_entry(raw, location, general)
            continue
        try:
            if entry is None:
                raise RecursionError
            record = {
                field: value if field == "eventName" else msgspec.json.decode(value)
                for field in CLASSIFIED_FIELDS + _WRAPPER_FIELDS
                if (value := getattr(entry, field)) is not None and (field == "eventName" or len(value))
            }
        except RecursionError:
            yield Item(location, error=f"{location}: nested too deeply to read")
            continue
        yield from unwrap_log_entry(record, location)
    if skipped:
        yield Item("", skipped=skipped)


def _general_entry(raw: Any, location: str, decode: Decoder) -> Iterator[Item]:
    """One record read as the general path reads a log file's records: every key, in any casing."""
    try:
        element = decode(bytes(raw))
    except NotReadable as problem:
        yield Item(location, error=f"{location}: {problem}")
        return
    yield from unwrap_log_entry(element, location)


# Files, directories and stdin ---------------------------------------------------------------------------------------

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: str, mode: int) -> Item:
    kind = next((label for test, label in _NOT_REGULAR if test(mode)), "not a file")
    advice = "; pipe it to `sgwatch classify -` to read it" if stat.S_ISFIFO(mode) else ""
    return Item(path, note=f"{path}: not a regular file ({kind}), not read{advice}")


def _cannot_read(path: str, error: OSError, what: str = "") -> Item:
    return Item(path, error=f"{path}: cannot read{what} ({error.strerror or error})")


def _read_file(path: str, limit: int) -> Data | Item:
    """The bytes of a regular file, at most `limit`; otherwise an Item: an error, or a note for a FIFO or a device,
    which is never opened (opening a FIFO waits for a writer; a device may never end)."""
    try:
        if not stat.S_ISREG(mode := os.stat(path).st_mode):
            return _not_regular(path, mode)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        return _cannot_read(path, error)
    try:
        with os.fdopen(descriptor, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):  # replaced since it was looked at
                return _not_regular(path, info.st_mode)
            if info.st_size > limit:
                return Item(path, error=f"{path}: {_over_limit(limit)}")
            data = file.read(limit + 1)  # a file that grows while it is read still stops at the limit
    except OSError as error:
        return _cannot_read(path, error)
    return data if len(data) <= limit else Item(path, error=f"{path}: {_over_limit(limit)}")


def _listing(directory: Path) -> Iterator[os.DirEntry[str] | Item]:
    try:
        with os.scandir(directory) as entries:
            found = sorted((entry for entry in entries if not entry.name.startswith(".")), key=lambda e: e.name)
    except OSError as error:
        yield _cannot_read(str(directory), error, " the directory")
        return
    yield from found


def _walk(root: Path, seen: set[tuple[int, int]]) -> Iterator[str | Item]:
    """The readable files under root in name order, depth first, each real directory and file once (symbolic links
    are followed, loops are not), without recursion; directories that cannot be listed come as error Items."""
    pending = [_listing(root)]
    while pending:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        if isinstance(entry, Item):
            yield entry
            continue
        readable = entry.name.endswith(READABLE_SUFFIXES)
        try:
            info = entry.stat()  # follows symbolic links
        except OSError as error:
            if readable:  # a dangling or looping link that looks like input: say so
                yield _cannot_read(entry.path, error)
            continue
        real = (info.st_dev, info.st_ino)
        if real in seen or not (readable or stat.S_ISDIR(info.st_mode)):
            continue
        seen.add(real)
        if stat.S_ISDIR(info.st_mode):
            pending.append(_listing(Path(entry.path)))
        else:
            yield entry.path


def _read_file_items(path: str, keep_all: bool, max_size: int) -> Iterator[Item]:
    data = _inflated(_read_file(path, max_size), path, max_size)
    if isinstance(data, Item):
        yield data
    else:
        yield from read_bytes(data, path, keep_all, max_size)


def _inflated(data: Data | Item, name: str, max_size: int) -> Data | Item:
    """A gzip file inflated before its records are read, so that no frame holds the compressed bytes meanwhile."""
    if isinstance(data, Item) or data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gunzip(data, max_size)
    except NotReadable as problem:
        return Item(name, error=f"{name}: {problem}")


def _stdin_items(stream: Any, keep_all: bool, max_size: int) -> Iterator[Item]:
    """Stdin. JSON lines (a first line that is a JSON value by itself, then more) are read and judged line by line as
    they arrive: a pipe from a follower may never end, and each line is held alone, at most `max_size`. Any other
    input (a log file, a document, gzip) is read whole, at most `max_size`, and told apart as a file is."""
    name = "<stdin>"
    head: list[bytes | _Unread] = []
    nonblank = 0
    try:
        while nonblank < 2:  # two lines tell JSON lines; no more is waited for
            line = _next_line(stream, max_size)
            if line is None:
                break
            if not head and not isinstance(line, _Unread) and line[:3] == _BOM:
                line = line[3:]
            head.append(line)
            nonblank += 1 if isinstance(line, _Unread) else sum(1 for piece in line.splitlines() if piece.strip())
    except OSError as error:
        yield _cannot_read(name, error)
        return
    decode = _decoder(_msgspec())
    first = next((piece for line in head[:1] if isinstance(line, bytes) for piece in line.splitlines()), b"")
    if nonblank >= 2 and first[:2] != _GZIP_MAGIC and first.strip() and _decodes(first, decode):
        yield from _json_lines(_lines_of(head, stream, name, max_size), name, decode, keep_all)
        return
    if any(isinstance(line, _Unread) for line in head):  # a line longer than the limit: so is the input
        yield Item(name, error=f"{name}: {_over_limit(max_size)}")
        return
    taken = sum(map(len, head))
    try:
        data = b"".join(line for line in head if isinstance(line, bytes)) + stream.read(max(0, max_size + 1 - taken))
    except OSError as error:
        yield _cannot_read(name, error)
        return
    del head
    if len(data) > max_size:
        yield Item(name, error=f"{name}: {_over_limit(max_size)}")
        return
    inflated = _inflated(data, name, max_size)
    del data  # the compressed input: not held while the records are read
    if isinstance(inflated, Item):
        yield inflated
    else:
        yield from read_bytes(inflated, name, keep_all, max_size)


def _decodes(line: Data, decode: Decoder) -> bool:
    try:
        decode(line)
    except NotReadable:
        return False
    return True


class _Unread(str):
    """Stands for a line of stdin that could not be read; the text says why. Reported at the line's place."""


def _next_line(stream: Any, max_size: int) -> bytes | _Unread | None:
    """The next line of the stream with its ending; _Unread for one longer than `max_size` without its ending (read
    to its end and let go); None at the end."""
    line: bytes = stream.readline(max_size + 2)  # the limit, and room for a \r\n
    if not line:
        return None
    if len(line.rstrip(b"\r\n")) <= max_size:
        return line
    while line and not line.endswith(b"\n"):
        line = stream.readline(max_size + 2)
    return _Unread(f"a line {_over_limit(max_size)}; the line is skipped")


def _lines_of(head: list[bytes | _Unread], stream: Any, name: str, max_size: int) -> Iterator[bytes | _Unread]:
    """The lines already read, then the stream's, as `bytes.splitlines` would cut them all (a lone carriage return
    ends a line too). A line over `max_size` is skipped and reported; the next line is read as usual."""
    pending: list[bytes | _Unread] = list(head)
    while True:
        if pending:
            line: bytes | _Unread | None = pending.pop(0)
        else:
            try:
                line = _next_line(stream, max_size)
            except OSError as error:
                yield _Unread(f"cannot read the rest of {name} ({error.strerror or error})")
                return
        if line is None:
            return
        if isinstance(line, _Unread):
            yield line
        else:
            yield from line.splitlines()


def read_paths(
    paths: Iterable[str], keep_all: bool = False, stdin: Any = None, max_size: int = DEFAULT_MAX_SIZE
) -> Iterator[Item]:
    """Records from files, directories (recursively) and "-" (stdin), in the order given."""
    for text in paths:
        if text == "-":
            yield from _stdin_items(stdin if stdin is not None else sys.stdin.buffer, keep_all, max_size)
            continue
        try:
            info = os.stat(text)
        except OSError as error:
            yield _cannot_read(text, error)
            continue
        if not stat.S_ISDIR(info.st_mode):
            yield from _read_file_items(text, keep_all, max_size)
            continue
        for found in _walk(Path(text), {(info.st_dev, info.st_ino)}):
            if isinstance(found, Item):
                yield found
            else:
                yield from _read_file_items(found, keep_all, max_size)
