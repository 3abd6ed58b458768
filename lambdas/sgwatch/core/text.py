"""Untrusted text made inert: what a record or AWS says is shown as one line that cannot drive a terminal, forge a
line, reorder what a person reads, or fail to encode.

Neutralised: C0 and C1 controls and DEL (escape sequences, carriage returns), line and paragraph separators, format
characters (Unicode category Cf: bidi overrides and isolates, zero-width characters, soft hyphens) and lone surrogates
(which json.loads accepts and UTF-8 cannot encode). Each is written as a visible escape, `\\x1b` or `\\u202e`.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Categories that are never shown raw: controls, format characters, surrogates, line and paragraph separators.
INERT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Every character of those categories, as Unicode 15.1 places them (a test checks them against the running Python's
#: own tables). A character class, so that ordinary text of any script is passed over at the regex engine's speed.
_INERT_RANGES = (
    (0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F),
    (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
_INERT = re.compile("[" + "".join(f"\\U{first:08x}-\\U{last:08x}" for first, last in _INERT_RANGES) + "]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clean(text: str, limit: int = 400) -> str:
    """Untrusted text (ids, names, descriptions, user agents) as one inert line of at most `limit` characters.

    Only the first `limit` characters are looked at: escaping only lengthens, and a record's text can be long."""
    flat = _INERT.sub(_escape, text[:limit])
    return flat if len(flat) <= limit and len(text) <= limit else flat[: limit - 3] + "..."


_ESCAPED_ONE_BY_ONE = 64 * 1024  # longer text with characters to escape is escaped whole, by the JSON encoder


def _json_escape(match: re.Match[str]) -> str:
    return json.dumps(match.group())[1:-1]  # a JSON escape (a surrogate pair above U+FFFF): it reads back the same


def json_line(value: Any) -> str:
    """One JSON document on one line, whatever its strings hold: line separators, C1 controls, format characters
    and lone surrogates are escaped, so line-oriented tools keep one record per line and the line always encodes."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if text.isascii() or not _INERT.search(text):
        return text
    if len(text) > _ESCAPED_ONE_BY_ONE:  # a flood of them: every non-ASCII character escaped, at the encoder's speed
        return json.dumps(value, ensure_ascii=True, default=str)
    return _INERT.sub(_json_escape, text)
