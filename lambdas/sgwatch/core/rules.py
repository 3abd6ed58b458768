"""The severity model as data: each verdict sgwatch can reach, with its severity, why, and what to do."""

from __future__ import annotations

from dataclasses import dataclass

from sgwatch.core.severity import Severity


@dataclass(frozen=True)
class SeverityRule:
    name: str
    severity: Severity
    rationale: str
    advice: str


SEVERITY_RULES: tuple[SeverityRule, ...] = (
    SeverityRule(
        "world-all-traffic",
        Severity.CRITICAL,
        "every port of every protocol is reachable from any address on the internet",
        "Revoke the rule now unless it was approved; find who needs what and open only that, to known ranges.",
    ),
    SeverityRule(
        "world-sensitive-port",
        Severity.CRITICAL,
        "a service that must never face the internet is reachable from any address",
        "Revoke the rule now; reach the service through a VPN, Session Manager or a private network instead.",
    ),
    SeverityRule(
        "world-other-port",
        Severity.HIGH,
        "a non-web port is reachable from any address on the internet",
        "Confirm the service is meant to be public; otherwise restrict the source to known ranges.",
    ),
    SeverityRule(
        "broad-public-sensitive-port",
        Severity.HIGH,
        "a sensitive service is reachable from a public range wider than a /16 (IPv4) or /32 (IPv6)",
        "Narrow the source to the addresses that need it, or reach the service privately.",
    ),
    SeverityRule(
        "default-group-ingress",
        Severity.HIGH,
        "the VPC's default security group should allow no inbound traffic: resources land in it by accident",
        "Revoke the rule and put the resource in a dedicated group (CIS: default groups restrict all traffic).",
    ),
    SeverityRule(
        "open-group-attached",
        Severity.HIGH,
        "a group that is open to the internet now guards one more instance or network interface",
        "Check that the resource is meant to be reachable from the internet; otherwise attach a narrower group.",
    ),
    SeverityRule(
        "unreadable-record",
        Severity.MEDIUM,
        "sgwatch could not read this security-group record, so its risk is unknown",
        "Read the attached record yourself; report its shape so sgwatch learns it.",
    ),
    SeverityRule(
        "denied-attempt",
        Severity.MEDIUM,
        "someone tried to change a security group without permission: nothing changed, but it is a signal",
        "Check whether these credentials should be attempting this; a denied attempt can be an attacker probing.",
    ),
    SeverityRule(
        "broad-public-other-port",
        Severity.MEDIUM,
        "a port is reachable from a public range wider than a /16 (IPv4) or /32 (IPv6)",
        "Narrow the source to the addresses that need it.",
    ),
    SeverityRule(
        "world-web-port",
        Severity.LOW,
        "web ports (80, 443) are meant to face the internet, for example on a load balancer",
        "Nothing to do if this group fronts a public web service.",
    ),
    SeverityRule(
        "world-icmp",
        Severity.LOW,
        "ICMP from the internet makes hosts answer ping and path-MTU discovery; it opens no service port",
        "Nothing to do unless hosts behind this group should stay invisible.",
    ),
    SeverityRule(
        "ingress-added",
        Severity.LOW,
        "inbound access was added from a specific, private or referenced source",
        "Nothing to do if the change was planned.",
    ),
    SeverityRule(
        "egress-added",
        Severity.LOW,
        "outbound access was added: it widens where a compromised host can send data",
        "Nothing to do if the change was planned.",
    ),
    SeverityRule(
        "attachment-changed",
        Severity.LOW,
        "the groups guarding an instance or network interface were replaced",
        "Check the attached groups are the intended ones.",
    ),
    SeverityRule(
        "group-deleted",
        Severity.LOW,
        "a security group was deleted: controls a workload relied on may be gone",
        "Nothing to do if the deletion was planned.",
    ),
    SeverityRule(
        "failed-call",
        Severity.LOW,
        "a security-group call failed (invalid parameters, a duplicate rule, an expired request): nothing changed",
        "Nothing to do unless it repeats.",
    ),
    SeverityRule(
        "rule-revoked",
        Severity.INFO,
        "access was removed: it narrows exposure, kept for the audit trail",
        "Nothing to do unless something broke.",
    ),
    SeverityRule(
        "description-updated",
        Severity.INFO,
        "only a rule's description changed: no traffic is allowed or blocked by it",
        "Nothing to do.",
    ),
    SeverityRule(
        "group-created",
        Severity.INFO,
        "a new group allows no inbound traffic until rules are added",
        "Nothing to do.",
    ),
)

RULE = {rule.name: rule for rule in SEVERITY_RULES}

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
