"""The sensitive-port catalogue: services that must never face the internet, each with why."""

from __future__ import annotations

from dataclasses import dataclass

ALL_PORTS = (0, 65535)

#: Ports that are meant to face the internet: world ingress to these alone is LOW, not HIGH.
WEB_PORTS: frozenset[int] = frozenset({80, 443})


@dataclass(frozen=True)
class SensitivePort:
    """One service in the catalogue: a port range on one transport protocol."""

    name: str
    protocol: str  # "tcp" or "udp"
    first: int
    last: int
    category: str
    reason: str

    @property
    def label(self) -> str:
        """For example "SSH (22/tcp)" or "WinRM (5985-5986/tcp)"."""
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.name} ({ports}/{self.protocol})"

    def overlaps(self, protocol: str, first: int, last: int) -> bool:
        return self.protocol == protocol and first <= self.last and self.first <= last


_ADMIN = "remote administration"
_DATA = "database, cache, search or queue"
_AMPLIFICATION = "UDP amplification"
_CONTROL = "infrastructure control plane"

_ADMIN_REASON = (
    "is remote administration, a way into the host: scanned and brute-forced from the internet within minutes"
)
_DATA_REASON = "holds data and is rarely built to face the internet; exposed instances are found and wiped or ransomed"
_AMPLIFICATION_REASON = "answers small spoofed requests with large replies: an open one is abused for DDoS"
_CONTROL_REASON = "controls containers or clusters: whoever reaches it from the internet takes over the workloads"

#: The built-in catalogue. Order is the order reasons list them in.
SENSITIVE_PORTS: tuple[SensitivePort, ...] = (
    SensitivePort("SSH", "tcp", 22, 22, _ADMIN, _ADMIN_REASON),
    SensitivePort("RDP", "tcp", 3389, 3389, _ADMIN, _ADMIN_REASON),
    SensitivePort("RDP", "udp", 3389, 3389, _ADMIN, _ADMIN_REASON),
    SensitivePort(
        "Telnet",
        "tcp",
        23,
        23,
        _ADMIN,
        "is remote administration that sends logins in clear text: scanned and brute-forced within minutes",
    ),
    SensitivePort("VNC", "tcp", 5900, 5903, _ADMIN, _ADMIN_REASON),
    SensitivePort("WinRM", "tcp", 5985, 5986, _ADMIN, _ADMIN_REASON),
    SensitivePort("FTP", "tcp", 20, 21, _ADMIN, "sends credentials in clear text and is a common way to take data out"),
    SensitivePort("SMB", "tcp", 445, 445, _ADMIN, "is file sharing with a long record of wormable remote exploits"),
    SensitivePort("NetBIOS", "tcp", 137, 139, _ADMIN, "is Windows file sharing that leaks host and user names"),
    SensitivePort("NetBIOS", "udp", 137, 138, _ADMIN, "is Windows file sharing that leaks host and user names"),
    SensitivePort("MySQL", "tcp", 3306, 3306, _DATA, _DATA_REASON),
    SensitivePort("PostgreSQL", "tcp", 5432, 5432, _DATA, _DATA_REASON),
    SensitivePort("SQL Server", "tcp", 1433, 1434, _DATA, _DATA_REASON),
    SensitivePort("Oracle", "tcp", 1521, 1521, _DATA, _DATA_REASON),
    SensitivePort("MongoDB", "tcp", 27017, 27018, _DATA, _DATA_REASON),
    SensitivePort("Redis", "tcp", 6379, 6379, _DATA, _DATA_REASON),
    SensitivePort("Memcached", "tcp", 11211, 11211, _DATA, _DATA_REASON),
    SensitivePort("Cassandra", "tcp", 9042, 9042, _DATA, _DATA_REASON),
    SensitivePort("Elasticsearch", "tcp", 9200, 9300, _DATA, _DATA_REASON),
    SensitivePort("Kafka", "tcp", 9092, 9092, _DATA, _DATA_REASON),
    SensitivePort("RabbitMQ", "tcp", 5672, 5672, _DATA, _DATA_REASON),
    SensitivePort("CouchDB", "tcp", 5984, 5984, _DATA, _DATA_REASON),
    SensitivePort("Docker API", "tcp", 2375, 2376, _CONTROL, _CONTROL_REASON),
    SensitivePort("etcd", "tcp", 2379, 2380, _CONTROL, _CONTROL_REASON),
    SensitivePort("Kubernetes API", "tcp", 6443, 6443, _CONTROL, _CONTROL_REASON),
    SensitivePort("Kubelet", "tcp", 10250, 10250, _CONTROL, _CONTROL_REASON),
    SensitivePort("Memcached", "udp", 11211, 11211, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("SNMP", "udp", 161, 161, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("NTP", "udp", 123, 123, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("DNS", "udp", 53, 53, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("SSDP", "udp", 1900, 1900, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("CLDAP", "udp", 389, 389, _AMPLIFICATION, _AMPLIFICATION_REASON),
    SensitivePort("Chargen", "udp", 19, 19, _AMPLIFICATION, _AMPLIFICATION_REASON),
)


def sensitive_ports_covered(
    protocol: str, first: int, last: int, catalogue: tuple[SensitivePort, ...] = SENSITIVE_PORTS
) -> list[SensitivePort]:
    """The catalogue entries a rule reaches. protocol "all" covers every entry."""
    if protocol == "all":
        return list(catalogue)
    return [entry for entry in catalogue if entry.overlaps(protocol, first, last)]
