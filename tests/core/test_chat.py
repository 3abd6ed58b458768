"""Every alert becomes a chat notification that the documented event format (schemas/chat-notification.schema.json)
accepts, and nothing a record says can format, link or mention in the channel."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from sgwatch.core.alerts import Alert
from sgwatch.core.chat import chat_notification
from sgwatch.core.classify import classify
from sgwatch.core.envelopes import unwrap

from tests.conftest import CONSTRUCTED, real_record_files

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "chat-notification.schema.json").read_text())
RECORDS = real_record_files() + sorted(CONSTRUCTED.glob("*.json"))
#: Outside code spans, what Slack or Teams would act on: a mention or link (<...>), and no raw &.
ACTIVE = re.compile(r"<|>|&(?!amp;|lt;|gt;)")


def alerts() -> list[Alert]:
    found = []
    for path in RECORDS:
        for item in unwrap(json.loads(path.read_bytes()), str(path)):
            if item.record is not None:
                result = classify(item.record)
                if result.watched or result.error:
                    found.append(Alert((result,)))
    return found


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def test_each_alert_is_a_valid_chat_notification() -> None:
    found = alerts()
    assert len(found) > 30
    for alert in found:
        notification = chat_notification(alert)
        jsonschema.validate(notification, SCHEMA)
        assert notification["content"]["title"].startswith(f"{alert.severity.name}: ")
        assert notification["metadata"]["relatedResources"] == alert.group_ids[:10]


def test_a_hostile_record_cannot_mention_link_or_format_in_the_channel() -> None:
    [item] = list(unwrap(json.loads((CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json").read_bytes()), "x"))
    hostile = copy.deepcopy(item.record)
    payload = (
        "<!channel> <https://evil.example|log in> [approve](https://evil.example/x) @channel *bold* `tick` & \u202e"
        * 200
    )
    hostile["userIdentity"]["arn"] = "arn:aws:iam::123456789012:user/" + payload
    hostile["userAgent"] = payload
    hostile["eventID"] = payload
    hostile["requestParameters"]["groupId"] = "sg-0123456789abcdef0" + payload
    notification = chat_notification(Alert((classify(hostile),)))
    jsonschema.validate(notification, SCHEMA)
    # read outside code spans: nothing the record wrote
    content = notification["content"]
    outside = [
        content["title"],
        *content["keywords"],
        *content["nextSteps"],
        re.sub(r"`[^`]*`", "", content["description"]),
    ]
    assert not [text for text in outside if "evil" in text or "@channel" in text or "approve" in text], outside
    for text in strings(notification):
        assert not ACTIVE.search(text), text
        assert "<!channel>" not in text and "\u202e" not in text
    # what the record wrote stays in code spans: the description's backticks pair up
    assert notification["content"]["description"].count("`") % 2 == 0
