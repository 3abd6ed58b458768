"""`sgwatch scan` on an emulated account of thousands of groups: time to read and judge, and the EC2 requests.

    python -m bench.scan_inventory [--groups 5000] [--rules-per-group 10] [--runs 3]

The account (moto, in process) holds N groups of R inbound rules each: one in ten open to the world on a sensitive
port, the rest from private ranges; one group in four used by a network interface. moto answers each describe in one
page whatever the page size, so the requests AWS would need are also computed from EC2's page sizes (1,000 rules,
groups or interfaces a page). Prints the medians of --runs scans: reading (moto's share included) and judging apart.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

REGION = "eu-west-1"


def seed(ec2: Any, groups: int, rules: int) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
    for index in range(groups):
        group = ec2.create_security_group(GroupName=f"g{index}", Description="bench", VpcId=vpc)["GroupId"]
        permissions = [
            {"IpProtocol": "tcp", "FromPort": 1000 + port, "ToPort": 1000 + port,
             "IpRanges": [{"CidrIp": f"10.{port}.0.0/16"}]}
            for port in range(rules)
        ]  # fmt: skip
        if index % 10 == 0:
            permissions[0] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
        if index % 4 == 0:
            ec2.create_network_interface(SubnetId=subnet, Groups=[group])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=5000)
    parser.add_argument("--rules-per-group", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})

    import boto3
    from moto import mock_aws
    from sgwatch.core.scan import scan
    from sgwatch.runtime.inventory import PAGE_SIZES, Ec2Inventory

    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        started = time.perf_counter()
        seed(ec2, args.groups, args.rules_per_group)
        print(f"seeded {args.groups} groups, {args.groups * args.rules_per_group} inbound rules"
              f" in {time.perf_counter() - started:.0f} s (moto)")  # fmt: skip
        reads, judges = [], []
        for _ in range(args.runs):
            inventory = Ec2Inventory(ec2, "123456789012", REGION)
            started = time.perf_counter()
            snapshot = inventory.snapshot()
            read = time.perf_counter() - started
            findings = scan(snapshot, today=datetime.now(UTC).date())
            reads.append(read)
            judges.append(time.perf_counter() - started - read)
    rules = len(snapshot.rules)
    egress = sum(rule.egress for rule in snapshot.rules)
    interfaces = args.groups // 4 + (1 if args.groups % 4 else 0)
    aws_requests = {
        "describe_security_group_rules": math.ceil(rules / PAGE_SIZES["describe_security_group_rules"]),
        "describe_security_groups": math.ceil(len(snapshot.groups) / PAGE_SIZES["describe_security_groups"]),
        "describe_network_interfaces": max(1, math.ceil(interfaces / PAGE_SIZES["describe_network_interfaces"])),
    }
    read, judge = statistics.median(reads), statistics.median(judges)
    print(f"read {rules} rules ({egress} outbound) of {len(snapshot.groups)} groups: median {read:.2f} s"
          f" over {args.runs} runs (moto answering, in process)")  # fmt: skip
    print(f"judged {len(findings)} inbound rules: median {judge:.2f} s ({judge / max(1, len(findings)) * 1e6:.0f} us"
          f" a rule)")  # fmt: skip
    print(f"EC2 requests made on moto: {sum(inventory.calls.values())} ({dict(inventory.calls)})")
    print(f"EC2 requests AWS would need at its page sizes: {sum(aws_requests.values())} ({aws_requests})")
    print(
        "scaling: requests grow with rules/1,000 + groups/1,000 + interfaces/1,000 per region; judging is linear"
        " in the rules"
    )


if __name__ == "__main__":
    main()
