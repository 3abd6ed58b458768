"""Normalise a CloudTrail record of a security-group call into rule changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sgwatch.core.addresses import IPNetwork, Peer, PeerKind, classify_cidr
from sgwatch.core.events import EVENT_SOURCE, MONITORED_BY_NAME, EventKind, MonitoredEvent
from sgwatch.core.fields import Field, RecordError
from sgwatch.core.identity import actor_from
from sgwatch.core.model import (
    Action,
    Direction,
    PrefixListEdit,
    RuleChange,
    SecurityGroupRecord,
    protocol_name,
    rule_shape,
)

_SHOWN_TARGETS = 5  # a launch names up to thousands of instances: the first few, and how many more

_ACTIONS = {
    EventKind.RULES_ADDED: Action.ADD,
    EventKind.RULES_REVOKED: Action.REVOKE,
    EventKind.RULES_MODIFIED: Action.MODIFY,
    EventKind.DESCRIPTIONS_UPDATED: Action.DESCRIBE,
}


def monitored_event(record: Any) -> MonitoredEvent | None:
    """The monitored event this record is, or None when it is not a security-group change.

    ModifyInstanceAttribute and ModifyNetworkInterfaceAttribute count only when they carry groupSet.
    Raises RecordError when a monitored record is too malformed to decide.
    """
    root = Field(record)
    if not isinstance(record, dict):
        raise RecordError("", f"a record must be a JSON object, got {type(record).__name__}")
    name = root.get("eventName").value
    event = MONITORED_BY_NAME.get(name) if isinstance(name, str) else None
    if event is None:
        return None
    source = root.get("eventSource").value
    if source is not None and source != EVENT_SOURCE:
        return None
    if event.groups_at and not any(_first(values_at(root, path)) for path in event.groups_at):
        return None
    return event


def values_at(root: Field, path: str) -> Iterator[Field]:
    """The values at a dotted path of the record ("requestParameters.groupSet.items.groupId"), stepping into every
    element of a list (CloudTrail's {"items": [...]} or a bare list) along the way."""
    fields = [root]
    for step in path.split("."):
        found: list[Field] = []
        for field in fields:
            if step == "items":
                found += field.items()
            elif isinstance(field.value, list):
                found += [item.get(step) for item in field.items()]
            elif isinstance(field.value, dict):
                found.append(field.get(step))
        fields = [field for field in found if field.value is not None]
    yield from fields


def _first(fields: Iterator[Field]) -> bool:
    return next(fields, None) is not None


def normalise(
    record: Any,
    event: MonitoredEvent,
    fallback_account: str = "",
    fallback_region: str = "",
    internal_ranges: tuple[IPNetwork, ...] = (),
) -> SecurityGroupRecord:
    """Read every fact of a monitored record. Raises RecordError naming the field it could not read."""
    root = Field(record)
    params = root.get("requestParameters")
    response = root.get("responseElements")
    error_code = root.get("errorCode").text("")
    actor = actor_from(root, fallback_account)
    account = root.get("recipientAccountId").text("") or actor.account or fallback_account
    reader = _RuleReader(internal_ranges)
    group_ids: list[str] = []
    group_name = params.get("groupName").text("")
    vpc_id = params.get("vpcId").text("")
    target = ""
    changes: tuple[RuleChange, ...] = ()
    prefix_list: PrefixListEdit | None = None
    if event.kind is EventKind.PREFIX_LIST_CHANGED:
        prefix_list = reader.prefix_list_edit(event, params, response)
    elif event.kind in _ACTIONS:
        changes = tuple(reader.changes(event, params, response, error_code))
        group_ids = [params.get("groupId").text("")] + [change.group_id for change in changes]
        # A call that named the group by groupName carries its id only in the response.
        for item in response.get("securityGroupRuleSet", "revokedSecurityGroupRuleSet").items():
            group_ids.append(item.get("groupId").text(""))
        if event.kind is EventKind.RULES_MODIFIED:
            group_ids.insert(0, _modify_request(params).get("GroupId").text(""))
    elif event.kind is EventKind.GROUP_CREATED:
        group_ids = [response.get("groupId").text("")]
    elif event.kind is EventKind.GROUP_DELETED:
        group_ids = [params.get("groupId").text("")]
        if not group_ids[0] and not group_name:
            raise RecordError(params.path, "names no group: neither groupId nor groupName")
    else:  # groups put in front of a resource: every path of the event that names them, request and response
        group_ids = [group.text() for path in event.groups_at for group in values_at(root, path)]
        targets = list(dict.fromkeys(found.text() for path in event.targets_at for found in values_at(root, path)))
        more = f" and {len(targets) - _SHOWN_TARGETS} more" if len(targets) > _SHOWN_TARGETS else ""
        target = ", ".join(targets[:_SHOWN_TARGETS]) + more
    return SecurityGroupRecord(
        event=event,
        event_id=root.get("eventID").text(""),
        event_time=_event_time(root.get("eventTime")),
        account=account,
        region=root.get("awsRegion").text("") or fallback_region,
        actor=actor,
        error_code=error_code,
        error_message=root.get("errorMessage").text(""),
        group_ids=tuple(dict.fromkeys(gid for gid in group_ids if gid)),
        group_name=group_name,
        vpc_id=vpc_id,
        target=target,
        changes=changes,
        prefix_list=prefix_list,
    )


def permission_changes(
    permission: Field,
    action: Action,
    direction: Direction,
    group_id: str = "",
    internal_ranges: tuple[IPNetwork, ...] = (),
) -> Iterator[RuleChange]:
    """The rule changes of one IpPermission, in CloudTrail's form or DescribeSecurityGroups' form."""
    return _RuleReader(internal_ranges).permission(permission, action, direction, group_id)


def parse_time(text: str) -> datetime | None:
    """An event time as a datetime in UTC ("2021-01-24T04:55:45Z", or "2021-01-24 04:55:45.000" read as UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # not a time; or at the calendar's edge, with no UTC form (0001-01-01+14:00)
        return None


def _event_time(field: Field) -> str:
    """ISO 8601 in UTC ("2021-01-24T04:55:45Z") when readable, else the text as published."""
    text = field.text("")
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else text


def _modify_request(params: Field) -> Field:
    """ModifySecurityGroupRules keeps the API's PascalCase inside a wrapper object."""
    wrapped = params.get("ModifySecurityGroupRulesRequest")
    return wrapped if wrapped.value is not None else params


class _RuleReader:
    def __init__(self, internal_ranges: tuple[IPNetwork, ...]) -> None:
        self.internal_ranges = internal_ranges

    def cidr(self, field: Field) -> Peer:
        try:
            return classify_cidr(field.text(), self.internal_ranges)
        except ValueError as error:
            raise RecordError(field.path, str(error)) from None

    def prefix_list_edit(self, event: MonitoredEvent, params: Field, response: Field) -> PrefixListEdit:
        """The prefix-list calls keep the API's PascalCase inside a wrapper ("ModifyManagedPrefixListRequest"), with
        entries as one object or a list ({"cidr": ..., "Description": ..., "tag": "1"})."""
        wrapped = params.get(f"{event.name}Request")
        request = wrapped if wrapped.value is not None else params
        list_id = request.get("PrefixListId").text("")
        if not list_id:  # a create: the new list's id is in the response
            created = response.get(f"{event.name}Response")
            created = created if created.value is not None else response
            list_id = created.get("prefixList", "PrefixList").get("prefixListId", "PrefixListId").text("")
        restored = event.name == "RestoreManagedPrefixListVersion"
        version = request.get("PreviousVersion").text("") if restored else ""
        return PrefixListEdit(
            list_id=list_id,
            name=request.get("PrefixListName").text(""),
            added=tuple(
                self.cidr(entry.get("Cidr"))
                for entry in request.get("Entry", "AddEntry", "Entries", "AddEntries").items()
            ),
            removed=tuple(
                self.cidr(entry.get("Cidr")) for entry in request.get("RemoveEntry", "RemoveEntries").items()
            ),
            restored=restored,
            restored_version=int(version) if version.isascii() and version.isdigit() else None,
        )

    def changes(self, event: MonitoredEvent, params: Field, response: Field, error_code: str) -> list[RuleChange]:
        """The rules a call changed, from the first place in the record that states them."""
        action = _ACTIONS[event.kind]
        direction = Direction(event.direction) if event.direction else Direction.UNSTATED
        group_id = params.get("groupId").text("")
        places: list[Callable[[], Iterable[RuleChange]]] = [
            lambda: self._modified_rules(_modify_request(params)),
        ]
        if event.kind is not EventKind.RULES_MODIFIED:
            id_lists = params.get(
                "securityGroupRuleDescriptionSet",
                "securityGroupRuleDescriptions",
                "securityGroupRuleIds",
                "securityGroupRuleIdSet",
            )
            places = [
                lambda: (
                    change
                    for permission in params.get("ipPermissions").items()
                    for change in self.permission(permission, action, direction, group_id)
                ),
                lambda: self._flat(params, action, direction, group_id),
                # Revocation by rule id: the response states the rules that went, when the record has it.
                lambda: (
                    self._response_rule(item, action, direction)
                    for item in response.get("securityGroupRuleSet", "revokedSecurityGroupRuleSet").items()
                ),
                lambda: (self._rule_id_only(action, direction, group_id, item) for item in id_lists.items()),
            ]
        for place in places:
            found = list(place())
            if found:
                return self._with_added_rule_ids(found, response) if action is Action.ADD else found
        if error_code:
            return []  # a failed call may have been rejected for the very reason that it names no rule
        raise RecordError(params.path, f"{event.name} names no rule (no ipPermissions, flat rule or rule ids)")

    def permission(
        self, permission: Field, action: Action, direction: Direction, group_id: str
    ) -> Iterator[RuleChange]:
        protocol = protocol_name(permission.get("ipProtocol").text())
        from_port = permission.get("fromPort").port()
        to_port = permission.get("toPort").port()
        peers: list[tuple[Peer, str]] = []
        for item in permission.get("ipRanges").items():
            peers.append((self.cidr(item.get("cidrIp")), item.get("description").text("")))
        for item in permission.get("ipv6Ranges").items():
            peers.append((self.cidr(item.get("cidrIpv6")), item.get("description").text("")))
        for item in permission.get("prefixListIds").items():
            peers.append(
                (Peer(PeerKind.PREFIX_LIST, item.get("prefixListId").text()), item.get("description").text(""))
            )
        for item in permission.get("groups", "UserIdGroupPairs").items():
            referenced = item.get("groupId").text("") or item.get("groupName").text()
            peers.append((Peer(PeerKind.SECURITY_GROUP, referenced), item.get("description").text("")))
        if not peers:
            raise RecordError(
                permission.path, "names no source: ipRanges, ipv6Ranges, prefixListIds and groups are empty"
            )
        for peer, description in peers:
            yield RuleChange(action, direction, protocol, from_port, to_port, peer, group_id, "", description)

    def _flat(self, params: Field, action: Action, direction: Direction, group_id: str) -> Iterator[RuleChange]:
        """The legacy form: cidrIp, ipProtocol, fromPort, toPort at the top of requestParameters."""
        if not params.get("cidrIp", "sourceSecurityGroupName", "ipProtocol").present:
            return
        if params.get("cidrIp").present:
            peer = self.cidr(params.get("cidrIp"))
        else:
            peer = Peer(PeerKind.SECURITY_GROUP, params.get("sourceSecurityGroupName").text())
        protocol = protocol_name(params.get("ipProtocol").text("-1"))
        yield RuleChange(
            action, direction, protocol, params.get("fromPort").port(), params.get("toPort").port(), peer, group_id
        )

    def _rule_id_only(self, action: Action, direction: Direction, group_id: str, item: Field) -> RuleChange:
        rule_id = item.text() if isinstance(item.value, str) else item.get("securityGroupRuleId").text()
        description = "" if isinstance(item.value, str) else item.get("description").text("")
        return RuleChange(action, direction, "", None, None, Peer(PeerKind.UNKNOWN, ""), group_id, rule_id, description)

    def _with_added_rule_ids(self, changes: list[RuleChange], response: Field) -> list[RuleChange]:
        """The rules a call added, each with the id EC2 gave it (the response's securityGroupRuleSet, matched by
        direction, protocol, ports and peer): what a rule can be revoked by, and nothing else."""
        given: dict[tuple[object, ...], str] = {}
        for item in response.get("securityGroupRuleSet").items():
            try:
                rule = self._response_rule(item, Action.ADD, Direction.UNSTATED)
            except RecordError:
                continue  # an item sgwatch cannot read names no rule it can match
            if rule.rule_id:  # the group too: a rule id of another group than the request's is not this call's
                given.setdefault((rule.group_id, *_rule_key(rule)), rule.rule_id)
        if not given:
            return changes
        return [
            replace(change, rule_id=given.get((change.group_id, *_rule_key(change)), ""))
            if not change.rule_id
            else change
            for change in changes
        ]

    def _response_rule(self, item: Field, action: Action, direction: Direction) -> RuleChange:
        """A rule as the response states it (one item per rule and peer)."""
        is_egress = item.get("isEgress").value
        if isinstance(is_egress, bool):
            direction = Direction.EGRESS if is_egress else Direction.INGRESS
        return RuleChange(
            action,
            direction,
            protocol_name(item.get("ipProtocol").text("-1")),
            item.get("fromPort").port(),
            item.get("toPort").port(),
            self._rule_peer(item, "cidrIpv4", "cidrIpv6", "prefixListId", "referencedGroupInfo"),
            item.get("groupId").text(""),
            item.get("securityGroupRuleId").text(""),
            item.get("description").text(""),
        )

    def _modified_rules(self, request: Field) -> Iterator[RuleChange]:
        group_id = request.get("GroupId").text("")
        for entry in request.get("SecurityGroupRule").items():
            rule = entry.get("SecurityGroupRule")
            if not isinstance(rule.value, dict):
                raise RecordError(rule.path, "missing the new rule definition")
            yield RuleChange(
                Action.MODIFY,
                Direction.UNSTATED,
                protocol_name(rule.get("IpProtocol").text("-1")),
                rule.get("FromPort").port(),
                rule.get("ToPort").port(),
                self._rule_peer(rule, "CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId"),
                group_id,
                entry.get("SecurityGroupRuleId").text(""),
                rule.get("Description").text(""),
            )

    def _rule_peer(self, rule: Field, ipv4: str, ipv6: str, prefix_list: str, group: str) -> Peer:
        for key in (ipv4, ipv6):
            if rule.get(key).present:
                return self.cidr(rule.get(key))
        if rule.get(prefix_list).present:
            return Peer(PeerKind.PREFIX_LIST, rule.get(prefix_list).text())
        referenced = rule.get(group)
        if isinstance(referenced.value, dict):
            referenced = referenced.get("groupId")
        if referenced.present:
            return Peer(PeerKind.SECURITY_GROUP, referenced.text())
        raise RecordError(rule.path, f"names no peer: none of {ipv4}, {ipv6}, {prefix_list}, {group}")


def _rule_key(change: RuleChange) -> tuple[object, ...]:
    """What tells one rule from another in a call: its direction and what it allows."""
    return (change.direction, *rule_shape(change.protocol, change.from_port, change.to_port, change.peer.address))
