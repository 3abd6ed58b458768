"""The severity scale, shared by classification, alerts, metrics and the CLI."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    """How much a change matters. NONE means "not a security-group change"."""

    NONE = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity name, case-insensitively, with an error that lists the valid names."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            valid = ", ".join(member.name for member in cls)
            raise ValueError(f"unknown severity {text!r}: expected one of {valid}") from None

    def lowered(self, steps: int = 1) -> Severity:
        """This severity moved down the scale, never below INFO (a change stays visible)."""
        return Severity(max(Severity.INFO, self - steps)) if self > Severity.NONE else self
