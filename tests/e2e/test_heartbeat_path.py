"""The heartbeat under moto: the canary's own code makes its call on EC2 (the group's one rule keeps everything
but its description); the record CloudTrail writes of that call travels EventBridge's rule, the buffer and the
function, which counts HeartbeatReceived for its region and alerts nobody. moto has no CloudTrail delivery: the
record is built from the call's parameters in CloudTrail's shape (sgwatch.emulation.account.canary_heartbeat), the
shape of tests/fixtures/constructed/heartbeat_update_descriptions_egress_canary.json."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.classify import classify
from sgwatch.emulation.account import canary_heartbeat, run_pipeline

from tests.conftest import CONSTRUCTED, load

REGION = "eu-west-1"
AT = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def test_the_canarys_call_changes_only_a_description_and_arrives_as_a_heartbeat() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        vpc = ec2.create_vpc(CidrBlock="10.255.255.0/28")["Vpc"]["VpcId"]
        record = canary_heartbeat(ec2, vpc, AT)  # the canary's group, its real call (runtime.canary.beat), the record
        group = record["requestParameters"]["groupId"]
        [rule] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert rule["IpRanges"] == [{"CidrIp": "192.0.2.1/32", "Description": "sgwatch heartbeat 2026-12-03T10:30:00Z"}]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 9, 9)
    assert classify(load(CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json")).heartbeat  # same shape

    result = run_pipeline([record])
    assert result.delivered == 1 and result.failed_messages == 0
    assert result.metrics[names.METRIC_HEARTBEATS] == [({names.SERVICE_DIMENSION: names.SERVICE,
                                                        names.REGION_DIMENSION: REGION}, 1.0)]  # fmt: skip
    assert result.alerts == []
    assert names.METRIC_CHANGES not in result.metrics
