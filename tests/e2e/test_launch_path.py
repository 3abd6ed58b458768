"""A host launched behind a group open to the world, in the function under moto: LOW by the record, HIGH once EC2
says what the group allows, with the instance named."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
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
        in alert["Email"]
    )
    assert len(world.received(world.email_url)) == 1


def test_a_launch_behind_a_private_group_stays_low(world: World) -> None:
    handler.lambda_handler(sqs_event(eventbridge(_launched(world, world.app_group))), LambdaContext())
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "LOW"
    assert world.received(world.email_url) == []


#: Each call that puts groups in front of a resource, and where its record names the group, to put the account's
#: world-open group there.
PLACED = {
    "create_network_interface_default_group.json": ("responseElements", "networkInterface", "groupSet", "items"),
    "create_vpc_endpoint_security_group.json": ("requestParameters", "CreateVpcEndpointRequest", "SecurityGroupId"),
    "create_vpc_endpoint_default_group.json": ("responseElements", "CreateVpcEndpointResponse", "vpcEndpoint",
                                               "groupSet", "item"),
    "modify_vpc_endpoint_add_security_groups.json": ("requestParameters", "ModifyVpcEndpointRequest",
                                                      "AddSecurityGroupId"),
    "associate_security_group_vpc.json": ("requestParameters", "AssociateSecurityGroupVpcRequest", "GroupId"),
    "create_launch_template_security_groups.json": ("requestParameters", "CreateLaunchTemplateRequest",
                                                     "LaunchTemplateData", "SecurityGroupId"),
    "create_launch_template_version_interface_groups.json": ("requestParameters",
                                                              "CreateLaunchTemplateVersionRequest",
                                                              "LaunchTemplateData", "NetworkInterface",
                                                              "SecurityGroupId"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PLACED))
def test_each_call_that_puts_a_world_open_group_in_front_of_a_resource_is_high(world: World, name: str) -> None:
    record: dict[str, Any] = copy.deepcopy(load(CONSTRUCTED / name))
    *path, last = PLACED[name]
    parent = record
    for step in path:
        parent = parent[step]
    written = {  # as each call writes a group
        "items": [{"groupId": world.open_group}],
        "item": {"groupId": world.open_group},
        "GroupId": world.open_group,
    }
    parent[last] = written.get(last, {"content": world.open_group, "tag": 1})
    record.update(eventID=str(uuid.uuid4()), recipientAccountId=ACCOUNT, awsRegion=REGION)
    assert handler.lambda_handler(sqs_event(eventbridge(record)), LambdaContext()) == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH", alert["Message"][:400]
    assert (
        f"{world.open_group}, which has SSH (22/tcp) opened to the whole internet (0.0.0.0/0), now guards"
        in alert["Email"]
    )
