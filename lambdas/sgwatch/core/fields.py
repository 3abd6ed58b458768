"""Defensive reading of CloudTrail JSON: every access checks the type and knows its path for errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sgwatch.core.errors import RecordError

__all__ = ["MAX_TEXT", "Field", "RecordError"]

#: The longest text read from a record. AWS's own values are shorter (an ARN is at most 2,048 characters).
MAX_TEXT = 2048


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Field:
    """A value inside a record and the path that leads to it."""

    __slots__ = ("_lowered", "path", "value")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path
        self._lowered: dict[str, str] | None = None  # this object's keys by their lower case, built at the first miss

    def _child(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    @property
    def present(self) -> bool:
        return self.value is not None and self.value not in ({}, "")

    def get(self, *names: str) -> Field:
        """The first of `names` present in this object; keys are matched exactly, then case-insensitively.

        Case-insensitive matching reads records that a pipeline lower-cased (seen in published test data).
        """
        if not isinstance(self.value, dict):
            if self.value is None:
                return Field(None, self._child(names[0]))
            raise RecordError(self.path, f"expected an object, got {_shown(self.value)}")
        for name in names:
            if name in self.value:
                return Field(self.value[name], self._child(name))
        lowered = self._lowered
        if lowered is None:  # most optional fields are absent: one map per object, not one per miss
            lowered = self._lowered = {key.lower(): key for key in self.value if isinstance(key, str)}
        for name in names:
            key = lowered.get(name.lower())
            if key is not None:
                return Field(self.value[key], self._child(key))
        return Field(None, self._child(names[0]))

    def text(self, default: str | None = None) -> str:
        """A string value; numbers are accepted and written as text (ids published as integers).

        At most MAX_TEXT characters: CloudTrail keeps a failed call's parameters as the caller typed them (a group id
        of megabytes), and every reason, log line and alert repeats what a record says."""
        if self.value is None or self.value == "":
            if default is None:
                raise RecordError(self.path, "missing")
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, str | int):
            raise RecordError(self.path, f"expected a string, got {_shown(self.value)}")
        text = str(self.value)
        return text if len(text) <= MAX_TEXT else f"{text[:MAX_TEXT]}...({len(text) - MAX_TEXT} more characters)"

    def optional_text(self) -> str | None:
        return self.text("") or None

    def port(self) -> int | None:
        """A port (or ICMP type/code) as an integer: JSON numbers or strings of digits, -1 meaning "all"."""
        value = self.value
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise RecordError(self.path, f"expected a port number, got {_shown(self.value)}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(self.path, f"expected a port number, got {_shown(self.value)}")
        if not -1 <= value <= 65535:
            raise RecordError(self.path, f"port {value} is outside -1..65535")
        return value

    def items(self) -> Iterator[Field]:
        """The elements of a CloudTrail list: {"items": [...]}, {} when empty, a bare list, or one object."""
        value = self.value
        if value is None or value in ({}, ""):
            return
        if isinstance(value, dict) and "items" in value:
            listed = value["items"]
            path = self._child("items")
            if listed is None:
                return
            if not isinstance(listed, list):
                raise RecordError(path, f"expected a list, got {_shown(listed)}")
        elif isinstance(value, list):
            listed, path = value, self.path
        elif isinstance(value, dict):
            yield self
            return
        else:
            raise RecordError(self.path, f"expected a list or an object, got {_shown(value)}")
        for index, element in enumerate(listed):
            yield Field(element, f"{path}[{index}]")
