"""Unwrap the shapes a CloudTrail record arrives in: raw, EventBridge, log file, SNS, SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    """One record found in the input, with where it was and any envelope facts it lacks."""

    location: str
    record: Any = None
    account: str = ""
    region: str = ""
    error: str = ""  # the input around the record could not be read; record is then None
    skipped: int = 0  # stands for this many records proven not to be security-group calls, left undecoded


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _nested_json(text: Any, location: str) -> Iterator[Item]:
    if not isinstance(text, str):
        yield Item(location, error=f"{location}: expected a JSON string, got {type(text).__name__}")
        return
    try:
        value = json.loads(text)
    except ValueError as error:
        yield Item(location, error=f"{location}: not valid JSON ({error})")
        return
    yield from unwrap(value, location)


def unwrap(value: Any, location: str) -> Iterator[Item]:
    """Every CloudTrail record inside a parsed JSON value, in input order."""
    if isinstance(value, list):
        for index, element in enumerate(value):
            yield from unwrap(element, f"{location}[{index}]")
        return
    if not isinstance(value, dict):
        yield Item(location, value)  # classify() names what is wrong with it
        return
    records = value.get("Records")
    if isinstance(records, list):
        for index, element in enumerate(records):
            yield from unwrap_log_entry(element, f"{location}:Records[{index}]")
        return
    if value.get("Type") == "Notification" and "Message" in value:
        yield from _nested_json(value["Message"], f"{location}.Message")
        return
    if isinstance(value.get("detail"), dict) and ("detail-type" in value or "source" in value):
        yield Item(
            f"{location}.detail" if location else "detail",
            value["detail"],
            account=_text(value.get("account")),
            region=_text(value.get("region")),
        )
        return
    yield Item(location, value)


def unwrap_log_entry(element: Any, location: str) -> Iterator[Item]:
    """One element of a "Records" list: a CloudTrail record, or an SNS or SQS delivery that holds one."""
    if isinstance(element, dict) and isinstance(element.get("Sns"), dict):
        yield from _nested_json(element["Sns"].get("Message"), f"{location}.Sns.Message")
    elif isinstance(element, dict) and element.get("eventSource") == "aws:sqs":
        yield from _nested_json(element.get("body"), f"{location}.body")
    else:
        yield from unwrap(element, location)
