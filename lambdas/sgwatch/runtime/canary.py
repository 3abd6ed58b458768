"""The heartbeat canary's Lambda code: one description update on the canary group's one rule (see
sgwatch.core.heartbeat, which recognises it). Self-contained, standard library and boto3 only: the stack ships this
file inline (a StackSet's members cannot read the central account's assets). An error fails the invocation, which
the canary's own alarm counts."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

#: As sgwatch.core (names.ENV_CANARY_GROUP, heartbeat.canary_permission) has them; a contract test holds them equal.
GROUP_VARIABLE = "SGWATCH_CANARY_GROUP"
PROTOCOL, PORT, PEER, PREFIX = "tcp", 9, "192.0.2.1/32", "sgwatch heartbeat"

_clients: dict[str, Any] = {}


def permission(at: datetime) -> dict[str, Any]:
    """The canary rule, with the heartbeat's description."""
    described = {"CidrIp": PEER, "Description": f"{PREFIX} {at:%Y-%m-%dT%H:%M:%SZ}"}
    return {"IpProtocol": PROTOCOL, "FromPort": PORT, "ToPort": PORT, "IpRanges": [described]}


def beat(ec2: Any, group_id: str, at: datetime) -> dict[str, str]:
    """Write the heartbeat's description on the canary group's rule."""
    ec2.update_security_group_rule_descriptions_egress(GroupId=group_id, IpPermissions=[permission(at)])
    return {"group": group_id, "at": f"{at:%Y-%m-%dT%H:%M:%SZ}"}


def handler(event: Any, context: Any) -> dict[str, str]:
    if "ec2" not in _clients:  # once per container, at the first invocation
        import boto3  # noqa: PLC0415

        _clients["ec2"] = boto3.client("ec2")
    return beat(_clients["ec2"], os.environ[GROUP_VARIABLE], datetime.now(UTC))
