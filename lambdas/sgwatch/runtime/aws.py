"""The AWS edges of the Lambda: EC2 enrichment (cached in a warm container) and SNS publishing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from sgwatch.core import names
from sgwatch.core.asff import MAX_FINDINGS_PER_REQUEST
from sgwatch.core.enrich import GroupFacts, PrefixListFacts, ReferencingRule
from sgwatch.core.errors import error_code
from sgwatch.core.model import protocol_name
from sgwatch.core.tamper import TrailFacts, captures_management_writes
from sgwatch.runtime.ports import Claim, MessageRefused

_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")
#: The most prefix lists one prefix_lists() call describes; a batch of ten records names a handful.
MAX_PREFIX_LISTS_DESCRIBED = 20
#: The most entries read of one list (EC2's own limit on a list's size is 1,000) and the most groups asked about
#: for the rules that reference it: beyond, the verdict rests on what was read, and says so in the facts.
MAX_PREFIX_LIST_ENTRIES = 1000
MAX_REFERENCING_GROUPS = 1000
_FILTER_VALUES = 200  # EC2 takes at most 200 values in one filter
_ONE_LIST_ERRORS = frozenset(
    {
        "InvalidPrefixListID.NotFound",
        "InvalidPrefixListId.NotFound",
        "InvalidPrefixListID.Malformed",
        "InvalidPrefixListId.Malformed",
    }
)
_MAX_INTERFACES_COUNTED = 1000
#: An account has at most five trails per region (CloudTrail's quota); more in an answer is not asked about.
MAX_TRAILS_DESCRIBED = 20
#: The most groups one facts() call describes (three EC2 calls each). A batch names at most ten records' groups; a
#: hostile record can name thousands, and describing them one by one would outlast the function's timeout.
MAX_GROUPS_DESCRIBED = 100
#: The describe errors that concern one group of several (deleted, or an id EC2 does not know): only then is each
#: group asked for alone. Throttling or a denial would only fail again, once per group.
_ONE_GROUP_ERRORS = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidGroupId.Malformed"})
#: SNS's answers to a message it will never take (too long, a bad attribute): the same publish would fail again.
BATCH_WRITE_LIMIT = 25  # DynamoDB's BatchWriteItem takes at most 25 requests
UNPROCESSED_RETRIES = 3
_REFUSED_MESSAGE_CODES = frozenset({"InvalidParameter", "InvalidParameterValue"})


def assumed_role_keys(sts: Any, role_arn: str, session_name: str) -> dict[str, str]:
    """Credentials of an assumed role, as the keyword arguments boto3 clients and sessions take."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def error_text(error: Exception) -> str:
    code = error_code(error)
    if code:
        message = getattr(error, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


_Facts = TypeVar("_Facts", GroupFacts, PrefixListFacts)


def _cached_or_missing(
    ids: Sequence[str], cache: Mapping[tuple[str, str, str], tuple[float, _Facts]], place: tuple[str, str], *,
    now: float, valid: re.Pattern[str], limit: int, unknown: Callable[..., _Facts], kind: tuple[str, str],
) -> tuple[dict[str, _Facts], list[str]]:  # fmt: skip
    """The facts still fresh in the cache, an error for an id EC2 would refuse or one past `limit`, and the ids left to
    ask EC2 about, each once, in order."""
    found: dict[str, _Facts] = {}
    missing: list[str] = []
    for item_id in dict.fromkeys(ids):
        cached = cache.get((*place, item_id))
        if cached and cached[0] > now:
            found[item_id] = cached[1]
        elif not valid.match(item_id):
            found[item_id] = unknown(item_id, error=f"not a {kind[0]} id that EC2 accepts")
        elif len(missing) < limit:
            missing.append(item_id)
        else:
            found[item_id] = unknown(item_id, error=f"not described: one batch named more than {limit} {kind[1]}")
    return found, missing


class Ec2Enricher:
    """Describes security groups and counts the interfaces that use them, caching answers for ttl seconds.

    The cache is short on purpose: the rules of the groups it describes are what sgwatch watches change.
    """

    def __init__(
        self, client: Any, ttl_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
        client_for: Callable[[str, str], Any] | None = None, home_account: str = "",
    ) -> None:  # fmt: skip
        self.client = client  # the function's own account and region
        self.client_for = client_for  # (region, account) -> client, for changes forwarded from elsewhere
        self.home_account = home_account
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str, str], tuple[float, GroupFacts]] = {}
        self._clients: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lists: dict[tuple[str, str, str], tuple[float, PrefixListFacts]] = {}

    def _client(self, region: str, account: str) -> Any:
        home_region = getattr(getattr(self.client, "meta", None), "region_name", "")
        same_account = not account or not self.home_account or account == self.home_account
        if ((not region or region == home_region) and same_account) or self.client_for is None:
            return self.client
        key = (region or home_region, "" if same_account else account)
        cached = self._clients.get(key)
        if cached is None or cached[0] <= self.clock():  # assumed-role credentials last an hour: renew before
            self._clients[key] = (self.clock() + 45 * 60, self.client_for(*key))
        return self._clients[key][1]

    def facts(self, group_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, GroupFacts]:
        """Facts about groups of one region and account (the change's; "" for the function's own)."""
        now = self.clock()
        try:
            client = self._client(region, account)
        except Exception as error:  # a region the SDK cannot reach ("..." in a redacted record): no facts, say why
            where = f"account {account}, region {region!r}" if account else f"region {region!r}"
            return {gid: GroupFacts(gid, error=f"{where}: {error_text(error)}") for gid in group_ids}
        found, missing = _cached_or_missing(
            group_ids, self._cache, (region, account), now=now, valid=_GROUP_ID, limit=MAX_GROUPS_DESCRIBED,
            unknown=GroupFacts, kind=("security group", "groups"),
        )  # fmt: skip
        for group_id, facts in self._describe(client, missing).items():
            found[group_id] = facts
            if not facts.error:
                self._cache[(region, account, group_id)] = (now + self.ttl_seconds, facts)
        return found

    def _describe(self, client: Any, group_ids: list[str]) -> dict[str, GroupFacts]:
        if not group_ids:
            return {}
        # The three calls are independent (the others filter by group id, and an unknown id matches nothing): asked
        # side by side, a batch waits for one EC2 round trip instead of three.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="describe") as pool:
            counted = pool.submit(self._interface_counts, client, group_ids)
            outbound = pool.submit(self._egress_rule_ids, client, group_ids)
            try:
                groups = client.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
            except Exception as error:  # AccessDenied, throttling, a deleted group: the alert goes out without facts
                if len(group_ids) > 1 and error_code(error) in _ONE_GROUP_ERRORS:
                    # one deleted group must not hide the others: each alone, its other calls only once it is found
                    return {gid: facts for one in group_ids for gid, facts in self._describe_one(client, one).items()}
                return {group_id: GroupFacts(group_id, error=error_text(error)) for group_id in group_ids}
            return self._facts(groups, group_ids, counted.result(), outbound.result())

    def _describe_one(self, client: Any, group_id: str) -> dict[str, GroupFacts]:
        try:
            groups = client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except Exception as error:
            return {group_id: GroupFacts(group_id, error=error_text(error))}
        return self._facts(
            groups, [group_id], self._interface_counts(client, [group_id]), self._egress_rule_ids(client, [group_id])
        )

    @staticmethod
    def _facts(
        groups: list[dict[str, Any]], asked: list[str], counts: dict[str, int] | None, egress: dict[str, set[str]]
    ) -> dict[str, GroupFacts]:
        described = {
            group["GroupId"]: GroupFacts(
                group_id=group["GroupId"],
                name=group.get("GroupName", ""),
                vpc_id=group.get("VpcId", ""),
                description=group.get("Description", ""),
                tags={tag["Key"]: tag.get("Value", "") for tag in group.get("Tags", [])},
                interface_count=counts.get(group["GroupId"]) if counts is not None else None,
                ingress_permissions=tuple(group.get("IpPermissions", [])),
                egress_rule_ids=frozenset(egress.get(group["GroupId"], ())),
            )
            for group in groups
        }
        for group_id in asked:
            described.setdefault(group_id, GroupFacts(group_id, error="not returned by DescribeSecurityGroups"))
        return described

    def _interface_counts(self, client: Any, group_ids: list[str]) -> dict[str, int] | None:
        """How many network interfaces use each group (at most _MAX_INTERFACES_COUNTED each): one paged call for all
        the groups; when one group's interfaces would crowd out the others' count, a call per group. None when EC2
        cannot say: the blast radius is a nice-to-have, the rest of the facts still stand."""
        if not group_ids:
            return {}
        counts = dict.fromkeys(group_ids, 0)
        budget = _MAX_INTERFACES_COUNTED * len(group_ids)
        try:
            pages = client.get_paginator("describe_network_interfaces").paginate(
                Filters=[{"Name": "group-id", "Values": group_ids}], PaginationConfig={"MaxItems": budget}
            )
            seen = 0
            for page in pages:
                for interface in page.get("NetworkInterfaces", []):
                    seen += 1
                    for group in interface.get("Groups", []):
                        if group.get("GroupId") in counts:
                            counts[group["GroupId"]] += 1
            if seen >= budget and len(group_ids) > 1:  # cut short: count each group within its own share
                return self._interface_counts_one_by_one(client, group_ids)
        except Exception:
            return None
        return {group_id: min(count, _MAX_INTERFACES_COUNTED) for group_id, count in counts.items()}

    def _interface_counts_one_by_one(self, client: Any, group_ids: list[str]) -> dict[str, int] | None:
        counts = {}
        for group_id in group_ids:
            one = self._interface_counts(client, [group_id])
            if one is None:
                return None
            counts.update(one)
        return counts

    def _egress_rule_ids(self, client: Any, group_ids: list[str]) -> dict[str, set[str]]:
        """The outbound rules' ids of each group, to tell the direction of a rule a record names only by id: one paged
        call for all the groups. Without it, such a rule stays rated as inbound, the worst case."""
        egress: dict[str, set[str]] = {}
        if not group_ids:
            return egress
        try:
            pages = client.get_paginator("describe_security_group_rules").paginate(
                Filters=[{"Name": "group-id", "Values": group_ids}],
                PaginationConfig={"MaxItems": _MAX_INTERFACES_COUNTED * len(group_ids)},
            )
            for page in pages:
                for rule in page.get("SecurityGroupRules", []):
                    if rule.get("IsEgress"):
                        egress.setdefault(rule.get("GroupId", ""), set()).add(rule["SecurityGroupRuleId"])
        except Exception:
            return {}
        return egress

    def prefix_lists(self, list_ids: Sequence[str], region: str = "", account: str = "") -> dict[str, PrefixListFacts]:
        """Managed prefix lists of one region and account: entries, owner, and the rules that reference them."""
        now = self.clock()
        try:
            client = self._client(region, account)
        except Exception as error:
            return {list_id: PrefixListFacts(list_id, error=error_text(error)) for list_id in list_ids}
        found, missing = _cached_or_missing(
            list_ids, self._lists, (region, account), now=now, valid=_PREFIX_LIST_ID,
            limit=MAX_PREFIX_LISTS_DESCRIBED, unknown=PrefixListFacts, kind=("prefix list", "prefix lists"),
        )  # fmt: skip
        if not missing:
            return found
        try:
            described = client.describe_managed_prefix_lists(PrefixListIds=missing).get("PrefixLists", [])
        except Exception as error:
            if len(missing) > 1 and error_code(error) in _ONE_LIST_ERRORS:  # one unknown id must not hide the others
                for list_id in missing:
                    found.update(self.prefix_lists([list_id], region, account))
                return found
            return found | {list_id: PrefixListFacts(list_id, error=error_text(error)) for list_id in missing}
        for prefix_list in described:
            facts = self._prefix_list(client, prefix_list)
            found[facts.list_id] = facts
            if not facts.error:
                self._lists[(region, account, facts.list_id)] = (now + self.ttl_seconds, facts)
        for list_id in missing:
            found.setdefault(list_id, PrefixListFacts(list_id, error="not returned by DescribeManagedPrefixLists"))
        return found

    def _prefix_list(self, client: Any, prefix_list: Mapping[str, Any]) -> PrefixListFacts:
        list_id = prefix_list["PrefixListId"]
        facts = PrefixListFacts(list_id, prefix_list.get("PrefixListName", ""), prefix_list.get("OwnerId", ""))
        try:
            pages = client.get_paginator("get_managed_prefix_list_entries").paginate(
                PrefixListId=list_id, PaginationConfig={"MaxItems": MAX_PREFIX_LIST_ENTRIES}
            )
            entries = tuple(entry["Cidr"] for page in pages for entry in page.get("Entries", []) if "Cidr" in entry)
        except Exception as error:
            return replace(facts, error=f"entries not read: {error_text(error)}")
        facts = replace(facts, entries=entries)
        if facts.aws_managed:  # AWS's lists are judged by what they are, not by the rules that use them
            return facts
        try:
            references, complete = self._references(client, list_id)
            return replace(facts, references=references, references_complete=complete)
        except Exception:  # the entries still rate rules that name the list; an edit stays rated by its entries
            return facts

    def _references(self, client: Any, list_id: str) -> tuple[tuple[ReferencingRule, ...], bool]:
        """The rules that name the list, found through the list's associations (the groups that use it)."""
        pages = client.get_paginator("get_managed_prefix_list_associations").paginate(
            PrefixListId=list_id, PaginationConfig={"MaxItems": MAX_REFERENCING_GROUPS}
        )
        groups = list(
            dict.fromkeys(
                association["ResourceId"]
                for page in pages
                for association in page.get("PrefixListAssociations", [])
                if str(association.get("ResourceId", "")).startswith("sg-")
            )
        )
        found: list[ReferencingRule] = []
        for start in range(0, len(groups), _FILTER_VALUES):
            rules = client.get_paginator("describe_security_group_rules").paginate(
                Filters=[{"Name": "group-id", "Values": groups[start : start + _FILTER_VALUES]}]
            )
            found += [
                ReferencingRule(
                    group_id=rule["GroupId"],
                    rule_id=rule.get("SecurityGroupRuleId", ""),
                    egress=bool(rule.get("IsEgress")),
                    protocol=protocol_name(str(rule.get("IpProtocol", "-1"))),
                    from_port=rule.get("FromPort"),
                    to_port=rule.get("ToPort"),
                )
                for page in rules
                for rule in page.get("SecurityGroupRules", [])
                if rule.get("PrefixListId") == list_id
            ]
        return tuple(found), len(groups) < MAX_REFERENCING_GROUPS


class SnsPublisher:
    """Publishes to one topic. `structured`: each message is a JSON object of per-protocol bodies (the alert topic's:
    email gets text, the other protocols JSON); otherwise every subscriber gets the message as it is (the chat
    topic's)."""

    def __init__(self, client: Any, topic_arn: str, *, structured: bool = False) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.structure = {"MessageStructure": "json"} if structured else {}

    def publish(self, subject: str, message: str, attributes: Mapping[str, Mapping[str, str]]) -> None:
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject,
                Message=message,
                MessageAttributes=attributes,
                **self.structure,
            )
        except Exception as error:
            if error_code(error) in _REFUSED_MESSAGE_CODES:
                raise MessageRefused(error_text(error)) from error
            raise


class DynamoDeduplicator:
    """Remembers which CloudTrail events were alerted, across batches and retries, for a day.

    A claim is "pending" until the alert is published, then "done". Only "done" means already alerted. A pending claim
    is another invocation's alert in flight, or the claim of one that died before publishing: the message is retried,
    and once the claim is older than `stale_seconds` (by then its invocation is certainly gone) the retry takes it over.
    """

    def __init__(
        self, client: Any, table: str, *, stale_seconds: int, keep_seconds: int = 86_400,
        clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.client, self.table = client, table
        self.keep_seconds, self.stale_seconds, self.clock, self.sleep = keep_seconds, stale_seconds, clock, sleep

    def claim(self, event_id: str) -> Claim:
        now = int(self.clock())
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    names.DEDUP_KEY: {"S": event_id},
                    "state": {"S": "pending"},
                    "claimed": {"N": str(now)},
                    names.DEDUP_EXPIRY: {"N": str(now + self.keep_seconds)},
                },
                ConditionExpression="attribute_not_exists(#key) OR (#state = :pending AND claimed < :stale)",
                ExpressionAttributeNames={"#key": names.DEDUP_KEY, "#state": "state"},
                ExpressionAttributeValues={
                    ":pending": {"S": "pending"},
                    ":stale": {"N": str(now - self.stale_seconds)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                return Claim.UNAVAILABLE
            held = getattr(error, "response", {}).get("Item", {})
            return Claim.ALERTED if held.get("state", {}).get("S") == "done" else Claim.IN_FLIGHT
        return Claim.NEW

    def done(self, event_ids: list[str]) -> None:
        """Mark the events alerted: a batch's claims in BatchWriteItem calls of 25 (a pending claim expires by
        itself, so a write that fails cannot cause a loss, only a duplicate)."""
        expires = str(int(self.clock()) + self.keep_seconds)
        self._write_all(
            {"PutRequest": {"Item": {
                names.DEDUP_KEY: {"S": event_id}, "state": {"S": "done"}, names.DEDUP_EXPIRY: {"N": expires},
            }}}
            for event_id in dict.fromkeys(event_ids)
        )  # fmt: skip

    def release(self, event_ids: list[str]) -> None:
        """Forget claims whose alert could not be published, so the retry is not taken for a duplicate."""
        self._write_all(
            {"DeleteRequest": {"Key": {names.DEDUP_KEY: {"S": event_id}}}} for event_id in dict.fromkeys(event_ids)
        )

    def _write_all(self, requests: Iterable[dict[str, Any]]) -> None:
        """Unconditional writes, 25 a call; what DynamoDB leaves unprocessed is sent again, a few times, then let go
        (a stale pending claim can be taken over anyway)."""
        pending = list(requests)
        while pending:
            chunk, pending = pending[:BATCH_WRITE_LIMIT], pending[BATCH_WRITE_LIMIT:]
            for attempt in range(UNPROCESSED_RETRIES + 1):
                try:
                    answer = self.client.batch_write_item(RequestItems={self.table: chunk})
                except Exception:
                    break
                chunk = answer.get("UnprocessedItems", {}).get(self.table, [])
                if not chunk or attempt == UNPROCESSED_RETRIES:
                    break
                self.sleep(0.05 * 2**attempt)


class SecurityHubImporter:
    """Findings into Security Hub, region by region (a finding under the account's default product is imported in its
    own region), at most 100 a call. `client_for(region)` gives a Security Hub client there."""

    def __init__(self, client_for: Callable[[str], Any]) -> None:
        self.client_for = client_for

    def import_findings(self, region: str, findings: Sequence[Mapping[str, Any]]) -> list[str]:
        refused: list[str] = []
        for start in range(0, len(findings), MAX_FINDINGS_PER_REQUEST):
            chunk = list(findings[start : start + MAX_FINDINGS_PER_REQUEST])
            try:
                answer = self.client_for(region).batch_import_findings(Findings=chunk)
            except Exception as error:  # denied, throttled, Security Hub not enabled in the region
                refused += [f"{finding.get('Id', '')}: {error_text(error)}" for finding in chunk]
                continue
            refused += [
                f"{failed.get('Id', '')}: {failed.get('ErrorCode', '')} {failed.get('ErrorMessage', '')}".strip()
                for failed in answer.get("FailedFindings", [])
            ]
        return refused


class CloudTrailInspector:
    """The trails that cover a region of an account, each with its status and selectors, cached for ttl seconds.
    `client_for(region, account)` gives a CloudTrail client there (through the enrichment role in a member)."""

    def __init__(
        self, client_for: Callable[[str, str], Any], ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.client_for = client_for
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, list[TrailFacts]]] = {}

    def trails(self, region: str, account: str = "") -> list[TrailFacts]:
        cached = self._cache.get((region, account))
        if cached and cached[0] > self.clock():
            return cached[1]
        client = self.client_for(region, account)
        found = []
        for trail in client.describe_trails(includeShadowTrails=True).get("trailList", [])[:MAX_TRAILS_DESCRIBED]:
            multi_region = bool(trail.get("IsMultiRegionTrail"))
            if not multi_region and trail.get("HomeRegion") != region:
                continue
            home = trail.get("HomeRegion") or region
            there = client if home == region else self.client_for(home, account)
            arn = trail["TrailARN"]
            logging_on = bool(there.get_trail_status(Name=arn).get("IsLogging"))
            writes, _ = captures_management_writes(there.get_event_selectors(TrailName=arn))
            found.append(TrailFacts(trail.get("Name", ""), arn, multi_region, logging_on, writes))
        self._cache[region, account] = (self.clock() + self.ttl_seconds, found)
        return found


#: What EC2 says when a rule id names no rule (any more): the revocation has nothing left to do.
_GONE_CODES = frozenset({"InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound"})


class Ec2Remediator:
    """Revokes added rules by id, in the function's own account, and keeps the hour's count in the deduplication
    table (one item per hour, a conditional ADD): the circuit breaker holds what would pass `max_per_hour`."""

    def __init__(
        self, client_for: Callable[[str], Any], dynamodb: Any, table: str, *, max_per_hour: int,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.client_for, self.dynamodb, self.table = client_for, dynamodb, table
        self.max_per_hour, self.clock = max_per_hour, clock

    def admit(self, count: int) -> bool:
        if count > self.max_per_hour:  # could never fit: held without spending the hour's budget
            return False
        now = int(self.clock())
        hour = time.strftime("%Y-%m-%dT%H", time.gmtime(now))
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={names.DEDUP_KEY: {"S": f"remediation|{hour}"}},
                UpdateExpression="ADD revoked :count SET #expires = :expires",
                ConditionExpression="attribute_not_exists(revoked) OR revoked <= :room",
                ExpressionAttributeNames={"#expires": names.DEDUP_EXPIRY},
                ExpressionAttributeValues={
                    ":count": {"N": str(count)},
                    ":room": {"N": str(self.max_per_hour - count)},
                    ":expires": {"N": str(now + 7200)},
                },
            )
        except Exception as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise  # the count cannot be kept: the caller holds the revocation, as the breaker would
        return count <= self.max_per_hour

    def current(self, region: str, group_id: str, rule_ids: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]:
        """The group's tags and what each rule allows now, asked of EC2 just before revoking (not from a cache: a
        break-glass tag put on a minute ago counts, and a rule rewritten since the record no longer is the one added).
        A rule EC2 no longer has is absent."""
        client = self.client_for(region)
        groups = client.describe_security_groups(GroupIds=[group_id]).get("SecurityGroups", [])
        tags = {tag["Key"]: tag.get("Value", "") for group in groups for tag in group.get("Tags", []) if "Key" in tag}
        rules = {}
        for rule_id in rule_ids:  # one by one: an id EC2 no longer has fails only its own call
            try:
                found = client.describe_security_group_rules(SecurityGroupRuleIds=[rule_id]).get(
                    "SecurityGroupRules", []
                )
            except Exception as error:
                if error_code(error) in _GONE_CODES:
                    continue
                raise
            rules.update({rule["SecurityGroupRuleId"]: rule for rule in found if rule.get("GroupId") == group_id})
        return tags, rules

    def revoke(self, region: str, group_id: str, rule_ids: Sequence[str]) -> dict[str, str]:
        client = self.client_for(region)
        try:
            answer = client.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=list(rule_ids))
        except Exception as error:
            if error_code(error) not in _GONE_CODES or len(rule_ids) == 1:
                gone = error_code(error) in _GONE_CODES
                return dict.fromkeys(rule_ids, "already gone" if gone else error_text(error))
            # one of several is gone: each on its own, so the others are still revoked
            return {rule_id: self.revoke(region, group_id, [rule_id])[rule_id] for rule_id in rule_ids}
        if answer.get("Return") is False:  # EC2 can answer without an error and revoke nothing
            return dict.fromkeys(rule_ids, "EC2 answered that it revoked nothing")
        return dict.fromkeys(rule_ids, "revoked")
