"""Alerts: changes grouped by actor and group, rendered as SNS publishes them: a text for people (email) and a JSON
document for machines (every other protocol), in one message with per-protocol bodies. Pure: data in, text out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sgwatch.core import names
from sgwatch.core.classify import Classification, prefix_list_phrase
from sgwatch.core.enrich import GroupFacts
from sgwatch.core.findings import Verdict, most_severe, render_reason
from sgwatch.core.ocsf import detection_finding
from sgwatch.core.rules import UNREADABLE_RECORD
from sgwatch.core.severity import Severity
from sgwatch.core.text import clean

if TYPE_CHECKING:  # the function loads remediation only where it is set: not at every cold start
    from sgwatch.core.remediation import Outcome

MAX_SUBJECT = 100  # SNS's limit for email subjects
MAX_MESSAGE_BYTES = 240 * 1024  # SNS allows 262,144 UTF-8 bytes with the attributes; headroom for them
#: The version of the alert document (schemas/alert.schema.json); 2: the whole message, each result's OCSF finding.
SCHEMA_VERSION = 2
_TEXT_BUDGET = MAX_MESSAGE_BYTES // 2  # the text, escaped as the message carries it; the document has the rest
_TAIL_ALLOWANCE = 8 * 1024  # what follows the reasons and the groups before the links: advice and undo, escaped
_SHOWN_GROUPS = 20
_SHOWN_TAGS = 8
_SHOWN_LINKS = 5
#: A region name as AWS writes it ("eu-west-1", "us-gov-west-1"); anything else in a record is not one.
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


@dataclass(frozen=True)
class Alert:
    """One notification: every change one actor made to one group within a batch, at the highest severity."""

    results: tuple[Classification, ...]
    facts: tuple[GroupFacts, ...] = ()
    raw: Any = None  # the undecodable record, attached to an unreadable-record alert
    remediation: tuple[Outcome, ...] = ()  # what the remediate setting did (or would do) about the added rules

    @property
    def severity(self) -> Severity:
        if self.is_unreadable:
            return UNREADABLE_RECORD.severity
        return most_severe([verdict for result in self.results for verdict in result.verdicts])

    @property
    def is_unreadable(self) -> bool:
        return any(result.error for result in self.results)

    @property
    def group_ids(self) -> list[str]:
        return list(dict.fromkeys(group for result in self.results for group in result.group_ids))

    @property
    def first(self) -> Classification:
        return self.results[0]

    @property
    def ranked(self) -> list[Classification]:
        """The results most severe first (in input order among equals): what a size limit cuts is the least severe."""
        return sorted(self.results, key=lambda result: result.severity, reverse=True)

    @property
    def top(self) -> Verdict:
        """The most severe verdict of all the alert's changes: it sets the subject and the advice."""
        return max((verdict for result in self.results for verdict in result.verdicts), key=lambda v: v.severity)


def group_key(result: Classification) -> tuple[str, ...]:
    """Changes with the same key in one batch become one alert."""
    if result.error:
        return ("error", result.location, result.event_id)
    if result.tamper is not None:  # one alert per resource blinded, apart from security-group changes
        return (result.account, result.region, result.actor, "tamper", result.tamper.label)
    group = result.group_ids[0] if result.group_ids else (result.record.group_name if result.record else "")
    return (result.account, result.region, result.actor, group or _prefix_list_id(result))


def _prefix_list_id(result: Classification) -> str:
    edit = result.record.prefix_list if result.record is not None else None
    return edit.list_id if edit is not None else ""


def _prefix_list_where(result: Classification) -> str:
    """Where a prefix-list edit happened: the list, for an alert that names no group (no rule references it, or
    enrichment could not tell)."""
    edit = result.record.prefix_list if result.record is not None else None
    return prefix_list_phrase(edit.list_id, edit.name) if edit is not None else ""


def _ascii(text: str, limit: int = 10_000) -> str:
    return clean(text, limit).encode("ascii", "replace").decode("ascii")


def _size(text: str) -> int:
    """What `text` takes in the message: escaped as a JSON string, in ASCII (each character a byte)."""
    return len(_json(text)) - 2


def _cost(text: str) -> int:
    """What ASCII JSON takes once escaped again as the message's string: a quote or a backslash takes two."""
    return len(text) + text.count('"') + text.count("\\")


def subject(alert: Alert) -> str:
    """One line of plain ASCII, at most 100 characters, starting with the severity."""
    first = alert.first
    if alert.is_unreadable:
        text = f"{alert.severity.name}: unreadable security-group record {first.event_name or ''}".rstrip()
        return _ascii(text)[:MAX_SUBJECT]
    top = alert.top
    where = (
        ", ".join(alert.group_ids)
        or (first.record.group_name if first.record else "")
        or _prefix_list_where(first)
        or "a security group"
    )
    if first.tamper is not None:  # the call's name without Lambda's API version: the subject has 100 characters
        return _fit_subject(f"{alert.severity.name}: {first.tamper.call.name} on {first.tamper.label}")
    if top.change is not None:
        change = top.change
        preposition = "to" if change.direction.value == "egress" else "from"
        peer = change.peer.address or "a peer not in the record"
        what = f"{change.action.value} {change.ports_label()} {preposition} {peer}"
        holder = next((result for result in alert.results if top in result.verdicts), first)
        if _prefix_list_id(holder):  # a rule that references the edited list: the list is what changed
            what = f"{_prefix_list_id(holder)} opens {change.ports_label()} {preposition} {peer}"
    else:
        what = first.event_name
    count = sum(max(1, len(result.verdicts)) for result in alert.results)
    more = f" (+{count - 1} more)" if count > 1 else ""
    return _fit_subject(f"{alert.severity.name}: {what} on {where}{more}")


def _fit_subject(text: str) -> str:
    text = _ascii(text)
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def group_url(region: str, group_id: str, domain: str) -> str:
    """The group in the EC2 console; `region` must be a region name (REGION_NAME): it goes into the host name."""
    return f"https://{region}.{domain}/ec2/home?region={region}#SecurityGroup:groupId={quote(group_id, safe='')}"


def event_url(region: str, event_id: str, domain: str) -> str:
    """The event in the CloudTrail console; `region` as for group_url."""
    return f"https://{region}.{domain}/cloudtrailv2/home?region={region}#/events/{quote(event_id, safe='')}"


def _console_links(alert: Alert, domain: str) -> list[str]:
    """Links to the groups and events. The region goes into the host name: one that is not a region name (a record
    can say anything) gives no links rather than a link to somewhere else."""
    region = alert.first.region or "us-east-1"
    if not REGION_NAME.match(region):
        return []
    links = [group_url(region, group, domain) for group in alert.group_ids[:_SHOWN_LINKS]]
    links += [event_url(region, result.event_id, domain) for result in alert.results[:_SHOWN_LINKS] if result.event_id]
    return [_ascii(link, 2000) for link in links]


def _facts_line(group: GroupFacts) -> str:
    group_id = clean(group.group_id, 100)
    if group.error:
        return f"  {group_id}: not described ({clean(group.error, 200)}); severity is from the record alone"
    shown = list(group.tags.items())[:_SHOWN_TAGS]
    tags = ", ".join(f"{clean(key, 60)}={clean(value, 60)}" for key, value in shown)
    if len(group.tags) > len(shown):
        tags += f" and {len(group.tags) - len(shown)} more"
    used = "unknown" if group.interface_count is None else str(group.interface_count)
    return (
        f"  {group_id}: name '{clean(group.name, 100)}', {clean(group.vpc_id, 100) or 'no VPC'}"
        f"{', the VPC default group' if group.is_default else ''}, used by {used} network interfaces"
        f"{', tags ' + tags if tags else ''}"
    )


def _remediation_line(outcome: Outcome) -> str:
    rule, group = clean(outcome.rule, 300), clean(outcome.group_id, 300)
    where = f" on {group}" if group else ""
    restore = clean(outcome.restore, 3000)
    done = outcome.done.value
    if done == "revoked":
        return f"  revoked {rule}{where}. To restore it: {restore}"
    if done == "would revoke":
        return f"  would revoke {rule}{where} (dry-run: nothing was done). It would be restored by: {restore}"
    if done == "already gone":
        restore_too = f" To restore it: {restore}" if restore else ""
        return f"  {rule}{where} was already gone (revoked earlier, by sgwatch or by someone else).{restore_too}"
    return f"  not revoked: {rule}{where}: {clean(outcome.detail, 1000)}"


def _reason_line(severity: str, reason: str) -> str:
    return f"  [{severity}] {clean(reason, 1500)}"


def _within(lines: list[str], candidates: Sequence[Callable[[], str]], budget: int, what: str) -> list[str]:
    """As many candidate lines as fit in `budget` bytes after `lines`, in order, then a line saying what was left.
    A candidate is rendered only when it is reached: an alert may hold thousands."""
    used = sum(_size(line) + 2 for line in lines)  # a line's newline is escaped: two bytes
    kept: list[str] = []
    for render in candidates:
        line = render()
        used += _size(line) + 2
        if used > budget:
            left = len(candidates) - len(kept)
            return [*kept, f"  ({left} more {what} not shown here: see the JSON document or the function's log)"]
        kept.append(line)
    return kept


def alert_text(alert: Alert, *, domain: str = "console.aws.amazon.com") -> str:
    """What a person reads (the email): who, what, where, why, what to do, links, in about half the message. What
    does not fit is the least severe: results are ranked most severe first."""
    first = alert.first
    lines = [subject(alert), ""]
    if alert.is_unreadable:
        lines += [
            f"sgwatch could not read a security-group record: {clean(first.error, 1000)}",
            f"Why it matters: {UNREADABLE_RECORD.rationale}.",
            f"What to do: {UNREADABLE_RECORD.advice}",
        ]
    else:
        record = first.record
        who = f"{clean(first.actor, 300)} via {clean(first.via or 'an unknown client', 100)}"
        if record is not None and record.actor.source_ip:
            who += f" from {clean(record.actor.source_ip, 100)}"
        events = clean(", ".join(dict.fromkeys(result.event_name for result in alert.results)), 400)
        groups = (
            clean(", ".join(alert.group_ids[:_SHOWN_GROUPS]), 2000)
            or clean(_prefix_list_where(first), 2000)
            or "group not named in the record"
        )
        if first.tamper is not None:
            groups = clean(first.tamper.label, 2000)
            if first.tamper.actor.source_ip:
                who += f" from {clean(first.tamper.actor.source_ip, 100)}"
        if len(alert.group_ids) > _SHOWN_GROUPS:
            groups += f" and {len(alert.group_ids) - _SHOWN_GROUPS} more"
        lines += [
            f"Who:   {who}",
            f"What:  {events} ({len(alert.results)} record{'s' if len(alert.results) > 1 else ''})",
            f"Where: account {clean(first.account, 64) or 'unknown'}, region {clean(first.region, 64) or 'unknown'},"
            f" {groups}",
            f"When:  {clean(first.event_time, 64) or 'unknown'}",
            "",
            "Why it matters:",
        ]
        reasons = dict.fromkeys(
            (verdict.severity.name, render_reason(verdict))
            for result in alert.ranked
            for verdict in sorted(result.verdicts, key=lambda verdict: verdict.severity, reverse=True)
        )
        shown = [partial(_reason_line, severity, reason) for severity, reason in reasons]
        lines += _within(lines, shown, _TEXT_BUDGET - _TAIL_ALLOWANCE, "reasons")
        lines += ["", f"What to do: {alert.top.advice}"]
        if alert.top.undo:
            lines.append(f"Undo: {clean(alert.top.undo, 1000)}")
        if alert.remediation:
            lines += ["", f"Remediation ({clean(alert.remediation[0].setting, 200)}):"]
            said = [partial(_remediation_line, outcome) for outcome in alert.remediation]
            lines += _within(lines, said, _TEXT_BUDGET - _TAIL_ALLOWANCE, "remediation lines")
    if alert.facts:
        lines += ["", "Groups now:"]
        facts = [partial(_facts_line, group) for group in alert.facts]
        lines += _within(lines, facts, _TEXT_BUDGET - _TAIL_ALLOWANCE, "groups")
    links = _console_links(alert, domain)
    if links:  # within the text's budget too: ten links of long ids are 20 KB
        lines += ["", "Links:"]
        lines += _within(lines, [partial(str, f"  {link}") for link in links], _TEXT_BUDGET, "links")
    return "\n".join(lines)


def document(alert: Alert, *, published_at: datetime | None = None, budget: int = MAX_MESSAGE_BYTES) -> str:
    """What a machine reads (queues, functions, HTTPS): the alert's JSON document (schemas/alert.schema.json), whole
    and valid, taking at most `budget` bytes once escaped into the message."""
    return _fitted_json(alert, published_at, budget)


def _json(value: Any) -> str:
    """ASCII JSON: every string escaped, so surrogates and separators cannot break the message."""
    return json.dumps(value, ensure_ascii=True, default=str)


#: _json's encoder, used piece by piece where a value may be far larger than the message.
_ENCODER = json.JSONEncoder(ensure_ascii=True, default=str)


def _bounded(value: Any, limit: int) -> str | None:
    """`value` as _json encodes it, or None when that costs more than `limit` (_cost). The encoding stops once its
    length alone is over (a cost is never less than the length): a value of 12 MB costs about `limit` (one piece is
    one string at most), not 12 MB."""
    size = 0
    pieces: list[str] = []
    for piece in _ENCODER.iterencode(value):
        size += len(piece)
        if size > limit:
            return None
        pieces.append(piece)
    text = "".join(pieces)
    return text if _cost(text) <= limit else None


@dataclass(frozen=True)
class _Frame:
    """The JSON object around its results: `prefix` + the results joined by ", " + `suffix`."""

    prefix: str
    suffix: str

    @property
    def size(self) -> int:
        return _cost(self.prefix) + _cost(self.suffix)

    def around(self, results: Sequence[str]) -> str:
        return self.prefix + ", ".join(results) + self.suffix

    def size_around(self, results: Sequence[str]) -> int:
        """_cost(self.around(results)), without building it."""
        return self.size + sum(_cost(result) for result in results) + 2 * max(0, len(results) - 1)


def _frame(
    head: dict[str, Any], groups: list[dict[str, Any]], extra: dict[str, Any], budget: int, raw: str = ""
) -> _Frame | None:
    """The object of head's fields, the results, the groups, the extra fields and the raw record, as the results'
    frame; None when it alone is over `budget`."""
    head_json, groups_json = _bounded(head, budget), _bounded(groups, budget)
    if head_json is None or groups_json is None:
        return None
    fields = f", {_json(extra)[1:-1]}" if extra else ""
    frame = _Frame(
        f'{head_json[:-1]}, "results": [',
        f'], "groups": {groups_json}{fields}' + (f', "rawRecord": {raw}}}' if raw else "}"),
    )
    return frame if frame.size <= budget else None


def _stub(result: Classification) -> str:
    """What an omitted result leaves: its eventID, eventName and severity (an unreadable record's is empty)."""
    severity = "" if result.error else result.severity.name
    fields = {"eventID": str(result.event_id), "eventName": str(result.event_name), "severity": severity}
    return _json({key: _clip(value) for key, value in fields.items()} | {"omitted": True})


def _fitted_json(alert: Alert, published_at: datetime | None, budget: int) -> str:
    """The alert's JSON in `budget` bytes, always whole and valid, naming every result's eventID. Given up in order,
    and said: the raw record, the groups' tags, the least severe results (each leaves a stub: eventID, eventName,
    severity), the groups' ids past 256 characters, the groups, the group ids past the first 20, and last the least
    severe stubs (only when an alert has more results than stubs fit: a batch's alert has ten at most).

    The work is bounded by the budget and the records, not by the alert: a result is encoded only when it is reached,
    once, in one pass of the C encoder (a result's size is its record's, which a queue message held); the head and the
    groups, which grow with the alert, are encoded piece by piece up to `budget`; only the answer is assembled."""
    ids = [_clip(group) for group in alert.group_ids]
    head: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "severity": alert.severity.name, "groupIds": ids}
    if published_at is not None:
        head["publishedAt"] = published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ranked = alert.ranked

    @cache
    def encoded(index: int) -> str | None:
        text = _json(_result_json(ranked[index], published_at))
        return text if _cost(text) <= budget else None

    groups = [group.to_dict() for group in alert.facts]
    extra: dict[str, Any] = {}
    if alert.remediation:  # a few per alert: one per rule the setting covers
        extra["remediation"] = [
            {key: _clip(value, 3000) for key, value in outcome.to_dict().items()} for outcome in alert.remediation[:100]
        ]
    if alert.raw is not None:
        try:
            raw = _json(alert.raw)  # one record, as the buffer held it
        except (RecursionError, ValueError):
            extra["rawRecordOmitted"] = "nested too deeply to encode"
        else:
            fitted = _whole(_frame(head, groups, {}, budget, raw), encoded, len(ranked), budget)
            if fitted is not None:
                return fitted
            extra["rawRecordOmitted"] = "too large for the message; the function's log has it"
    fitted = _whole(_frame(head, groups, extra, budget), encoded, len(ranked), budget)
    if fitted is not None:
        return fitted
    extra["truncated"] = True
    stubs = [_stub(result) for result in ranked]
    tagless = [{key: value for key, value in group.items() if key != "tags"} for group in groups]
    clipped = [group | {"groupId": _clip(str(group["groupId"]))} for group in tagless]
    levels = [(head, tagless, extra)]
    if clipped != tagless:
        levels.append((head, clipped, extra))
    if groups:
        extra = {**extra, "omittedGroups": len(groups)}
        levels.append((head, [], extra))
    if len(ids) > _SHOWN_GROUPS:
        head = {**head, "groupIds": ids[:_SHOWN_GROUPS]}
        extra = {**extra, "omittedGroupIds": len(ids) - _SHOWN_GROUPS}
        levels.append((head, [], extra))
    for level_head, level_groups, level_extra in levels:
        fitted = _stubbed(_frame(level_head, level_groups, level_extra, budget), encoded, stubs, budget)
        if fitted is not None:
            return fitted
    # More results than stubs fit: the most severe stubs, and how many are not. The event ids count more than the
    # group ids (the subject and the attributes name a group): the ids go when that names more events.
    with_ids = _most_stubs(head, extra, stubs, budget)
    if with_ids is not None and with_ids[1] == len(stubs):
        return with_ids[0]
    without = _most_stubs({**head, "groupIds": []}, {**extra, "omittedGroupIds": len(ids)}, stubs, budget)
    best = max((found for found in (with_ids, without) if found is not None), key=lambda found: found[1], default=None)
    if best is None:
        raise ValueError(f"{budget} bytes cannot hold an alert's severity and counts")
    return best[0]


def _result_json(result: Classification, published_at: datetime | None) -> dict[str, Any]:
    """A result as the document carries it: its JSON form, and under "ocsf" its OCSF Detection Finding (whose copy
    of that JSON form, `unmapped`, would only repeat the result it sits in), dated `published_at` when the record's
    own time cannot be read."""
    return result.to_dict() | {"ocsf": detection_finding(result, now=published_at, unmapped=False)}


def _whole(frame: _Frame | None, encoded: Callable[[int], str | None], count: int, budget: int) -> str | None:
    """The JSON with every result whole, if it fits `budget`; results are encoded until it is clear that it does not."""
    if frame is None:
        return None
    room = budget - frame.size
    results: list[str] = []
    for index in range(count):
        result = encoded(index)
        if result is None:
            return None
        room -= _cost(result) + (2 if index else 0)
        if room < 0:
            return None
        results.append(result)
    return frame.around(results)


def _stubbed(frame: _Frame | None, encoded: Callable[[int], str | None], stubs: list[str], budget: int) -> str | None:
    """The JSON with the most severe results whole as long as they fit, the others as stubs, if that fits."""
    if frame is None:
        return None
    fixed = frame.size + sum(_cost(stub) + 2 for stub in stubs)
    results: list[str] = []
    while len(results) < len(stubs):
        result = encoded(len(results))
        if result is None or fixed + _cost(result) - _cost(stubs[len(results)]) > budget:
            break
        fixed += _cost(result) - _cost(stubs[len(results)])
        results.append(result)
    results += stubs[len(results) :]
    return frame.around(results) if frame.size_around(results) <= budget else None


def _most_stubs(head: dict[str, Any], extra: dict[str, Any], stubs: list[str], budget: int) -> tuple[str, int] | None:
    """The JSON with no group, as many stubs as fit (most severe first) and the count of those that do not; and how
    many it names."""
    frame = _frame(head, [], {**extra, "omittedResults": len(stubs)}, budget)
    if frame is None:
        return None
    room, shown = budget - frame.size, 0  # sized for all omitted: a smaller count takes no more digits
    while shown < len(stubs) and _cost(stubs[shown]) + 2 <= room:
        room -= _cost(stubs[shown]) + 2
        shown += 1
    left = {"omittedResults": len(stubs) - shown} if shown < len(stubs) else {}
    frame = _frame(head, [], {**extra, **left}, budget)
    return (frame.around(stubs[:shown]), shown) if frame else None


def _clip(text: str, limit: int = 256) -> str:
    """An id as the JSON document carries it: real ids are short, a failed call's can be anything the caller typed."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text) - limit} more characters)"


def attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """SNS message attributes: subscribers filter on severity_rank, event_name, account, region, group_id."""
    first = alert.first
    group = alert.group_ids[0] if alert.group_ids else ""
    return message_attributes(alert.severity, first.event_name, first.account, first.region, group)


def message_attributes(
    severity: Severity, event_name: str, account: str, region: str, group_id: str
) -> dict[str, dict[str, str]]:
    """The attributes of any message on the alert topic (a change's alert, the scheduled scan's): plain ASCII strings
    of at most 256 characters, and the severity's rank as a number the email filter compares."""

    def string(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": _ascii(value)[:256] or "unknown"}

    return {
        names.ATTRIBUTE_SEVERITY: string(severity.name),
        names.ATTRIBUTE_SEVERITY_RANK: {"DataType": "Number", "StringValue": str(int(severity))},
        names.ATTRIBUTE_EVENT_NAME: string(event_name),
        names.ATTRIBUTE_ACCOUNT: string(account),
        names.ATTRIBUTE_REGION: string(region),
        names.ATTRIBUTE_GROUP_ID: string(group_id),
    }


@dataclass(frozen=True)
class Publication:
    """An alert as SNS receives it: `text` for email, `document` (JSON) for every other protocol."""

    subject: str
    text: str
    document: str
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The SNS message with per-protocol bodies (published with MessageStructure=json): "email" is the text,
        "default" (SQS, Lambda, HTTP/S, email-json, Firehose) the document."""
        return _json({"default": self.document, "email": self.text})


#: What the message takes besides its two bodies.
_ENVELOPE = len(Publication("", "", "").message)


def publication(
    alert: Alert, *, published_at: datetime | None = None, domain: str = "console.aws.amazon.com"
) -> Publication:
    """The alert in at most MAX_MESSAGE_BYTES: the text first (about half), the document in what is left."""
    body = alert_text(alert, domain=domain)
    budget = MAX_MESSAGE_BYTES - _ENVELOPE - _size(body)
    return Publication(
        subject(alert), body, document(alert, published_at=published_at, budget=budget), attributes(alert)
    )


def minimal_publication(alert: Alert, *, published_at: datetime | None = None) -> Publication:
    """The alert when its full form cannot be built or SNS refuses it: severity, where and which events, small and
    plain ASCII, so that it is always published; the full alert is in the function's log."""
    first = alert.first
    groups = _ascii(", ".join(alert.group_ids[:_SHOWN_GROUPS]), 2000) or "not named in the record"
    event_ids = [_ascii(result.event_id, 100) for result in alert.results[:100] if result.event_id]
    what = "security-group change"
    if first.tamper is not None:
        what, groups = "call that can blind the monitor", _ascii(first.tamper.label, 2000)
    headline = _ascii(f"{alert.severity.name}: {what} on {groups}")
    title = headline if len(headline) <= MAX_SUBJECT else headline[: MAX_SUBJECT - 3] + "..."
    payload: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "severity": alert.severity.name,
        "account": _ascii(first.account, 64),
        "region": _ascii(first.region, 64),
        "groupIds": [_ascii(group, 100) for group in alert.group_ids[:_SHOWN_GROUPS]],
        "eventIDs": event_ids,
        "minimal": True,
    }
    if published_at is not None:
        payload["publishedAt"] = published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = "\n".join(
        [
            title,
            "",
            "sgwatch could not publish this alert in full; its details are in the function's log"
            " (search for the event ids below).",
            f"Severity: {alert.severity.name}",
            f"Where:    account {payload['account'] or 'unknown'}, region {payload['region'] or 'unknown'}, {groups}",
            f"Events:   {', '.join(event_ids) or 'no event id in the record'}",
        ]
    )
    return Publication(title, body, _json(payload), attributes(alert))
