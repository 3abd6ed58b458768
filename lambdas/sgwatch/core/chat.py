"""An alert as a custom notification of Amazon Q Developer in chat applications (formerly AWS Chatbot), which renders
it in Slack or Microsoft Teams: a title, a description in its markdown, next steps, keywords and related resources.

The record's text is untrusted, and chat markdown acts on it: `<!channel>` pages a whole channel, `<https://x|y>` is a
link with any label. Every value from a record is therefore set in a code span (no formatting, no links, no mentions
inside), with `&`, `<` and `>` escaped as Slack asks and backticks replaced, so that it cannot leave the span."""

from __future__ import annotations

import re
from typing import Any

from sgwatch.core.alerts import REGION_NAME, Alert, event_url, group_url
from sgwatch.core.findings import render_reason
from sgwatch.core.text import clean

VERSION = "1.0"
SOURCE = "custom"
#: Bounds sgwatch keeps (the service's own are larger or unstated): a card a person reads at a glance.
MAX_TITLE, MAX_DESCRIPTION, MAX_STEP, MAX_STEPS = 250, 4000, 500, 5
MAX_KEYWORD, MAX_KEYWORDS, MAX_RESOURCES, MAX_REASONS = 60, 10, 10, 5
_SPAN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "'"})
_PARTIAL_ESCAPE = re.compile(r"&[a-z]{0,3}$")


def plain(text: str, limit: int) -> str:
    """Untrusted text as one inert line of at most `limit` characters, escaped: nothing in it that chat acts on. An
    escape is never cut in half (a lone `&` would be read as one)."""
    escaped = clean(text, limit).translate(_SPAN)
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ESCAPE.sub("", escaped[: limit - 3]) + "..."


def code(text: str, limit: int = 300) -> str:
    """Untrusted text as an inert code span (no formatting, link or mention inside)."""
    return f"`{plain(text, limit) or ' '}`"


def chat_notification(alert: Alert, *, domain: str = "console.aws.amazon.com") -> dict[str, Any]:
    """The alert as a custom notification (a JSON object; SNS carries it as the message)."""
    first = alert.first
    severity = alert.severity.name
    lines = [f"*{severity}*"]
    if alert.is_unreadable:
        lines.append(f"sgwatch could not read a security-group record: {code(first.error, 600)}")
    else:
        lines.append(f"*Who:* {code(first.actor)} via {code(first.via or 'an unknown client', 100)}")
        where = f"account {code(first.account, 64)}, region {code(first.region, 64)}"
        groups = alert.group_ids[:MAX_RESOURCES]
        if groups:
            where += ", " + ", ".join(code(group, 100) for group in groups)
        lines.append(f"*Where:* {where}")
        lines.append(f"*When:* {code(first.event_time, 64)}")
        reasons = [
            f"• {code(render_reason(verdict), 600)}"
            for result in alert.ranked
            for verdict in sorted(result.verdicts, key=lambda verdict: verdict.severity, reverse=True)
        ]
        lines += reasons[:MAX_REASONS]
        if len(reasons) > MAX_REASONS:
            lines.append(f"and {len(reasons) - MAX_REASONS} more in the email alert")
    description = "\n".join(lines)
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 40].rsplit("\n", 1)[0] + "\n(cut; the email alert has it all)"
    steps = [] if alert.is_unreadable else [plain(alert.top.advice, MAX_STEP)]
    if not alert.is_unreadable and alert.top.undo:
        steps.append(f"Undo: {code(alert.top.undo, MAX_STEP - 10)}")
    links = _links(alert, domain)
    steps += links[: MAX_STEPS - len(steps)]
    # The title, summary and keywords are read outside code spans: they are built from sgwatch's own words only
    # (severity, rule ids, counts), never from a record (a group named "@channel [approve](https://...)" would act).
    keywords = list(
        dict.fromkeys([severity, *(verdict.rule.id for result in alert.results for verdict in result.verdicts)])
    )[:MAX_KEYWORDS]
    title = _title(alert)
    notification: dict[str, Any] = {
        "version": VERSION,
        "source": SOURCE,
        "id": plain(first.event_id or first.location, 200),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": [step for step in steps if step],
            "keywords": [keyword for keyword in keywords if keyword],
        },
        "metadata": {
            "threadId": plain(f"sgwatch-{first.account}-{first.region}-{'-'.join(alert.group_ids[:1])}", 200),
            "summary": title,
            "eventType": "sgwatch-alert",
            "relatedResources": [plain(group, 100) for group in alert.group_ids[:MAX_RESOURCES]],
            "additionalContext": {
                "severity": severity,
                "account": plain(first.account, 64),
                "region": plain(first.region, 64),
                "eventIds": ",".join(plain(result.event_id, 100) for result in alert.results[:MAX_RESOURCES]),
            },
        },
    }
    return notification


def _title(alert: Alert) -> str:
    """What happened, in sgwatch's words only: "CRITICAL: world-sensitive-port, 1 change on 1 group"."""
    if alert.is_unreadable:
        return f"{alert.severity.name}: a security-group record sgwatch could not read"
    changes, groups = len(alert.results), len(alert.group_ids)
    what = f"{changes} change{'s' if changes != 1 else ''} on {groups} group{'s' if groups != 1 else ''}"
    if alert.first.tamper is not None:
        what = "a call that can blind the monitor"
    return f"{alert.severity.name}: {alert.top.rule.id}, {what}"[:MAX_TITLE]


def _links(alert: Alert, domain: str) -> list[str]:
    """The group and the event in the console, as next steps; none when the region is no region name, or a link
    would be too long to show whole."""
    region = alert.first.region
    if not REGION_NAME.match(region):
        return []
    links = [f"Open the group in EC2: {group_url(region, group, domain)}" for group in alert.group_ids[:1]]
    if alert.first.event_id:
        links.append(f"Open the event in CloudTrail: {event_url(region, alert.first.event_id, domain)}")
    return [link.translate(_SPAN) for link in links if len(link) <= MAX_STEP]  # a link cut short leads nowhere
