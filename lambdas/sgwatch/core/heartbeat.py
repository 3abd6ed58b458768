"""The heartbeat: a canary makes one harmless security-group call on a schedule, in every watched region, and the
function recognises it at the end of the real path (CloudTrail, EventBridge, the buffer) instead of alerting on it.
A region whose heartbeats stop is a region sgwatch no longer sees, whatever the reason: a trail deleted, a forwarder
broken, an SCP, an outage. Pure: names, the canary's one rule, and the test that tells a heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sgwatch.core.model import SecurityGroupRecord

HEARTBEAT_CALL = "UpdateSecurityGroupRuleDescriptionsEgress"
#: The canary group's one rule: outbound to the discard port of an address in TEST-NET-1 (RFC 5737), which routes
#: nowhere, in a VPC with no subnet: it guards nothing and lets nothing out. Only its description changes.
CANARY_PROTOCOL, CANARY_PORT, CANARY_PEER = "tcp", 9, "192.0.2.1/32"
HEARTBEAT_PREFIX = "sgwatch heartbeat"
#: How long a heartbeat may take from the call to the function: CloudTrail delivers to EventBridge within minutes.
DELIVERY_ALLOWANCE_MINUTES = 15


def canary_role_name(stack_name: str, region: str) -> str:
    """The canary's role in one region (IAM is global: one name per region); the function knows a heartbeat by it."""
    return f"{stack_name}-canary-{region}"


def canary_permission(at: datetime | None = None) -> dict[str, Any]:
    """The canary group's rule as EC2 takes it; with `at`, the description a heartbeat writes."""
    description = f"{HEARTBEAT_PREFIX} {at:%Y-%m-%dT%H:%M:%SZ}" if at else HEARTBEAT_PREFIX
    return {
        "IpProtocol": CANARY_PROTOCOL,
        "FromPort": CANARY_PORT,
        "ToPort": CANARY_PORT,
        "IpRanges": [{"CidrIp": CANARY_PEER, "Description": description}],
    }


def alarm_period_minutes(interval_minutes: int) -> int:
    """The window in which at least one heartbeat must arrive: two intervals and the delivery allowance."""
    return 2 * interval_minutes + DELIVERY_ALLOWANCE_MINUTES


def _role_name(arn: str) -> str:
    """ "sgwatch-canary-eu-west-1" from arn:aws:iam::111122223333:role/[path/]sgwatch-canary-eu-west-1."""
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
    return resource.rsplit("/", 1)[-1] if resource.startswith("role/") else ""


def is_heartbeat(record: SecurityGroupRecord, stack_name: str) -> bool:
    """A successful description update by the stack's canary role that writes only heartbeat descriptions on the
    canary's one rule. Anything else, even by that role, is judged as a change."""
    role = _role_name(record.actor.issuer_arn)
    return (
        record.event.name == HEARTBEAT_CALL
        and not record.failed
        and role.startswith(canary_role_name(stack_name, ""))
        and bool(record.changes)
        and all(
            change.description.startswith(HEARTBEAT_PREFIX)
            and change.peer.address == CANARY_PEER
            and change.port_range == (CANARY_PORT, CANARY_PORT)
            for change in record.changes
        )
    )


def heartbeat_sources(instances: list[tuple[str, str]], home_account: str, home_region: str) -> list[str]:
    """What the watchdog expects a heartbeat from: each StackSet instance (account, region) as "account/region",
    but the home account's home region (its own canary, watched by its own alarm)."""
    expected = {
        f"{account}/{region}" for account, region in instances if (account, region) != (home_account, home_region)
    }
    return sorted(expected)


def missing_heartbeats(expected: list[str], counted: dict[str, float]) -> list[str]:
    """The sources with no heartbeat counted in the window, in order."""
    return [source for source in expected if counted.get(source, 0) < 1]
