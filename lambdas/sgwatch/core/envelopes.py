"""Unwrap the shapes a CloudTrail record arrives in: raw, EventBridge, log file, SNS, SQS, LookupEvents.

Never raises on what it is given: an envelope that holds no record, or nests too deeply to read, is an Item with an
error that names where it is, so the CLI reports it and the Lambda treats it as an unreadable record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: How many envelopes and lists may hold one another around a record. Real input needs four (a list of SQS messages,
#: an SNS notification, an EventBridge event, a record); deeper is hostile, and recursion must stay far from Python's.
MAX_WRAPPING = 16


@dataclass(frozen=True)
class Item:
    """One record found in the input, with where it was and any envelope facts it lacks."""

    location: str
    record: Any = None
    account: str = ""
    region: str = ""
    error: str = ""  # the input around the record could not be read; record is then None
    skipped: int = 0  # stands for this many records proven not to be security-group calls, left undecoded
    note: str = ""  # an input passed over on purpose (not a regular file): told to the user, not an error


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def json_kind(value: Any) -> str:
    """What a JSON value is, as a person says it: "a string", "null", "a list"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _nested_json(text: Any, location: str, depth: int) -> Iterator[Item]:
    if not isinstance(text, str):
        yield Item(location, error=f"{location}: expected a JSON string, got {json_kind(text)}")
        return
    try:
        value = json.loads(text)
    except RecursionError:
        yield Item(location, error=f"{location}: nested too deeply to read")
        return
    except ValueError as error:
        yield Item(location, error=f"{location}: not valid JSON ({error})")
        return
    yield from _unwrap(value, location, depth + 1)


def unwrap(value: Any, location: str) -> Iterator[Item]:
    """Every CloudTrail record inside a parsed JSON value, in input order."""
    return _unwrap(value, location, 0)


def unwrap_log_entry(element: Any, location: str) -> Iterator[Item]:
    """One element of a "Records" list: a CloudTrail record, or an SNS or SQS delivery that holds one."""
    return _log_entry(element, location, 0)


def _unwrap(value: Any, location: str, depth: int) -> Iterator[Item]:
    if depth > MAX_WRAPPING:
        yield Item(location, error=f"{location}: nested too deeply to read (more than {MAX_WRAPPING} wrappings)")
        return
    if isinstance(value, list):
        for index, element in enumerate(value):
            yield from _unwrap(element, f"{location}[{index}]", depth + 1)
        return
    if not isinstance(value, dict):
        yield Item(location, value)  # classify() names what is wrong with it
        return
    if "Records" in value:  # a CloudTrail log file, an SQS or SNS event
        records = value["Records"]
        if not isinstance(records, list):
            yield Item(location, error=f"{location}:Records: expected a list of records, got {json_kind(records)}")
            return
        for index, element in enumerate(records):
            yield from _log_entry(element, f"{location}:Records[{index}]", depth + 1)
        return
    if value.get("Type") == "Notification" and "Message" in value:
        yield from _nested_json(value["Message"], f"{location}.Message", depth)
        return
    if "detail-type" in value or ("source" in value and "detail" in value):  # an EventBridge event
        where = f"{location}.detail" if location else "detail"
        detail = value.get("detail")
        if not isinstance(detail, dict):
            yield Item(where, error=f"{where}: expected the CloudTrail record (an object), got {json_kind(detail)}")
            return
        yield Item(where, detail, account=_text(value.get("account")), region=_text(value.get("region")))
        return
    if "Events" in value:  # `aws cloudtrail lookup-events`
        events = value["Events"]
        if not isinstance(events, list):
            yield Item(location, error=f"{location}:Events: expected a list of events, got {json_kind(events)}")
            return
        for index, event in enumerate(events):
            yield from _lookup_event(event, f"{location}:Events[{index}]", depth + 1)
        return
    if "CloudTrailEvent" in value:  # one LookupEvents event, as `jq -c '.Events[]'` prints them
        yield from _lookup_event(value, location, depth)
        return
    yield Item(location, value)


def _log_entry(element: Any, location: str, depth: int) -> Iterator[Item]:
    if isinstance(element, dict) and isinstance(element.get("Sns"), dict):
        yield from _nested_json(element["Sns"].get("Message"), f"{location}.Sns.Message", depth)
    elif isinstance(element, dict) and element.get("eventSource") == "aws:sqs":
        yield from _nested_json(element.get("body"), f"{location}.body", depth)
    else:
        yield from _unwrap(element, location, depth)


def _lookup_event(event: Any, location: str, depth: int) -> Iterator[Item]:
    """A LookupEvents event: the record is the JSON string in CloudTrailEvent (or its value, already parsed)."""
    if not isinstance(event, dict) or "CloudTrailEvent" not in event:
        found = "an object without it" if isinstance(event, dict) else json_kind(event)
        yield Item(location, error=f"{location}: expected a LookupEvents event with CloudTrailEvent, got {found}")
        return
    record = event["CloudTrailEvent"]
    where = f"{location}.CloudTrailEvent"
    if isinstance(record, dict):
        yield from _unwrap(record, where, depth + 1)
    else:
        yield from _nested_json(record, where, depth)
