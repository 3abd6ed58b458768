"""What one account's region holds now, read from EC2 for `sgwatch scan`: every security-group rule, the groups, the
network interfaces that use them and the prefix lists the rules reference. An adapter: EC2's pages in, the core's
Snapshot out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from sgwatch.core.enrich import PrefixListFacts
from sgwatch.core.scan import ScannedGroup, ScannedRule, Snapshot
from sgwatch.runtime.aws import error_text

#: EC2's largest page for each call: fewer round trips on an account with 50,000 rules.
PAGE_SIZES = {
    "describe_security_group_rules": 1000,
    "describe_security_groups": 1000,
    "describe_network_interfaces": 1000,
    "get_managed_prefix_list_entries": 100,
}
#: DescribeManagedPrefixLists takes at most this many ids a call.
PREFIX_LISTS_PER_CALL = 100


class Ec2Inventory:
    """Reads one region of one account with `ec2` (a boto3 client; its retry mode handles throttling). `calls` counts
    the requests made, by operation. `on_page` is told each page read, for a progress line."""

    def __init__(self, ec2: Any, account: str, region: str, on_page: Callable[[str], object] | None = None) -> None:
        self.ec2, self.account, self.region, self.on_page = ec2, account, region, on_page
        self.calls: Counter[str] = Counter()

    def snapshot(self) -> Snapshot:
        rules = [_rule(item) for item in self._pages("describe_security_group_rules", "SecurityGroupRules")]
        groups = list(self._pages("describe_security_groups", "SecurityGroups"))
        interfaces, public, unread = self._usage()
        scanned = {}
        for item in groups:
            group_id = item["GroupId"]
            scanned[group_id] = ScannedGroup(
                group_id,
                str(item.get("OwnerId") or self.account),
                self.region,
                item.get("GroupName", ""),
                item.get("VpcId", ""),
                {tag["Key"]: tag.get("Value", "") for tag in item.get("Tags", []) if "Key" in tag},
                None if interfaces is None else interfaces[group_id],
                None if public is None else public[group_id],
            )
        lists = sorted({rule.prefix_list_id for rule in rules if rule.prefix_list_id and not rule.egress})
        facts = self._prefix_lists(lists)
        problems = (
            [f"the network interfaces could not be read ({unread}): every group is taken as used"] if unread else []
        )
        problems += [
            f"prefix list {list_id} could not be read ({facts[list_id].error}): the rules that reference it are rated"
            " without its entries"
            for list_id in lists
            if facts[list_id].error
        ]
        return Snapshot(self.account, self.region, scanned, rules, facts, bool(unread), tuple(problems))

    def _pages(self, operation: str, key: str, **parameters: Any) -> Iterator[dict[str, Any]]:
        size = PAGE_SIZES.get(operation)
        config = {"PageSize": size} if size else {}
        for page in self.ec2.get_paginator(operation).paginate(**parameters, PaginationConfig=config):
            self.calls[operation] += 1
            if self.on_page is not None:
                self.on_page(operation)
            yield from page.get(key, [])

    def _usage(self) -> tuple[Counter[str] | None, Counter[str] | None, str]:
        """How many interfaces use each group, and how many of those have a public address (a public IPv4 address
        associated with any of its private addresses, or any IPv6 address: VPC IPv6 addresses are global). When they
        cannot be read: None, None and why (every finding says so, and the rules are still judged)."""
        interfaces: Counter[str] = Counter()
        public: Counter[str] = Counter()
        try:
            for item in self._pages("describe_network_interfaces", "NetworkInterfaces"):
                associations = [
                    item.get("Association"),
                    *(a.get("Association") for a in item.get("PrivateIpAddresses", [])),
                ]
                exposed = any((found or {}).get("PublicIp") for found in associations) or bool(
                    item.get("Ipv6Addresses")
                )
                for group in item.get("Groups", []):
                    interfaces[group["GroupId"]] += 1
                    public[group["GroupId"]] += exposed
        except Exception as error:
            return None, None, error_text(error)
        return interfaces, public, ""

    def _prefix_lists(self, list_ids: list[str]) -> dict[str, PrefixListFacts]:
        found: dict[str, PrefixListFacts] = {}
        for start in range(0, len(list_ids), PREFIX_LISTS_PER_CALL):
            batch = list_ids[start : start + PREFIX_LISTS_PER_CALL]
            try:
                self.calls["describe_managed_prefix_lists"] += 1
                described = self.ec2.describe_managed_prefix_lists(PrefixListIds=batch).get("PrefixLists", [])
            except Exception as error:  # one unknown or shared id fails the call: read the others one by one
                if len(batch) > 1:
                    for list_id in batch:
                        found |= self._prefix_lists([list_id])
                else:
                    found[batch[0]] = PrefixListFacts(batch[0], error=error_text(error))
                continue
            for item in described:
                list_id = item["PrefixListId"]
                facts = PrefixListFacts(list_id, item.get("PrefixListName", ""), item.get("OwnerId", ""))
                try:
                    entries = self._pages("get_managed_prefix_list_entries", "Entries", PrefixListId=list_id)
                    found[list_id] = PrefixListFacts(
                        facts.list_id,
                        facts.name,
                        facts.owner,
                        tuple(entry["Cidr"] for entry in entries if "Cidr" in entry),
                    )
                except Exception as error:
                    found[list_id] = PrefixListFacts(list_id, facts.name, facts.owner, error=error_text(error))
        return found


def _rule(item: dict[str, Any]) -> ScannedRule:
    return ScannedRule(
        rule_id=item.get("SecurityGroupRuleId", ""),
        group_id=item.get("GroupId", ""),
        egress=bool(item.get("IsEgress")),
        protocol=str(item.get("IpProtocol", "-1")),
        from_port=item.get("FromPort"),
        to_port=item.get("ToPort"),
        cidr=item.get("CidrIpv4") or item.get("CidrIpv6") or "",
        prefix_list_id=item.get("PrefixListId", ""),
        referenced_group=(item.get("ReferencedGroupInfo") or {}).get("GroupId", ""),
        description=item.get("Description", ""),
    )
