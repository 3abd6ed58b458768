"""Render classifications for people: one block per record, and a report over many."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sgwatch.core.classify import Classification
from sgwatch.core.findings import render_reason
from sgwatch.core.model import Action
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import TamperRecord
from sgwatch.core.text import clean

_SYMBOL = {Action.ADD: "+", Action.REVOKE: "-", Action.MODIFY: "~", Action.DESCRIBE: "#"}
_WIDTH = 8  # "CRITICAL"


def headline(result: Classification) -> str:
    """One line: severity, event, groups, where, when."""
    where = "/".join(part for part in (result.account, result.region) if part)
    edited = result.record.prefix_list if result.record is not None else None
    groups = (
        " ".join(result.group_ids)
        or (result.tamper.label if result.tamper else "")
        or (edited.list_id if edited is not None else "")
    )
    parts = [
        result.severity.name.ljust(_WIDTH),
        result.event_name or "(no eventName)",
        groups,
        where,
        result.event_time,
    ]
    return clean("  ".join(part for part in parts if part), 300)


def render_text(result: Classification) -> str:
    """The readable form of one result, as `sgwatch classify --format text` prints it."""
    if result.error:
        return f"{'ERROR'.ljust(_WIDTH)}  {clean(result.error)}\n"
    if result.tamper is not None:
        return _render_tamper(result, result.tamper)
    if result.record is None:
        return f"{headline(result)}  (not a security-group change)\n"
    record = result.record
    lines = [headline(result)]
    source = f" from {clean(record.actor.source_ip, 100)}" if record.actor.source_ip else ""
    lines.append(f"  who     {clean(record.actor.name)} via {clean(record.actor.via or 'an unknown client')}{source}")
    if record.failed:
        lines.append(f"  result  FAILED: {clean(record.error_code)}")
    for verdict in result.verdicts:
        change = verdict.change
        if change is not None:
            peer = clean(change.peer.address, 200) or "(peer not in the record)"
            rule_id = f" {clean(change.rule_id, 100)}" if change.rule_id else ""
            lines.append(
                f"  {_SYMBOL[change.action]} {change.direction.value:<8} {clean(change.ports_label(), 100):<22}"
                f" {peer} ({change.peer.kind.value}){rule_id}  [{verdict.severity.name}]"
            )
    for reason in dict.fromkeys(render_reason(verdict) for verdict in result.verdicts):
        lines.append(f"  why     {clean(reason, 1000)}")
    top = max(result.verdicts, key=lambda verdict: verdict.severity)
    lines.append(f"  do      {top.advice}")
    return "\n".join(lines) + "\n"


def _render_tamper(result: Classification, tamper: TamperRecord) -> str:
    source = f" from {clean(tamper.actor.source_ip, 100)}" if tamper.actor.source_ip else ""
    lines = [headline(result)]
    lines.append(f"  who     {clean(tamper.actor.name)} via {clean(tamper.actor.via or 'an unknown client')}{source}")
    if tamper.failed:
        lines.append(f"  result  FAILED: {clean(tamper.error_code)}")
    lines.append(f"  on      {clean(tamper.label, 500)}")
    for reason in dict.fromkeys(render_reason(verdict) for verdict in result.verdicts):
        lines.append(f"  why     {clean(reason, 1000)}")
    top = max(result.verdicts, key=lambda verdict: verdict.severity)
    lines.append(f"  do      {top.advice}")
    if top.undo:
        lines.append(f"  undo    {clean(top.undo, 1000)}")
    return "\n".join(lines) + "\n"


def _most_severe(findings: Sequence[Classification], count: int) -> list[Classification]:
    """The most severe findings, preferring different exposures to the same one seen several times."""
    ranked = sorted(findings, key=lambda result: result.severity, reverse=True)
    distinct: dict[tuple[str, ...], Classification] = {}
    for result in ranked:
        top = max(result.verdicts, key=lambda verdict: verdict.severity)
        ports = top.change.ports_label() if top.change else ""
        distinct.setdefault((result.severity.name, top.rule.id, ports), result)
    chosen = sorted(distinct.values(), key=lambda result: result.severity, reverse=True)[:count]
    chosen += [result for result in ranked if result not in chosen][: count - len(chosen)]
    return sorted(chosen, key=ranked.index)


def render_report(results: Sequence[Classification], detail_count: int = 3) -> str:
    """A report over many results: a table by severity, then the full text of the most severe findings."""
    findings = [result for result in results if result.watched]
    errors = [result for result in results if result.error]
    by_severity = Counter(result.severity for result in findings)
    tampering = sum(result.tamper is not None for result in findings)
    changes = f"{len(findings) - tampering} security-group changes"
    if tampering:
        changes += f", {tampering} call{'s' if tampering > 1 else ''} that can blind the monitor"
    lines = [f"sgwatch report: {changes}, {len(errors)} unreadable records", ""]
    lines.append(f"{'severity':<10}{'count':>6}  events")
    for severity in sorted(Severity, reverse=True):
        if severity is Severity.NONE:
            continue
        names = Counter(result.event_name for result in findings if result.severity is severity)
        listed = ", ".join(
            f"{clean(name, 100)} x{count}" if count > 1 else clean(name, 100) for name, count in names.most_common()
        )
        lines.append(f"{severity.name:<10}{by_severity[severity]:>6}  {listed}")
    ranked = _most_severe(findings, detail_count)
    if ranked:
        lines += ["", f"The {len(ranked)} most severe:", ""]
        lines += [render_text(result) for result in ranked]
    for result in errors:
        lines.append(render_text(result))
    return "\n".join(lines).rstrip() + "\n"
