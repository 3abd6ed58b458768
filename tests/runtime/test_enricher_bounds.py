"""The enricher's work is bounded by what it may describe, not by what a record names: a hostile denied call can
name thousands of well-formed group ids that do not exist (the record is the attacker's), and describing each alone
would outlast the function's timeout. Runs on moto's EC2, which answers unknown ids as EC2 does
(InvalidGroup.NotFound)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from sgwatch.runtime import aws
from sgwatch.runtime.aws import MAX_GROUPS_DESCRIBED, Ec2Enricher

REGION = "eu-west-1"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def counted(client: Any) -> Counter[str]:
    """Count the client's API calls by operation name."""
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.ec2.*", lambda model, **_: calls.update([model.name]))
    return calls


def test_thousands_of_unknown_ids_cost_a_bounded_number_of_calls(ec2: Any) -> None:
    real = ec2.create_security_group(GroupName="app", Description="app")["GroupId"]
    unknown = [f"sg-{index:08x}" for index in range(5_000)]
    calls = counted(ec2)
    facts = Ec2Enricher(ec2).facts([real, *unknown])
    assert set(facts) == {real, *unknown}  # every group is answered for, described or not
    assert not facts[real].error
    assert sum(calls.values()) <= 1 + MAX_GROUPS_DESCRIBED * 3  # one failed describe, then each alone at most
    not_described = [gid for gid in unknown if "more than" in facts[gid].error]
    assert len(not_described) == len(unknown) + 1 - MAX_GROUPS_DESCRIBED


def test_a_denied_describe_is_not_retried_group_by_group(ec2: Any) -> None:
    groups = [ec2.create_security_group(GroupName=f"g{i}", Description="g")["GroupId"] for i in range(20)]
    calls = counted(ec2)

    def deny(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DescribeSecurityGroups")

    ec2.meta.events.register("before-call.ec2.DescribeSecurityGroups", deny)
    facts = Ec2Enricher(ec2).facts(groups)
    assert calls["DescribeSecurityGroups"] == 1
    assert all("UnauthorizedOperation" in facts[gid].error for gid in groups)


def test_one_deleted_group_does_not_hide_the_others(ec2: Any) -> None:
    kept = ec2.create_security_group(GroupName="kept", Description="k")["GroupId"]
    deleted = ec2.create_security_group(GroupName="gone", Description="g")["GroupId"]
    ec2.delete_security_group(GroupId=deleted)
    facts = Ec2Enricher(ec2).facts([kept, deleted])
    assert not facts[kept].error
    assert facts[deleted].error


def test_a_batchs_groups_cost_three_calls_whatever_their_number(ec2: Any) -> None:
    """One DescribeSecurityGroups, one DescribeNetworkInterfaces and one DescribeSecurityGroupRules for all the groups
    of a place (filters take several group ids), and each group's count is its own."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    groups = [ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"] for i in range(8)]
    for index, group in enumerate(groups):
        for _ in range(index % 3):
            ec2.create_network_interface(SubnetId=subnet, Groups=[group])
    ec2.create_network_interface(SubnetId=subnet, Groups=groups[:2])  # one interface behind two groups
    calls = counted(ec2)
    facts = Ec2Enricher(ec2).facts(groups)
    assert calls == Counter(
        {"DescribeSecurityGroups": 1, "DescribeNetworkInterfaces": 1, "DescribeSecurityGroupRules": 1}
    )
    assert [facts[group].interface_count for group in groups] == [1, 2, 2, 0, 1, 2, 0, 1]
    assert all(len(facts[group].egress_rule_ids) == 1 for group in groups)  # the default allow-all egress rule


def test_a_group_with_many_interfaces_does_not_crowd_out_anothers_count(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "_MAX_INTERFACES_COUNTED", 2)  # each group's count stops at 2, as at 1,000 in AWS
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    crowded, quiet = (ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in "ab")
    for _ in range(5):
        ec2.create_network_interface(SubnetId=subnet, Groups=[crowded])
    ec2.create_network_interface(SubnetId=subnet, Groups=[quiet])
    facts = Ec2Enricher(ec2).facts([crowded, quiet])
    assert (facts[crowded].interface_count, facts[quiet].interface_count) == (2, 1)


def test_one_unknown_prefix_list_does_not_hide_the_others(ec2: Any) -> None:
    """EC2 refuses a DescribeManagedPrefixLists that names an unknown id (moto leaves it out instead): the lists are
    then asked for one by one."""
    known = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    unknown = "pl-0123456789abcdef0"

    def refuse_several(params: dict[str, Any], **_: Any) -> None:
        if "PrefixListId.2" in params.get("body", {}):
            raise ClientError(
                {"Error": {"Code": "InvalidPrefixListID.NotFound", "Message": "no such list"}},
                "DescribeManagedPrefixLists",
            )

    ec2.meta.events.register("before-call.ec2.DescribeManagedPrefixLists", refuse_several)
    facts = Ec2Enricher(ec2).prefix_lists([known, unknown])
    assert facts[known].entries == ("198.51.100.0/24",) and not facts[known].error
    assert facts[unknown].error
