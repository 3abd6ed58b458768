"""The normalised form of a security-group record: what changed, by whom, where."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sgwatch.core.addresses import Peer
from sgwatch.core.events import MonitoredEvent


class Action(Enum):
    ADD = "add"
    REVOKE = "revoke"
    MODIFY = "modify"  # an existing rule rewritten (ModifySecurityGroupRules)
    DESCRIBE = "describe"  # description only


class Direction(Enum):
    INGRESS = "ingress"
    EGRESS = "egress"
    UNSTATED = "unstated"  # the record names only a rule id


PROTOCOL_NAMES = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "icmpv6": "icmpv6"}


def protocol_name(raw: str) -> str:
    """ "tcp", "udp", "icmp", "icmpv6", "all", or the IANA number for any other protocol."""
    text = raw.strip().lower()
    if text.isdigit():  # EC2 accepts "06" for 6 (tcp)
        text = str(int(text))
    return PROTOCOL_NAMES.get(text, text)


def rule_shape(protocol: str, from_port: int | None, to_port: int | None, source: str) -> tuple[object, ...]:
    """What a rule allows, comparable between a record, its response and EC2's description: -1 for every port."""
    first = from_port if from_port is not None and from_port >= 0 else -1
    last = to_port if to_port is not None and to_port >= 0 else -1
    return (protocol, first, last, source)


@dataclass(frozen=True)
class RuleChange:
    """One rule added, revoked, rewritten or re-described, with one peer."""

    action: Action
    direction: Direction
    protocol: str  # see protocol_name
    from_port: int | None  # None or -1: every port (TCP/UDP) or every type (ICMP)
    to_port: int | None
    peer: Peer
    group_id: str = ""
    rule_id: str = ""
    description: str = ""

    @property
    def port_range(self) -> tuple[int, int]:
        """The TCP/UDP ports covered, 0-65535 when the record gives none or -1."""
        if self.from_port is None or self.from_port < 0:
            return (0, 65535)
        to_port = self.to_port if self.to_port is not None and self.to_port >= 0 else self.from_port
        return (min(self.from_port, to_port), max(self.from_port, to_port))

    @property
    def covers_all_ports(self) -> bool:
        return self.protocol == "all" or (self.protocol in ("tcp", "udp") and self.port_range == (0, 65535))

    def ports_label(self) -> str:
        """For example "22/tcp", "8000-8100/tcp", "all traffic", "all ICMP", "ICMP type 8"."""
        if self.protocol == "all":
            return "all traffic"
        if not self.protocol:
            return "ports not in the record"
        if self.protocol in ("tcp", "udp"):
            first, last = self.port_range
            if (first, last) == (0, 65535):
                return f"all {self.protocol.upper()} ports"
            return f"{first}/{self.protocol}" if first == last else f"{first}-{last}/{self.protocol}"
        if self.protocol in ("icmp", "icmpv6"):
            name = self.protocol.upper().replace("V6", "v6")
            if self.from_port is None or self.from_port < 0:
                return f"all {name}"
            return f"{name} type {self.from_port}"
        return f"IP protocol {self.protocol}"

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "action": self.action.value,
            "direction": self.direction.value,
            "protocol": self.protocol,
            "ports": self.ports_label(),
            "fromPort": self.from_port,
            "toPort": self.to_port,
            "peer": self.peer.address,
            "peerKind": self.peer.kind.value,
        }
        if self.peer.written:
            result["peerAsWritten"] = self.peer.written
        if self.peer.via:
            result["peerVia"] = self.peer.via
        if self.group_id:
            result["groupId"] = self.group_id
        if self.rule_id:
            result["ruleId"] = self.rule_id
        if self.description:
            result["description"] = self.description
        return result


@dataclass(frozen=True)
class Actor:
    """Who made the call."""

    name: str  # short form: "assumed-role/Admin/alice", "user/bob", "root", "eks.amazonaws.com"
    arn: str = ""
    account: str = ""
    via: str = ""  # "console", "Terraform 1.5.7", "AWS CLI 2.15", ...
    source_ip: str = ""
    user_agent: str = ""  # as the record gives it
    issuer_arn: str = ""  # the role behind an assumed-role session


#: The most entries of one prefix-list edit its JSON lists (EC2 takes at most 100 per call; a record can say anything).
SHOWN_ENTRIES = 100


@dataclass(frozen=True)
class PrefixListEdit:
    """What a call did to a managed prefix list: the ranges it added and removed, or the version it restored."""

    list_id: str  # "" when a failed create left none
    name: str = ""
    added: tuple[Peer, ...] = ()
    removed: tuple[Peer, ...] = ()
    restored: bool = False  # RestoreManagedPrefixListVersion: the record gives the version, not its entries
    restored_version: int | None = None  # the version a restore names, when it is a number

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {"prefixListId": self.list_id}
        if self.name:
            result["name"] = self.name
        for key, peers in (("added", self.added), ("removed", self.removed)):
            result[key] = [peer.address for peer in peers[:SHOWN_ENTRIES]]
            if len(peers) > SHOWN_ENTRIES:  # the JSON stays bounded whatever a record holds; the count says the rest
                result[f"{key}Total"] = len(peers)
        if self.restored:
            result["restoredVersion"] = self.restored_version
        return result


@dataclass(frozen=True)
class SecurityGroupRecord:
    """A CloudTrail record of a monitored call, normalised."""

    event: MonitoredEvent
    event_id: str
    event_time: str
    account: str
    region: str
    actor: Actor
    error_code: str = ""
    error_message: str = ""
    group_ids: tuple[str, ...] = ()
    group_name: str = ""  # when the call named the group instead of (or as well as) its id
    vpc_id: str = ""
    target: str = ""  # the instance or network interface whose groups were replaced
    changes: tuple[RuleChange, ...] = field(default=())
    prefix_list: PrefixListEdit | None = None  # a managed prefix list's edit: it reaches the groups that reference it

    @property
    def failed(self) -> bool:
        return bool(self.error_code)
