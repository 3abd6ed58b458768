"""The rules registry: every verdict sgwatch can reach is one Rule (its id, severity, why, what to do, and the one
predicate that decides it), in families evaluated in the order declared here. Adding a verdict is adding a Rule to its
family below, and its test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from sgwatch.core.addresses import Peer, PeerKind
from sgwatch.core.events import EventKind
from sgwatch.core.model import Action, Direction, RuleChange, SecurityGroupRecord
from sgwatch.core.ports import WEB_PORTS, SensitivePort
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import Blinding, TamperRecord


class Family(Enum):
    """What a rule judges. Each family is evaluated on its own, in its declared order; the first rule that applies
    is the verdict (hygiene rules add to or raise one)."""

    CHANGE = "change"  # a rule change that is not an inbound addition: revoked, described, outbound
    EXPOSURE = "exposure"  # an inbound addition: how far it opens what
    HYGIENE = "hygiene"  # what the group itself makes worse: the VPC default, an open group attached
    RECORD = "record"  # a record about a group as a whole: created, deleted, attached
    PREFIX_LIST = "prefix-list"  # a managed prefix list's entries, judged before the rules that reference it are known
    OUTCOME = "outcome"  # how the call itself went: unreadable, denied, failed
    TAMPER = "tamper"  # a call that blinds the monitor (a trail, AWS Config, sgwatch's own resources), or undoes that
    TAMPER_OUTCOME = "tamper-outcome"  # such a call that was denied or failed


#: errorCode values that mean "not allowed": the call was denied, not merely malformed. One set for CloudTrail's
#: errorCode and for the error codes the CLI's own calls get back.
DENIED_ERROR_CODES: frozenset[str] = frozenset(
    {
        "Client.UnauthorizedOperation",
        "UnauthorizedOperation",
        "AccessDenied",
        "Client.AccessDenied",
        "AccessDeniedException",
        "Client.AuthFailure",
        "AuthFailure",
        "UnauthorizedAccess",
    }
)


@dataclass(frozen=True)
class Context:
    """What a predicate may look at. Each family reads only what its caller knows: a change and the sensitive
    services its ports cover, the record, whether the group is the VPC default, how open an attached group is."""

    record: SecurityGroupRecord | None = None
    change: RuleChange | None = None
    services: tuple[SensitivePort, ...] = ()
    group_is_default: bool = False
    attached_exposure: Severity = Severity.NONE  # the worst a newly attached group's inbound rules allow
    unreadable: bool = False
    tamper: TamperRecord | None = None
    entries: Peer | None = None  # the most open range a prefix-list edit added, judged with the others it added


@dataclass(frozen=True)
class Rule:
    id: str
    family: Family
    severity: Severity
    rationale: str
    advice: str
    applies: Callable[[Context], bool] = field(compare=False, repr=False)


def _world(context: Context) -> bool:
    return context.change is not None and context.change.peer.kind is PeerKind.WORLD


def _broad_public(context: Context) -> bool:
    return context.change is not None and context.change.peer.kind is PeerKind.BROAD_PUBLIC


def _protocol(context: Context, *protocols: str) -> bool:
    return context.change is not None and context.change.protocol in protocols


def _web_ports_only(context: Context) -> bool:
    if not _protocol(context, "tcp", "udp"):
        return False
    assert context.change is not None
    first, last = context.change.port_range
    return last - first < len(WEB_PORTS) and all(port in WEB_PORTS for port in range(first, last + 1))


def _adds_ingress(context: Context) -> bool:
    change = context.change
    return (
        change is not None
        and change.action in (Action.ADD, Action.MODIFY)
        and change.direction in (Direction.INGRESS, Direction.UNSTATED)
    )


def _action(context: Context, action: Action) -> bool:
    return context.change is not None and context.change.action is action


def _kind(context: Context, kind: EventKind) -> bool:
    return context.record is not None and context.record.event.kind is kind


def _failed(context: Context) -> bool:
    return context.record is not None and context.record.failed


# --- change ---------------------------------------------------------------------------------------------------

RULE_REVOKED = Rule(
    "rule-revoked",
    Family.CHANGE,
    Severity.INFO,
    "access was removed: it narrows exposure, kept for the audit trail",
    "Nothing to do unless something broke.",
    lambda c: _action(c, Action.REVOKE),
)
DESCRIPTION_UPDATED = Rule(
    "description-updated",
    Family.CHANGE,
    Severity.INFO,
    "only a rule's description changed: no traffic is allowed or blocked by it",
    "Nothing to do.",
    lambda c: _action(c, Action.DESCRIBE),
)
EGRESS_ADDED = Rule(
    "egress-added",
    Family.CHANGE,
    Severity.LOW,
    "outbound access was added: it widens where a compromised host can send data",
    "Nothing to do if the change was planned.",
    lambda c: c.change is not None and c.change.direction is Direction.EGRESS,
)

# --- exposure: the last rule applies to every inbound addition ---------------------------------------------------

WORLD_ALL_TRAFFIC = Rule(
    "world-all-traffic",
    Family.EXPOSURE,
    Severity.CRITICAL,
    "every port of every protocol is reachable from any address on the internet",
    "Revoke the rule now unless it was approved; find who needs what and open only that, to known ranges.",
    lambda c: _world(c) and _protocol(c, "all"),
)
WORLD_SENSITIVE_PORT = Rule(
    "world-sensitive-port",
    Family.EXPOSURE,
    Severity.CRITICAL,
    "a service that must never face the internet is reachable from any address",
    "Revoke the rule now; reach the service through a VPN, Session Manager or a private network instead.",
    lambda c: _world(c) and bool(c.services),
)
WORLD_ICMP = Rule(
    "world-icmp",
    Family.EXPOSURE,
    Severity.LOW,
    "ICMP from the internet makes hosts answer ping and path-MTU discovery; it opens no service port",
    "Nothing to do unless hosts behind this group should stay invisible.",
    lambda c: _world(c) and _protocol(c, "icmp", "icmpv6"),
)
WORLD_WEB_PORT = Rule(
    "world-web-port",
    Family.EXPOSURE,
    Severity.LOW,
    "web ports (80, 443) are meant to face the internet, for example on a load balancer",
    "Nothing to do if this group fronts a public web service.",
    lambda c: _world(c) and _web_ports_only(c),
)
WORLD_OTHER_PORT = Rule(
    "world-other-port",
    Family.EXPOSURE,
    Severity.HIGH,
    "a non-web port is reachable from any address on the internet",
    "Confirm the service is meant to be public; otherwise restrict the source to known ranges.",
    _world,
)
BROAD_PUBLIC_SENSITIVE_PORT = Rule(
    "broad-public-sensitive-port",
    Family.EXPOSURE,
    Severity.HIGH,
    "a sensitive service is reachable from a public range with more addresses than a /16 (IPv4) or a /48 (IPv6)",
    "Narrow the source to the addresses that need it, or reach the service privately.",
    lambda c: _broad_public(c) and (bool(c.services) or _protocol(c, "all")),
)
BROAD_PUBLIC_OTHER_PORT = Rule(
    "broad-public-other-port",
    Family.EXPOSURE,
    Severity.MEDIUM,
    "a port is reachable from a public range with more addresses than a /16 (IPv4) or a /48 (IPv6)",
    "Narrow the source to the addresses that need it.",
    _broad_public,
)
PUBLIC_ALL_TRAFFIC = Rule(
    "public-all-traffic",
    Family.EXPOSURE,
    Severity.MEDIUM,
    "every port is reachable from a public range: whoever holds those addresses reaches every service on the host",
    "Open only the ports the source needs.",
    lambda c: c.change is not None and c.change.peer.kind is PeerKind.PUBLIC and c.change.covers_all_ports,
)
INGRESS_ADDED = Rule(
    "ingress-added",
    Family.EXPOSURE,
    Severity.LOW,
    "inbound access was added from a specific, private or referenced source",
    "Nothing to do if the change was planned.",
    lambda c: c.change is not None,
)

# --- record ---------------------------------------------------------------------------------------------------

GROUP_CREATED = Rule(
    "group-created",
    Family.RECORD,
    Severity.INFO,
    "a new group allows no inbound traffic until rules are added",
    "Nothing to do.",
    lambda c: _kind(c, EventKind.GROUP_CREATED),
)
GROUP_DELETED = Rule(
    "group-deleted",
    Family.RECORD,
    Severity.LOW,
    "a security group was deleted: controls a workload relied on may be gone",
    "Nothing to do if the deletion was planned.",
    lambda c: _kind(c, EventKind.GROUP_DELETED),
)
ATTACHMENT_CHANGED = Rule(
    "attachment-changed",
    Family.RECORD,
    Severity.LOW,
    "the groups guarding an instance, network interface or endpoint were set: new or moved hosts are behind them",
    "Check the attached groups are the intended ones.",
    lambda c: _kind(c, EventKind.ATTACHMENT_CHANGED),
)

# --- prefix list: the rules that reference the list are rated once enrichment finds them -------------------------


def _prefix_list(context: Context) -> bool:
    return context.record is not None and context.record.prefix_list is not None


def _restored(context: Context) -> bool:
    edit = context.record.prefix_list if context.record is not None else None
    return edit is not None and edit.restored


def _entries_added(context: Context) -> bool:
    edit = context.record.prefix_list if context.record is not None else None
    return edit is not None and bool(edit.added)


def _entries(context: Context, kind: PeerKind) -> bool:
    return _prefix_list(context) and context.entries is not None and context.entries.kind is kind


PREFIX_LIST_WORLD_ENTRY = Rule(
    "prefix-list-world-entry",
    Family.PREFIX_LIST,
    Severity.HIGH,
    "every rule that references this prefix list now admits half of the internet or more; exposure depends on the"
    " rules that reference this list",
    "Remove the entry unless it was approved; list the rules that reference the prefix list"
    " (aws ec2 get-managed-prefix-list-associations) to see what it opened.",
    lambda c: _entries(c, PeerKind.WORLD),
)
PREFIX_LIST_BROAD_ENTRY = Rule(
    "prefix-list-broad-entry",
    Family.PREFIX_LIST,
    Severity.MEDIUM,
    "every rule that references this prefix list now admits a public range with more addresses than a /16 (IPv4) or"
    " a /48 (IPv6); exposure depends on the rules that reference this list",
    "Narrow the entry to the addresses that need it.",
    lambda c: _entries(c, PeerKind.BROAD_PUBLIC),
)
PREFIX_LIST_RESTORED = Rule(
    "prefix-list-restored",
    Family.PREFIX_LIST,
    Severity.LOW,
    "an earlier version's entries are back in the prefix list, and the record does not say which they are",
    "Check the restored entries: aws ec2 get-managed-prefix-list-entries --prefix-list-id <id>.",
    _restored,
)
PREFIX_LIST_ENTRIES_ADDED = Rule(
    "prefix-list-entries-added",
    Family.PREFIX_LIST,
    Severity.LOW,
    "specific or private ranges were added to a prefix list: the rules that reference it admit them too",
    "Nothing to do if the change was planned.",
    _entries_added,
)
PREFIX_LIST_NOTHING_ADDED = Rule(
    "prefix-list-nothing-added",
    Family.PREFIX_LIST,
    Severity.INFO,
    "no range was added to the prefix list (entries removed, or its name or size changed): nothing new is admitted",
    "Nothing to do unless something broke.",
    _prefix_list,
)

# --- hygiene --------------------------------------------------------------------------------------------------

DEFAULT_GROUP_INGRESS = Rule(
    "default-group-ingress",
    Family.HYGIENE,
    Severity.HIGH,
    "the VPC's default security group should allow no inbound traffic: resources land in it by accident",
    "Revoke the rule and put the resource in a dedicated group (CIS: default groups restrict all traffic).",
    lambda c: _adds_ingress(c) and c.group_is_default,
)
OPEN_GROUP_ATTACHED = Rule(
    "open-group-attached",
    Family.HYGIENE,
    Severity.HIGH,
    "a group that is open to the internet now guards one more instance, network interface or endpoint",
    "Check that the resource is meant to be reachable from the internet; otherwise attach a narrower group.",
    lambda c: _kind(c, EventKind.ATTACHMENT_CHANGED) and c.attached_exposure > ATTACHMENT_CHANGED.severity,
)

# --- outcome --------------------------------------------------------------------------------------------------

UNREADABLE_RECORD = Rule(
    "unreadable-record",
    Family.OUTCOME,
    Severity.MEDIUM,
    "sgwatch could not read this security-group record, so its risk is unknown",
    "Read the attached record yourself; report its shape so sgwatch learns it.",
    lambda c: c.unreadable,
)
DENIED_ATTEMPT = Rule(
    "denied-attempt",
    Family.OUTCOME,
    Severity.MEDIUM,
    "someone tried to change a security group without permission: nothing changed, but it is a signal",
    "Check whether these credentials should be attempting this; a denied attempt can be an attacker probing.",
    lambda c: (
        _failed(c)
        and c.record is not None
        and c.record.error_code in DENIED_ERROR_CODES
        and c.record.event.denial_is_signal
    ),
)
FAILED_CALL = Rule(
    "failed-call",
    Family.OUTCOME,
    Severity.LOW,
    "a security-group call failed (invalid parameters, a duplicate rule, an expired request): nothing changed",
    "Nothing to do unless it repeats.",
    _failed,
)

# --- tamper: the blinding's own severity decides, so the catalogue and the rules cannot disagree ----------------


def _blinding(context: Context, severity: Severity) -> bool:
    tamper = context.tamper
    return tamper is not None and tamper.blinding is not None and tamper.blinding.severity is severity


MONITOR_STOPPED = Rule(
    "monitor-stopped",
    Family.TAMPER,
    Severity.CRITICAL,
    "sgwatch is blind until it is undone: changes made meanwhile are not seen, or not alerted",
    "Undo it now unless this is a planned removal of sgwatch, and find out who did it and why.",
    lambda c: _blinding(c, Severity.CRITICAL),
)
MONITOR_WEAKENED = Rule(
    "monitor-weakened",
    Family.TAMPER,
    Severity.HIGH,
    "part of what sgwatch sees or says is gone until it is undone",
    "Undo it unless it was a planned change to sgwatch or the trail, and find out who did it and why.",
    lambda c: _blinding(c, Severity.HIGH),
)
MONITOR_RESTORED = Rule(
    "monitor-restored",
    Family.TAMPER,
    Severity.INFO,
    "a trail, recorder or sgwatch rule was started or enabled again",
    "Nothing to do; check that nothing was missed while it was off (sgwatch history).",
    lambda c: c.tamper is not None and c.tamper.blinding is Blinding.RESTORED,
)
MONITOR_SETTING_CHANGED = Rule(
    "monitor-setting-changed",
    Family.TAMPER,
    Severity.INFO,
    "a setting of a trail, a recorder or sgwatch changed without taking away what sgwatch needs",
    "Nothing to do.",
    lambda c: c.tamper is not None,
)
TAMPER_DENIED = Rule(
    "tamper-denied",
    Family.TAMPER_OUTCOME,
    Severity.MEDIUM,
    "someone tried to blind the monitor without permission: nothing changed, but it is an attempt",
    "Find out why these credentials tried it; an attacker disables monitoring before acting.",
    lambda c: c.tamper is not None and c.tamper.failed and c.tamper.error_code in DENIED_ERROR_CODES,
)
TAMPER_FAILED = Rule(
    "tamper-failed",
    Family.TAMPER_OUTCOME,
    Severity.LOW,
    "a call that could blind the monitor failed: nothing changed",
    "Nothing to do unless it repeats.",
    lambda c: c.tamper is not None and c.tamper.failed,
)

#: The registry, in evaluation order within each family.
RULES: tuple[Rule, ...] = (
    RULE_REVOKED,
    DESCRIPTION_UPDATED,
    EGRESS_ADDED,
    WORLD_ALL_TRAFFIC,
    WORLD_SENSITIVE_PORT,
    WORLD_ICMP,
    WORLD_WEB_PORT,
    WORLD_OTHER_PORT,
    BROAD_PUBLIC_SENSITIVE_PORT,
    BROAD_PUBLIC_OTHER_PORT,
    PUBLIC_ALL_TRAFFIC,
    INGRESS_ADDED,
    GROUP_CREATED,
    GROUP_DELETED,
    ATTACHMENT_CHANGED,
    PREFIX_LIST_WORLD_ENTRY,
    PREFIX_LIST_BROAD_ENTRY,
    PREFIX_LIST_RESTORED,
    PREFIX_LIST_ENTRIES_ADDED,
    PREFIX_LIST_NOTHING_ADDED,
    DEFAULT_GROUP_INGRESS,
    OPEN_GROUP_ATTACHED,
    UNREADABLE_RECORD,
    DENIED_ATTEMPT,
    FAILED_CALL,
    MONITOR_STOPPED,
    MONITOR_WEAKENED,
    MONITOR_RESTORED,
    MONITOR_SETTING_CHANGED,
    TAMPER_DENIED,
    TAMPER_FAILED,
)


def first_rule(family: Family, context: Context) -> Rule | None:
    """The first rule of `family`, in declared order, that applies to `context`."""
    return next((rule for rule in RULES if rule.family is family and rule.applies(context)), None)
