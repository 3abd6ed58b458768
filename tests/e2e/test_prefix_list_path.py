"""Prefix lists in the function under moto: an edit that opens a referenced group is rated on the group's rule and
names it; a rule whose source is a list is rated by the list's entries; without the facts, the entries alone decide.
moto lacks GetManagedPrefixListAssociations: sgwatch.emulation answers it from moto's own rules (the test account's
clients are the emulation's)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from botocore.stub import Stubber
from sgwatch.core import names
from sgwatch.runtime import handler

from tests.conftest import CONSTRUCTED, load
from tests.e2e.conftest import ACCOUNT, REGION, LambdaContext, World, emf_metrics, eventbridge, sqs_event

ADD_WORLD = load(CONSTRUCTED / "modify_managed_prefix_list_add_world.json")
RULE_TO_LIST = load(CONSTRUCTED / "authorize_ingress_prefix_list_https.json")


def run(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler.lambda_handler(event, LambdaContext())
    return response


def _office_list(world: World, port: int = 22) -> str:
    """A customer-managed list holding the office range, referenced by an inbound rule of the app group."""
    list_id: str = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=10, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    world.ec2.authorize_security_group_ingress(
        GroupId=world.app_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "PrefixListIds": [{"PrefixListId": list_id}]}
        ],
    )
    return list_id


def _add_world(world: World, list_id: str) -> dict[str, Any]:
    # moto forgets the list's name when a modification does not repeat it (EC2 keeps it)
    world.ec2.modify_managed_prefix_list(
        PrefixListId=list_id, PrefixListName="office", CurrentVersion=1, AddEntries=[{"Cidr": "0.0.0.0/0"}]
    )
    record: dict[str, Any] = copy.deepcopy(ADD_WORLD)
    record["requestParameters"]["ModifyManagedPrefixListRequest"]["PrefixListId"] = list_id
    record.update(eventID=str(uuid.uuid4()), recipientAccountId=ACCOUNT, awsRegion=REGION)
    return record


def test_a_world_entry_opening_a_referenced_ssh_rule_is_critical_and_names_the_group(world: World) -> None:
    list_id = _office_list(world)
    assert run(sqs_event(eventbridge(_add_world(world, list_id)))) == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert alert["Subject"] == f"CRITICAL: {list_id} opens 22/tcp from 0.0.0.0/0 on {world.app_group}"
    assert alert["MessageAttributes"][names.ATTRIBUTE_GROUP_ID]["Value"] == world.app_group
    text = alert["Email"]
    assert (
        f"SSH (22/tcp) opened to the whole internet (0.0.0.0/0, added to prefix list {list_id} (office)) on"
        f" {world.app_group} through rule sgr-" in text
    )
    assert f"name 'payments-app', {world.vpc_id}, used by 2 network interfaces" in text  # the group, described
    payload = json.loads(alert["Message"])
    [result] = payload["results"]
    assert result["prefixList"] == {"prefixListId": list_id, "added": ["0.0.0.0/0"], "removed": []}
    assert result["groupIds"] == [world.app_group]
    assert len(world.received(world.email_url)) == 1


def test_a_rule_whose_source_is_a_list_holding_the_world_is_rated_by_its_entries(world: World) -> None:
    list_id = _office_list(world, port=8443)
    _add_world(world, list_id)
    record = copy.deepcopy(RULE_TO_LIST)
    record["requestParameters"]["groupId"] = world.open_group
    permission = record["requestParameters"]["ipPermissions"]["items"][0]
    permission["fromPort"] = permission["toPort"] = 3389
    permission["prefixListIds"]["items"][0]["prefixListId"] = list_id
    record.update(eventID=str(uuid.uuid4()), recipientAccountId=ACCOUNT, awsRegion=REGION)
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "CRITICAL"
    assert f"the entries of prefix list {list_id} (office)" in alert["Email"]


def test_an_aws_managed_list_is_named_and_not_the_world(world: World) -> None:
    s3 = next(
        pl for pl in world.ec2.describe_managed_prefix_lists()["PrefixLists"] if pl["PrefixListName"].endswith(".s3")
    )
    record = copy.deepcopy(RULE_TO_LIST)
    record["requestParameters"]["groupId"] = world.app_group
    record["requestParameters"]["ipPermissions"]["items"][0]["prefixListIds"]["items"][0]["prefixListId"] = s3[
        "PrefixListId"
    ]
    record.update(eventID=str(uuid.uuid4()), recipientAccountId=ACCOUNT, awsRegion=REGION)
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "LOW"
    assert f"{s3['PrefixListName']}) is managed by AWS: addresses of an AWS service, not the internet" in alert["Email"]


def test_without_the_lists_facts_the_edit_is_rated_by_its_entries_and_the_failure_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    list_id = _office_list(world)
    record = _add_world(world, list_id)
    with Stubber(world.clients.home["ec2"]) as stubber:
        stubber.add_client_error("describe_managed_prefix_lists", "UnauthorizedOperation", "You are not authorized")
        run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH"
    assert alert["Subject"] == f"HIGH: ModifyManagedPrefixList on prefix list {list_id}"
    assert "exposure depends on the rules that reference this list" in alert["Email"]
    assert names.METRIC_ENRICHMENT_FAILURES in {name for name, _, _ in emf_metrics(capsys.readouterr().out)}
