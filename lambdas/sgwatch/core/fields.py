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

    __slots__ = ("_lowered", "_name", "_parent", "_path", "value")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self._path: str | None = path
        self._parent: Field | None = None
        self._name: str | int = ""
        self._lowered: dict[str, str] | None = None  # this object's keys by their lower case, built at the first miss

    @property
    def path(self) -> str:
        """Where the value is in the record ("requestParameters.ipPermissions.items[0]"): spelled out only when asked
        for (an error names it), as most reads never need it."""
        if self._path is None:
            parent = self._parent.path if self._parent is not None else ""
            name = self._name
            if isinstance(name, int):  # an element of a list
                self._path = f"{parent}[{name}]"
            else:
                self._path = f"{parent}.{name}" if parent else name
        return self._path

    def _at(self, value: Any, name: str | int) -> Field:
        """A value found under `name`, whose path is this one's and `name`."""
        child = Field.__new__(Field)
        child.value, child._path, child._parent, child._name, child._lowered = value, None, self, name, None
        return child

    @property
    def present(self) -> bool:
        return self.value is not None and self.value not in ({}, "")

    def get(self, *names: str) -> Field:
        """The first of `names` present in this object; keys are matched exactly, then case-insensitively.

        Case-insensitive matching reads records that a pipeline lower-cased (seen in published test data).
        """
        value = self.value
        if not isinstance(value, dict):
            if value is None:
                return self._at(None, names[0])
            raise RecordError(self.path, f"expected an object, got {_shown(value)}")
        for name in names:
            if name in value:
                return self._at(value[name], name)
        lowered = self._lowered
        if lowered is None:  # most optional fields are absent: one map per object, not one per miss
            lowered = self._lowered = {key.lower(): key for key in value if isinstance(key, str)}
        for name in names:
            key = lowered.get(name.lower())
            if key is not None:
                return self._at(value[key], key)
        return self._at(None, names[0])

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
            holder = self._at(listed, "items")
            if listed is None:
                return
            if not isinstance(listed, list):
                raise RecordError(holder.path, f"expected a list, got {_shown(listed)}")
        elif isinstance(value, list):
            listed, holder = value, self
        elif isinstance(value, dict):
            yield self
            return
        else:
            raise RecordError(self.path, f"expected a list or an object, got {_shown(value)}")
        for index, element in enumerate(listed):
            yield holder._at(element, index)
