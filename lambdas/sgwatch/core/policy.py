"""The policy: what a team expects, written once in a reviewed TOML file, applied everywhere sgwatch classifies.

Trusted principals lower a change one level (a trusted user agent only narrows a principal: the caller chooses its
user agent, so on its own it trusts nothing); internal ranges count as private; approved exposures
(by group id, or by the group's `sgwatch:approved` tag) make a matching change INFO until they expire; the
sensitive-port catalogue can grow or shrink; groups and accounts can be muted (a mute lowers only what is said about
the muted group or account). A policy only ever lowers a severity,
and every change it touches names the entry that did it: nothing disappears without a trace.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from sgwatch.core.addresses import IPNetwork, PeerKind
from sgwatch.core.classify import Classification, Settings
from sgwatch.core.errors import PolicyError
from sgwatch.core.findings import Lowering, PolicyAction, Verdict
from sgwatch.core.model import Action, Actor, Direction, RuleChange
from sgwatch.core.ports import SENSITIVE_PORTS, SensitivePort
from sgwatch.core.severity import Severity

APPROVAL_TAG = "sgwatch:approved"
_EXPOSURE = re.compile(
    r"^\s*(?P<ports>all|\d{1,5}(?:-\d{1,5})?)(?:/(?P<protocol>tcp|udp|icmp|icmpv6|all))?\s+from\s+(?P<source>\S+)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Exposure:
    """What an approval allows: "443/tcp from world", "8000-8100/tcp from 203.0.113.0/24", "all from any"."""

    text: str
    protocol: str  # tcp, udp, icmp, icmpv6, all
    first: int
    last: int
    source: str  # world, broad-public, any, or a CIDR

    def covers(self, change: RuleChange) -> bool:
        if change.action not in (Action.ADD, Action.MODIFY) or change.direction is Direction.EGRESS:
            return False
        if self.protocol not in ("all", change.protocol):
            return False
        if self.protocol == "all" and (self.first, self.last) != (0, 65535) and change.protocol not in ("tcp", "udp"):
            return False
        first, last = change.port_range
        if not (self.first <= first and last <= self.last):
            return False
        peer = change.peer
        if self.source == "any":
            return True
        if self.source == "world":
            return peer.kind is PeerKind.WORLD
        if self.source == "broad-public":
            return peer.kind is PeerKind.BROAD_PUBLIC
        if not peer.is_cidr:
            return False
        approved = ipaddress.ip_network(self.source)
        network = ipaddress.ip_network(peer.address)
        return network.version == approved.version and network.subnet_of(approved)  # type: ignore[arg-type]


def parse_exposure(text: str, where: str) -> Exposure:
    match = _EXPOSURE.match(text)
    if not match:
        raise PolicyError(
            f"{where}: {text!r} is not an exposure; write e.g. '443/tcp from world' or '22/tcp from 10.0.0.0/8'"
        )
    ports, protocol, source = (
        match.group("ports").lower(),
        (match.group("protocol") or "tcp").lower(),
        match.group("source"),
    )
    if ports == "all":
        first, last = 0, 65535
        protocol = match.group("protocol").lower() if match.group("protocol") else "all"
    else:
        low, _, high = ports.partition("-")
        first, last = int(low), int(high or low)
        if not 0 <= first <= last <= 65535:
            raise PolicyError(f"{where}: ports {ports!r} are not a range within 0-65535")
    if source.lower() not in ("world", "broad-public", "any"):
        try:
            source = str(ipaddress.ip_network(source, strict=False))
        except ValueError:
            raise PolicyError(f"{where}: source {source!r} is not world, broad-public, any or a CIDR") from None
    else:
        source = source.lower()
    return Exposure(text.strip(), protocol, first, last, source)


@dataclass(frozen=True)
class Entry:
    """One policy entry, as people refer to it: "approved_exposure[2]" with its reason."""

    kind: str
    index: int
    reason: str
    line: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}[{self.index}]"


@dataclass(frozen=True)
class Approval:
    entry: Entry
    exposure: Exposure
    owner: str
    expires: date | None
    group_id: str = ""  # empty for approvals read from a group's tag


@dataclass(frozen=True)
class Policy:
    trusted_principals: tuple[tuple[Entry, str], ...] = ()
    trusted_user_agents: tuple[tuple[Entry, str, str], ...] = ()  # (entry, user-agent pattern, principal pattern)
    internal_ranges: tuple[tuple[Entry, IPNetwork], ...] = ()
    approvals: tuple[Approval, ...] = ()
    added_ports: tuple[SensitivePort, ...] = ()
    removed_ports: tuple[tuple[Entry, str, str], ...] = ()  # (entry, name, protocol)
    muted_groups: tuple[tuple[Entry, str], ...] = ()
    muted_accounts: tuple[tuple[Entry, str], ...] = ()
    channels: dict[str, Severity] = field(default_factory=dict)
    source: str = ""
    tag_approvals: bool = False  # honour sgwatch:approved tags on the groups (whoever can tag a group can approve it)
    break_glass_tag: str = ""  # remediation never touches a group that carries this tag key
    text: str = field(default="", repr=False, compare=False)  # the file as written, when read by read_policy

    @cached_property
    def settings(self) -> Settings:
        """What classification itself takes from the policy: the port catalogue and the internal ranges.

        Derived once per policy: the function and the CLI ask for it for every record."""
        removed = {(name.lower(), protocol) for _, name, protocol in self.removed_ports}
        ports = tuple(p for p in SENSITIVE_PORTS if (p.name.lower(), p.protocol) not in removed) + self.added_ports
        return Settings(sensitive_ports=ports, internal_ranges=tuple(network for _, network in self.internal_ranges))

    def describe(self) -> list[str]:
        """Every entry, explained, for `sgwatch policy check`."""
        lines = []
        for entry, pattern in self.trusted_principals:
            lines.append(
                f"{entry.name}: changes by principals matching {pattern!r} are lowered one level ({entry.reason})"
            )
        for entry, pattern, principal in self.trusted_user_agents:
            lines.append(
                f"{entry.name}: changes by principals matching {principal!r} made with user agents matching"
                f" {pattern!r} are lowered one level; the user agent alone lowers nothing, the caller chooses it"
                f" ({entry.reason})"
            )
        for entry, network in self.internal_ranges:
            lines.append(f"{entry.name}: {network} counts as private, not public ({entry.reason})")
        for approval in self.approvals:
            until = f"until {approval.expires}" if approval.expires else "with no expiry"
            lines.append(
                f"{approval.entry.name}: {approval.exposure.text} on {approval.group_id} is approved {until},"
                f" owner {approval.owner}: matching changes become INFO ({approval.entry.reason})"
            )
        for port in self.added_ports:
            lines.append(f"sensitive_port: {port.label} is sensitive ({port.reason})")
        for entry, name, protocol in self.removed_ports:
            lines.append(f"{entry.name}: {name}/{protocol} is no longer sensitive ({entry.reason})")
        for entry, group in self.muted_groups:
            lines.append(
                f"{entry.name}: changes to {group} become INFO: logged and counted, not alerted ({entry.reason})"
            )
        for entry, account in self.muted_accounts:
            lines.append(f"{entry.name}: changes in account {account} become INFO ({entry.reason})")
        if self.tag_approvals:
            lines.append(f"tag_approvals: {APPROVAL_TAG} tags on the groups approve exposures (restrict who may tag)")
        for channel, severity in self.channels.items():
            lines.append(f"channels.{channel}: {severity.name} and above")
        return lines


# --- reading ------------------------------------------------------------------------------------------------------

_KNOWN: dict[str, set[str]] = {
    "version": set(),
    "tag_approvals": set(),
    "break_glass_tag": set(),
    "trusted_principal": {"arn", "reason"},
    "trusted_user_agent": {"pattern", "principal", "reason"},
    "internal_range": {"cidr", "reason"},
    "approved_exposure": {"group_id", "exposure", "owner", "expires", "reason"},
    "sensitive_port": {"name", "protocol", "ports", "reason"},
    "not_sensitive": {"name", "protocol", "reason"},
    "mute": {"group_id", "account", "reason"},
    "channels": {"email", "publish"},
}


def _line_of(text: str, kind: str, index: int) -> int:
    """The line of the index-th [[kind]] table (TOML parsers do not keep positions)."""
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == f"[[{kind}]]":
            seen += 1
            if seen == index:
                return number
    return 0


def read_policy(path: str | Path) -> Policy:
    """The policy file at `path`, read and validated: the one loader of the function, the CLI and the synth. The
    Policy keeps the file's text (the stack ships it as written). PolicyError names the file, the line and the field."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise PolicyError(f"{path}: cannot read the policy ({error.strerror or error})") from None
    return replace(load_policy(text, str(path)), text=text)


def load_policy(text: str, source: str = "policy") -> Policy:
    """Parse and validate a policy. Raises PolicyError naming the file, the line and the field."""
    import tomllib  # noqa: PLC0415 - only a deployment with a policy file reads one: not paid at every cold start

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from None
    for key in document:
        if key not in _KNOWN:
            raise PolicyError(f"{source}: unknown section {key!r}; expected one of {', '.join(sorted(_KNOWN))}")
    if document.get("version", 1) != 1:
        raise PolicyError(f"{source}: version {document['version']!r} is not supported (expected 1)")
    if not isinstance(document.get("tag_approvals", False), bool):
        raise PolicyError(f"{source}: tag_approvals: true or false")
    if not isinstance(document.get("break_glass_tag", ""), str) or len(document.get("break_glass_tag", "")) > 128:
        raise PolicyError(f"{source}: break_glass_tag: a tag key (at most 128 characters)")

    def tables(kind: str) -> list[tuple[Entry, dict[str, Any], str]]:
        found = document.get(kind, [])
        if not isinstance(found, list):
            raise PolicyError(f"{source}: {kind} must be written as [[{kind}]] tables")
        result = []
        for index, table in enumerate(found):
            line = _line_of(text, kind, index)
            where = f"{source}:{line}: {kind}[{index}]" if line else f"{source}: {kind}[{index}]"
            unknown = set(table) - _KNOWN[kind]
            if unknown:
                fields = ", ".join(sorted(_KNOWN[kind]))
                raise PolicyError(f"{where}: unknown field {sorted(unknown)[0]!r}; fields are {fields}")
            reason = table.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise PolicyError(f"{where}.reason: every entry says why (a non-empty string)")
            result.append((Entry(kind, index, reason.strip(), line), table, where))
        return result

    def text_field(table: dict[str, Any], name: str, where: str) -> str:
        value = table.get(name)
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{where}.{name}: required, a non-empty string")
        return value.strip()

    principals = tuple((entry, text_field(t, "arn", w)) for entry, t, w in tables("trusted_principal"))
    agents = []
    for entry, table, where in tables("trusted_user_agent"):
        if "principal" not in table:
            raise PolicyError(
                f"{where}.principal: required. A user agent is whatever the caller writes in it, so it trusts nothing"
                ' on its own: name the principal it must come with (principal = "arn:aws:sts::*:assumed-role/Deploy/*"),'
                " or use [[trusted_principal]]"
            )
        agents.append((entry, text_field(table, "pattern", where), text_field(table, "principal", where)))
    ranges = []
    for entry, table, where in tables("internal_range"):
        try:
            ranges.append((entry, ipaddress.ip_network(text_field(table, "cidr", where), strict=False)))
        except ValueError:
            raise PolicyError(f"{where}.cidr: {table['cidr']!r} is not a CIDR") from None
        if ranges[-1][1].prefixlen == 0:
            raise PolicyError(f"{where}.cidr: {table['cidr']!r} is the whole internet; it cannot be internal")
    approvals = []
    for entry, table, where in tables("approved_exposure"):
        group = text_field(table, "group_id", where)
        if not re.match(r"^sg-[0-9a-f]{8,17}$", group):
            raise PolicyError(f"{where}.group_id: {group!r} is not a security group id (sg-...)")
        expires = table.get("expires")
        if expires is not None and not isinstance(expires, date):
            raise PolicyError(f"{where}.expires: write a TOML date such as 2027-03-31, not {expires!r}")
        approvals.append(
            Approval(
                entry,
                parse_exposure(text_field(table, "exposure", where), f"{where}.exposure"),
                text_field(table, "owner", where),
                expires,
                group,
            )
        )
    added = []
    for entry, table, where in tables("sensitive_port"):
        protocol = text_field(table, "protocol", where).lower()
        if protocol not in ("tcp", "udp"):
            raise PolicyError(f"{where}.protocol: tcp or udp, not {protocol!r}")
        exposure = parse_exposure(f"{text_field(table, 'ports', where)}/{protocol} from any", f"{where}.ports")
        added.append(
            SensitivePort(
                text_field(table, "name", where), protocol, exposure.first, exposure.last, "policy", entry.reason
            )
        )
    removed = []
    for entry, table, where in tables("not_sensitive"):
        name, protocol = text_field(table, "name", where), text_field(table, "protocol", where).lower()
        if not any(p.name.lower() == name.lower() and p.protocol == protocol for p in SENSITIVE_PORTS):
            known = ", ".join(sorted({f"{p.name}/{p.protocol}" for p in SENSITIVE_PORTS}))
            raise PolicyError(f"{where}.name: {name}/{protocol} is not in the built-in catalogue ({known})")
        removed.append((entry, name, protocol))
    muted_groups, muted_accounts = [], []
    for entry, table, where in tables("mute"):
        if "group_id" in table:
            muted_groups.append((entry, text_field(table, "group_id", where)))
        elif "account" in table:
            account = text_field(table, "account", where)
            if not re.match(r"^\d{12}$", account):
                raise PolicyError(f"{where}.account: {account!r} is not a 12-digit account id")
            muted_accounts.append((entry, account))
        else:
            raise PolicyError(f"{where}: a mute names a group_id or an account")
    channels = {}
    for channel, value in (document.get("channels") or {}).items():
        if channel not in _KNOWN["channels"]:
            raise PolicyError(f"{source}: channels.{channel}: unknown channel; channels are email, publish")
        try:
            channels[channel] = Severity.parse(str(value))
        except ValueError as error:
            raise PolicyError(f"{source}: channels.{channel}: {error}") from None
    return Policy(tuple(principals), tuple(agents), tuple(ranges), tuple(approvals), tuple(added), tuple(removed),
                  tuple(muted_groups), tuple(muted_accounts), channels, source,
                  document.get("tag_approvals", False), break_glass_tag=document.get("break_glass_tag", ""))  # fmt: skip


def tag_approvals(group_id: str, tags: dict[str, str]) -> tuple[list[Approval], list[str]]:
    """Approvals written on the group itself: `sgwatch:approved = "443/tcp from world; owner=web; expires=2027-03-31"`.

    Returns the approvals and the problems found in the tag (a bad tag approves nothing, and says so).
    """
    value = tags.get(APPROVAL_TAG)
    if not value:
        return [], []
    parts = [part.strip() for part in value.split(";") if part.strip()]
    options = dict(part.split("=", 1) for part in parts if "=" in part)
    exposures = [part for part in parts if "=" not in part]
    entry = Entry("tag", 0, f"{APPROVAL_TAG} on {group_id}")
    problems = []
    expires = None
    if "expires" in options:
        try:
            expires = date.fromisoformat(options["expires"].strip())
        except ValueError:
            problems.append(
                f"tag {APPROVAL_TAG} on {group_id}: expires={options['expires']!r} is not a date (YYYY-MM-DD)"
            )
    approvals = []
    for text in exposures:
        for piece in text.split(","):
            try:
                exposure = parse_exposure(piece, f"tag {APPROVAL_TAG} on {group_id}")
            except PolicyError as error:
                problems.append(str(error))
                continue
            approvals.append(Approval(entry, exposure, options.get("owner", "unknown").strip(), expires, group_id))
    return approvals, problems


# --- applying -----------------------------------------------------------------------------------------------------


def _lowering(action: PolicyAction, entry: Entry, verdict: Verdict, to: Severity, **approval: Any) -> Lowering:
    """What `entry` does to `verdict`: lowers it to `to`, or only names itself when the verdict is that low already."""
    return Lowering(action, entry.name, entry.line, entry.reason, verdict.severity, min(to, verdict.severity),
                    from_tag=entry.kind == "tag", **approval)  # fmt: skip


def _approvals_applied(
    verdict: Verdict, change: RuleChange, approvals: list[Approval], tag_problems: list[str], today: date
) -> Verdict:
    """The first approval that covers the change and has not expired makes it INFO; expired ones say so."""
    for approval in approvals:
        if not approval.exposure.covers(change):
            continue
        terms = {"exposure": approval.exposure.text, "owner": approval.owner, "expires": approval.expires}
        if approval.expires and approval.expires < today:
            expired = _lowering(PolicyAction.APPROVAL_EXPIRED, approval.entry, verdict, verdict.severity, **terms)
            verdict = verdict.lower(expired)
            continue
        verdict = verdict.lower(_lowering(PolicyAction.APPROVED, approval.entry, verdict, Severity.INFO, **terms))
        break
    for problem in tag_problems:
        unreadable = Entry("tag", 0, problem)
        verdict = verdict.lower(_lowering(PolicyAction.TAG_UNREADABLE, unreadable, verdict, verdict.severity))
    return verdict


def apply_policy(
    result: Classification, policy: Policy, *, tags: dict[str, dict[str, str]] | None = None, today: date | None = None
) -> Classification:
    """The classification with the policy applied. Only lowers; every touched verdict names the entry. A call that
    can blind the monitor is lowered only by a trusted principal: no approval or mute covers it."""
    if result.tamper is not None:
        trusted = _trusted(policy, result.tamper.actor)
        if trusted is None:
            return result
        return replace(result, verdicts=tuple(_trust(verdict, trusted) for verdict in result.verdicts))
    record = result.record
    if record is None:
        return result
    today = today or date.today()
    verdicts = list(result.verdicts)
    for index, verdict in enumerate(verdicts):
        change = verdict.change
        if change is None:
            continue
        group = change.group_id or (record.group_ids[0] if record.group_ids else "")
        candidates = [a for a in policy.approvals if a.group_id == group]
        tag_found, tag_problems = (
            tag_approvals(group, (tags or {}).get(group, {})) if policy.tag_approvals else ([], [])
        )
        verdicts[index] = _approvals_applied(verdict, change, [*candidates, *tag_found], tag_problems, today)
    trusted = _trusted(policy, record.actor)
    if trusted is not None:
        verdicts = [_trust(verdict, trusted) for verdict in verdicts]
    account_mute = next((entry for entry, account in policy.muted_accounts if account == record.account), None)
    group_mutes = {group: entry for entry, group in reversed(policy.muted_groups)}
    for index, verdict in enumerate(verdicts):
        about = _groups_of(verdict, record.group_ids)
        mute = account_mute or (group_mutes[about[0]] if about and all(g in group_mutes for g in about) else None)
        if mute is not None:
            verdicts[index] = verdict.lower(_lowering(PolicyAction.MUTED, mute, verdict, Severity.INFO))
    if verdicts == list(result.verdicts):
        return result
    return replace(result, verdicts=tuple(verdicts))


def apply_policy_to_standing(
    verdict: Verdict, policy: Policy, *, group_id: str, account: str, tags: Mapping[str, str], today: date
) -> Verdict:
    """A rule as it stands now (`sgwatch scan`), with the policy applied: the approvals of its group (and its
    sgwatch:approved tag when tag_approvals is on), expired ones said, then the mutes. No principal is trusted: nobody
    is making a change."""
    change = verdict.change
    if change is not None:
        candidates = [approval for approval in policy.approvals if approval.group_id == group_id]
        tag_found, tag_problems = tag_approvals(group_id, dict(tags)) if policy.tag_approvals else ([], [])
        verdict = _approvals_applied(verdict, change, [*candidates, *tag_found], tag_problems, today)
    mute = next((entry for entry, muted in policy.muted_accounts if muted == account), None) or next(
        (entry for entry, muted in policy.muted_groups if muted == group_id), None
    )
    if mute is not None:
        verdict = verdict.lower(_lowering(PolicyAction.MUTED, mute, verdict, Severity.INFO))
    return verdict


def _trusted(policy: Policy, actor: Actor) -> Entry | None:
    """The first trusted-principal entry (or user agent with its principal) that covers the actor."""
    arns = [arn for arn in (actor.arn, actor.issuer_arn) if arn]

    def by_principal(pattern: str) -> bool:
        return any(fnmatch.fnmatchcase(arn, pattern) for arn in arns)

    trusted = [entry for entry, pattern in policy.trusted_principals if by_principal(pattern)] + [
        entry
        for entry, pattern, principal in policy.trusted_user_agents
        if actor.user_agent and fnmatch.fnmatchcase(actor.user_agent, pattern) and by_principal(principal)
    ]
    return trusted[0] if trusted else None


def _trust(verdict: Verdict, entry: Entry) -> Verdict:
    """One level down, never below INFO."""
    if verdict.severity <= Severity.INFO:
        return verdict
    return verdict.lower(_lowering(PolicyAction.TRUSTED, entry, verdict, verdict.severity.lowered()))


def _groups_of(verdict: Verdict, record_groups: Sequence[str]) -> list[str]:
    """The groups a verdict speaks about: its own, its change's, or (a record-level verdict) all the record's."""
    if verdict.group_id:
        return [verdict.group_id]
    if verdict.change is not None:
        group = verdict.change.group_id or (record_groups[0] if record_groups else "")
        return [group] if group else []
    return list(record_groups)


def lowered_by_policy(result: Classification) -> bool:
    """Whether any verdict ends lower than its rule's severity (naming itself lowers nothing)."""
    return any(lowering.lowered for verdict in result.verdicts for lowering in verdict.lowered_by)
