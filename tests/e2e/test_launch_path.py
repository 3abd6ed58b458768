"""A host launched behind a group open to the world, in the function under moto: LOW by the record, HIGH once EC2
says what the group allows, with the instance named."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sgwatch.core import names
from sgwatch.runtime import handler

from tests.conftest import CONSTRUCTED, load
from tests.e2e.conftest import ACCOUNT, REGION, LambdaContext, World, eventbridge, sqs_event

TEMPLATE_LAUNCH = load(CONSTRUCTED / "run_instances_launch_template_groups_in_response.json")


def _launched(world: World, group_id: str) -> dict[str, Any]:
    """An instance launched on moto behind `group_id`, and the record of the launch (groups only in the response)."""
    subnet = world.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])["Subnets"][0]
    [instance] = world.ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"], SecurityGroupIds=[group_id]
    )["Instances"]
    record: dict[str, Any] = copy.deepcopy(TEMPLATE_LAUNCH)
    [item, _] = record["responseElements"]["instancesSet"]["items"]
    item.update(instanceId=instance["InstanceId"], groupSet={"items": [{"groupId": group_id}]})
    record["responseElements"]["instancesSet"]["items"] = [item]
    record.update(eventID=str(uuid.uuid4()), recipientAccountId=ACCOUNT, awsRegion=REGION)
    return record


def test_a_launch_behind_a_world_open_ssh_group_is_high_and_names_the_instance(world: World) -> None:
    record = _launched(world, world.open_group)
    instance = record["responseElements"]["instancesSet"]["items"][0]["instanceId"]
    assert handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext()) == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH"
    assert (
        f"{world.open_group}, which has SSH (22/tcp) opened to the whole internet (0.0.0.0/0), now guards {instance}"
        in alert["Message"]
    )
    assert len(world.received(world.email_url)) == 1


def test_a_launch_behind_a_private_group_stays_low(world: World) -> None:
    handler.lambda_handler(sqs_event(eventbridge(_launched(world, world.app_group))), LambdaContext())
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "LOW"
    assert world.received(world.email_url) == []
