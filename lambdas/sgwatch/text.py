"""Untrusted text made inert: what a record or AWS says is shown as one line that cannot drive a terminal, forge a
line, reorder what a person reads, or fail to encode.

Neutralised: C0 and C1 controls and DEL (escape sequences, carriage returns), line and paragraph separators, format
characters (Unicode category Cf: bidi overrides and isolates, zero-width characters, soft hyphens) and lone surrogates
(which json.loads accepts and UTF-8 cannot encode). Each is written as a visible escape, `\\x1b` or `\\u202e`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

#: Categories that are never shown raw: controls, format characters, surrogates, line and paragraph separators.
_INERT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Candidates: everything but printable ASCII; the category decides for the non-ASCII ones.
_CANDIDATE = re.compile(r"[^\x20-\x7e]")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _inert(match: re.Match[str]) -> str:
    char = match.group()
    if char < "\x80" or unicodedata.category(char) in _INERT_CATEGORIES:
        return _escape(char)
    return char


def clean(text: str, limit: int = 400) -> str:
    """Untrusted text (ids, names, descriptions, user agents) as one inert line of at most `limit` characters."""
    flat = text if text.isascii() and text.isprintable() else _CANDIDATE.sub(_inert, text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _json_inert(match: re.Match[str]) -> str:
    char = match.group()
    if char < "\x80" or unicodedata.category(char) in _INERT_CATEGORIES:
        return json.dumps(char)[1:-1]  # a JSON escape (a surrogate pair above U+FFFF): the value reads back the same
    return char


def json_line(value: Any) -> str:
    """One JSON document on one line, whatever its strings hold: line separators, C1 controls, format characters
    and lone surrogates are escaped, so line-oriented tools keep one record per line and the line always encodes."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if text.isascii() else _CANDIDATE.sub(_json_inert, text)


def utf8_size(text: str) -> int:
    """The size SNS counts: UTF-8 bytes (lone surrogates, which cannot be encoded, count as the replacement)."""
    return len(text.encode("utf-8", "replace"))
