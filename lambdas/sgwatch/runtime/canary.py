"""The heartbeat canary's Lambda entry point: one description update on the canary group (sgwatch.core.heartbeat).
An error fails the invocation, which the canary's own alarm counts."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sgwatch.core import names
from sgwatch.core.heartbeat import canary_permission


@cache
def _ec2() -> Any:
    import boto3  # noqa: PLC0415 - built on the first invocation, once per container

    return boto3.client("ec2")


def beat(ec2: Any, group_id: str, at: datetime) -> dict[str, str]:
    """Write the heartbeat's description on the canary group's rule."""
    ec2.update_security_group_rule_descriptions_egress(GroupId=group_id, IpPermissions=[canary_permission(at)])
    return {"group": group_id, "at": f"{at:%Y-%m-%dT%H:%M:%SZ}"}


def handler(event: Any, context: Any) -> dict[str, str]:
    return beat(_ec2(), os.environ[names.ENV_CANARY_GROUP], datetime.now(UTC))
