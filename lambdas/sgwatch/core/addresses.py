"""What an address range in a rule means: the whole internet, a broad public range, or a private one."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PeerKind(Enum):
    WORLD = "world"
    BROAD_PUBLIC = "broad-public"
    PUBLIC = "public"
    PRIVATE = "private"
    PREFIX_LIST = "prefix-list"
    SECURITY_GROUP = "security-group"
    UNKNOWN = "unknown"  # a rule named only by its id: the record does not say what it allows


#: Ranges that do not route on the internet. A range inside one of these is private.
PRIVATE_RANGES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(text)
    for text in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598 shared address space (carrier-grade NAT, often used inside VPCs)
        "169.254.0.0/16",  # link-local
        "127.0.0.0/8",  # loopback
        "fc00::/7",  # unique local addresses
        "fe80::/10",  # link-local
        "::1/128",  # loopback
    )
)

#: Wider than this prefix (a shorter prefix length) and not wholly private is "broad public": an IPv4 /16 is 65,536
#: addresses; an IPv6 /48 is one site's allocation (a /32 is a whole provider, 2^96 addresses). Judged on the union of
#: a change's ranges, so splitting a range does not make it narrower.
BROAD_PREFIX = {4: 16, 6: 48}
#: The internet by family: every IPv4 address, and IPv6's global unicast space (2000::/3), the rest of IPv6 being
#: reserved, link-local, unique-local or multicast. Half of it or more, in one range or a union, is "the world": a
#: /1 leaves out no attacker worth naming.
INTERNET: dict[int, IPNetwork] = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("2000::/3")}
WORLD_SHARE = 0.5


@dataclass(frozen=True)
class Peer:
    """The other side of a rule: where traffic may come from (ingress) or go to (egress)."""

    kind: PeerKind
    address: str  # canonical network, prefix-list id, group id, or "" when unknown
    written: str = ""  # the address as the record wrote it, when it differs from the canonical one
    together: str = ""  # the other ranges of the same change whose union made this one as open as it is
    via: str = ""  # how the range is reached when a rule names it indirectly: "the entries of prefix list pl-..."

    @property
    def is_cidr(self) -> bool:
        return self.kind in (PeerKind.WORLD, PeerKind.BROAD_PUBLIC, PeerKind.PUBLIC, PeerKind.PRIVATE)

    def describe(self) -> str:
        """A phrase for a person, e.g. "the whole internet (0.0.0.0/0)"."""
        shown = self.address if not self.written else f"{self.written}, read as {self.address}"
        if self.together:
            shown += f", with {self.together}" + ("" if self.via else " in the same change")
        if self.via:
            shown += f", {self.via}"
        if self.kind is PeerKind.WORLD and (self.together or not self.address.endswith("/0")):
            return f"half of the internet or more ({shown})"
        if self.kind is PeerKind.WORLD:
            return f"the whole internet ({shown})"
        if self.kind is PeerKind.BROAD_PUBLIC:
            return f"a broad public range ({shown}, {address_count(self.address)} addresses)"
        if self.kind is PeerKind.PUBLIC:
            return f"public range {shown}"
        if self.kind is PeerKind.PRIVATE:
            return f"private range {shown}"
        if self.kind is PeerKind.PREFIX_LIST:
            return f"prefix list {self.address}"
        if self.kind is PeerKind.SECURITY_GROUP:
            return f"members of security group {self.address}"
        return "a source the record does not state"


#: The most ranges a sentence names before "and N more": a record can hold thousands.
SHOWN_RANGES = 5


def listed(addresses: Sequence[str], limit: int = SHOWN_RANGES) -> str:
    """ "a, b, c", or the first `limit` and how many more."""
    shown = ", ".join(addresses[:limit])
    return f"{shown} and {len(addresses) - limit} more" if len(addresses) > limit else shown


#: How open each public kind is, to compare them.
OPENNESS = {PeerKind.PUBLIC: 1, PeerKind.BROAD_PUBLIC: 2, PeerKind.WORLD: 3}


def most_open(peers: Sequence[Peer], via: str = "") -> Peer | None:
    """The most open of the public ranges among `peers`, judged together as one change's: its kind is the union's
    (by address family), and `together` names the others when their union made it more open than it is alone.
    None when no range is public."""
    best: Peer | None = None
    for version in (4, 6):
        public = [
            peer for peer in peers if peer.kind in OPENNESS and ipaddress.ip_network(peer.address).version == version
        ]
        if not public:
            continue
        widest = max(public, key=lambda peer: ipaddress.ip_network(peer.address).num_addresses)
        kind = union_kind([ipaddress.ip_network(peer.address) for peer in public])
        together = listed([peer.address for peer in public if peer is not widest])
        raised = OPENNESS[kind] > OPENNESS[widest.kind]
        candidate = replace(widest, kind=kind, together=together if raised else "", via=via)
        if best is None or OPENNESS[candidate.kind] > OPENNESS[best.kind]:
            best = candidate
    return best


def address_count(cidr: str) -> str:
    """The number of addresses in a range, readable: "16,777,216" or "2^96"."""
    network = ipaddress.ip_network(cidr)
    size = network.num_addresses
    return f"{size:,}" if size < 10**12 else f"2^{network.max_prefixlen - network.prefixlen}"


def is_wholly_private(network: IPNetwork, extra_private: tuple[IPNetwork, ...] = ()) -> bool:
    return any(
        network.version == private.version and network.subnet_of(private)  # type: ignore[arg-type]
        for private in PRIVATE_RANGES + extra_private
    )


@lru_cache(maxsize=4096)  # a log repeats the same few ranges; bounded, whatever a hostile input holds
def classify_cidr(text: str, extra_private: tuple[IPNetwork, ...] = ()) -> Peer:
    """Read a CIDR by its network: "10.20.30.40/0" is the whole internet.

    Raises ValueError naming the text when it is not an IPv4 or IPv6 range.
    """
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address range: {text!r}") from None
    canonical = str(network)
    written = text.strip() if text.strip() != canonical else ""
    if network.prefixlen == 0:
        kind = PeerKind.WORLD
    elif is_wholly_private(network, extra_private):
        kind = PeerKind.PRIVATE
    else:
        kind = union_kind([network])
    return Peer(kind, canonical, written)


def union_kind(networks: list[IPNetwork]) -> PeerKind:
    """How open a set of ranges of one family is, by the address space they cover together: WORLD for half of the
    internet or more, BROAD_PUBLIC for more than a /16 (IPv4) or a /48 (IPv6), PUBLIC otherwise."""
    version = networks[0].version
    internet = INTERNET[version]
    merged = list(ipaddress.collapse_addresses(networks))  # type: ignore[type-var]
    covered = sum(_overlap(network, internet) for network in merged)
    if covered >= internet.num_addresses * WORLD_SHARE:
        return PeerKind.WORLD
    size = sum(network.num_addresses for network in merged)
    if size > 2 ** (internet.max_prefixlen - BROAD_PREFIX[version]):
        return PeerKind.BROAD_PUBLIC
    return PeerKind.PUBLIC


def _overlap(network: IPNetwork, internet: IPNetwork) -> int:
    """How many of network's addresses are internet addresses."""
    if network.subnet_of(internet):  # type: ignore[arg-type]
        return network.num_addresses
    if internet.subnet_of(network):  # type: ignore[arg-type]
        return internet.num_addresses
    return 0
