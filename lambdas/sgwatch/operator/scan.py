"""`sgwatch scan`'s work: every region of every account read in parallel, judged by core.scan, rendered as a table
grouped by group, most severe first, with the command that revokes each rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sgwatch.core.policy import Policy
from sgwatch.core.scan import ScanFinding, Totals, scan
from sgwatch.core.severity import Severity
from sgwatch.core.text import clean
from sgwatch.runtime.aws import error_text
from sgwatch.runtime.inventory import Ec2Inventory

#: Regions (and accounts) read side by side: EC2 throttles per account and region, so these do not compete.
WORKERS = 8


@dataclass
class Place:
    """One account's region, as scanned: its findings, or why it could not be read, and the calls it took."""

    account: str
    region: str
    findings: list[ScanFinding] = field(default_factory=list)
    error: str = ""
    problems: tuple[str, ...] = ()  # what was read in part (interfaces, prefix lists), said beside the findings
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        return f"{self.account}/{self.region}" if self.account else self.region


def run_scan(
    places: Sequence[tuple[str, str, Callable[[], Any]]],
    policy: Policy | None,
    today: date,
    progress: Callable[[str], None] | None = None,
) -> list[Place]:
    """Each (account, region, EC2 client maker) read and judged, side by side. A place that cannot be read says
    why; the others go on."""

    def one(account: str, region: str, client: Callable[[], Any]) -> Place:
        place = Place(account, region)
        try:
            inventory = Ec2Inventory(client(), account, region)
            try:
                snapshot = inventory.snapshot()
                place.findings, place.problems = scan(snapshot, policy, today=today), snapshot.problems
            finally:
                place.calls = inventory.calls
        except Exception as error:  # denied, throttled past the retries, unreachable: this place only
            place.error = f"{place.label}: could not be scanned: {error_text(error)}"
        if progress is not None:
            progress(place.label)
        return place

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda place: one(*place), places))


def ranked(places: Sequence[Place], minimum: Severity) -> list[ScanFinding]:
    """The findings from `minimum` up, most severe first, then by account, region, group and rule."""
    shown = [found for place in places for found in place.findings if found.severity >= minimum]
    return sorted(
        shown,
        key=lambda f: (-f.severity, f.group.account, f.group.region, f.group.group_id, f.rule.rule_id),
    )


def render_table(findings: Sequence[ScanFinding], total: Totals, minimum: Severity) -> str:
    """Grouped by group, the groups in the order of their most severe finding; each finding with its reason, what
    uses the group, and the command that revokes the rule."""
    order: dict[tuple[str, str, str], list[ScanFinding]] = {}
    for found in findings:
        order.setdefault((found.group.account, found.group.region, found.group.group_id), []).append(found)
    lines: list[str] = []
    for (account, region, group_id), found_here in order.items():
        group = found_here[0].group
        name = f" ({clean(group.name, 255)})" if group.name else ""
        vpc = f", {clean(group.vpc_id, 64)}" if group.vpc_id else ""
        where = f"{clean(account, 64)}/{clean(region, 64)}"
        lines.append(f"{found_here[0].severity.name:<9}{clean(group_id, 64)}{name}  {where}{vpc}")
        lines.append(f"         {found_here[0].reach_phrase}")
        for found in found_here:
            change = found.verdict.change
            ports = change.ports_label() if change is not None else ""
            lines.append(
                f"  {found.severity.name:<9}{clean(found.rule.rule_id, 64)}  {ports}  [{found.verdict.rule.id}]"
            )
            lines.append(f"           {clean(found.verdict.summary, 2000)}")
            for lowering in found.verdict.lowered_by:
                lines.append(f"           policy: {lowering.action.value} by {clean(lowering.entry, 200)}"
                             f" ({lowering.from_severity.name} -> {lowering.to_severity.name})")  # fmt: skip
            lines.append(f"           revoke: {clean(found.revoke_command, 2000)}")
        lines.append("")
    counts = ", ".join(
        f"{count} {severity.name}" for severity, count in sorted(total.by_severity.items(), reverse=True)
    )
    lines.append(
        f"{total.shown} findings at {minimum.name} and above ({counts or 'none'}) in {len(order)} groups;"
        f" {total.rules} inbound rules of {total.groups} groups judged"
    )
    return "\n".join(lines) + "\n"
