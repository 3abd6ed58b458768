"""The heartbeat under moto: the canary's own code makes its call on EC2 (the group's one rule keeps everything
but its description); the record CloudTrail writes of that call travels EventBridge's rule, the buffer and the
function, which counts HeartbeatReceived for its region and alerts nobody. moto has no CloudTrail delivery: the
record is built from the call's parameters in CloudTrail's shape (tests/fixtures/constructed/README.md)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.heartbeat import canary_permission
from sgwatch.emulation.account import run_pipeline
from sgwatch.runtime.canary import beat

from tests.conftest import CONSTRUCTED, load

REGION = "eu-west-1"
AT = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def _as_cloudtrail(params: dict[str, Any]) -> dict[str, Any]:
    """The record of the canary's call: the constructed heartbeat record with the call's own parameters."""
    record: dict[str, Any] = copy.deepcopy(load(CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json"))
    [permission] = params["IpPermissions"]
    record["requestParameters"] = {
        "groupId": params["GroupId"],
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": permission["IpProtocol"],
                    "fromPort": permission["FromPort"],
                    "toPort": permission["ToPort"],
                    "groups": {},
                    "ipRanges": {
                        "items": [
                            {"cidrIp": r["CidrIp"], "description": r["Description"]} for r in permission["IpRanges"]
                        ]
                    },
                    "ipv6Ranges": {},
                    "prefixListIds": {},
                }
            ]
        },
    }
    return record


def test_the_canarys_call_changes_only_a_description_and_arrives_as_a_heartbeat() -> None:
    calls: list[dict[str, Any]] = []
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        vpc = ec2.create_vpc(CidrBlock="10.255.255.0/28")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="canary", Description="canary", VpcId=vpc)["GroupId"]
        default_egress = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[default_egress])
        ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[canary_permission()])
        ec2.meta.events.register(
            "provide-client-params.ec2.UpdateSecurityGroupRuleDescriptionsEgress",
            lambda params, **_: calls.append(copy.deepcopy(params)),
        )
        assert beat(ec2, group, AT) == {"group": group, "at": "2026-12-03T10:30:00Z"}
        [rule] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert rule["IpRanges"] == [{"CidrIp": "192.0.2.1/32", "Description": "sgwatch heartbeat 2026-12-03T10:30:00Z"}]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 9, 9)

    result = run_pipeline([_as_cloudtrail(call) for call in calls])
    assert result.delivered == 1 and result.failed_messages == 0
    assert result.metrics[names.METRIC_HEARTBEATS] == [({names.SERVICE_DIMENSION: names.SERVICE,
                                                        names.REGION_DIMENSION: REGION}, 1.0)]  # fmt: skip
    assert result.alerts == []
    assert names.METRIC_CHANGES not in result.metrics
