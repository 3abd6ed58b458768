"""The monitored CloudTrail events: the one list the detection rule and the classifier share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

EVENT_SOURCE = "ec2.amazonaws.com"
EVENTBRIDGE_SOURCE = "aws.ec2"
EVENTBRIDGE_DETAIL_TYPE = "AWS API Call via CloudTrail"


class EventKind(Enum):
    RULES_ADDED = "rules-added"
    RULES_REVOKED = "rules-revoked"
    RULES_MODIFIED = "rules-modified"
    DESCRIPTIONS_UPDATED = "descriptions-updated"
    GROUP_CREATED = "group-created"
    GROUP_DELETED = "group-deleted"
    ATTACHMENT_CHANGED = "attachment-changed"
    PREFIX_LIST_CHANGED = "prefix-list-changed"  # a managed prefix list, which rules reference by id, was edited


@dataclass(frozen=True)
class MonitoredEvent:
    """One EC2 API call that changes what a security group lets through."""

    name: str
    kind: EventKind
    direction: str | None  # "ingress", "egress", or None when the record does not say
    rationale: str
    requires_group_set: bool = False  # the call is a security-group change only when it carries groupSet


MONITORED_EVENTS: tuple[MonitoredEvent, ...] = (
    MonitoredEvent(
        "AuthorizeSecurityGroupIngress",
        EventKind.RULES_ADDED,
        "ingress",
        "adds inbound rules: the way a service gets exposed to a network or to the internet",
    ),
    MonitoredEvent(
        "AuthorizeSecurityGroupEgress",
        EventKind.RULES_ADDED,
        "egress",
        "adds outbound rules: widens where a compromised host can send data",
    ),
    MonitoredEvent(
        "RevokeSecurityGroupIngress",
        EventKind.RULES_REVOKED,
        "ingress",
        "removes inbound rules: usually a fix, sometimes an outage; the audit trail needs it",
    ),
    MonitoredEvent(
        "RevokeSecurityGroupEgress",
        EventKind.RULES_REVOKED,
        "egress",
        "removes outbound rules: usually a fix, sometimes an outage; the audit trail needs it",
    ),
    MonitoredEvent(
        "ModifySecurityGroupRules",
        EventKind.RULES_MODIFIED,
        None,
        "rewrites existing rules in place by rule id: as powerful as an authorize, and missed by monitors"
        " that watch only the authorize calls",
    ),
    MonitoredEvent(
        "UpdateSecurityGroupRuleDescriptionsIngress",
        EventKind.DESCRIPTIONS_UPDATED,
        "ingress",
        "changes only the description of inbound rules: no traffic change, kept for the audit trail",
    ),
    MonitoredEvent(
        "UpdateSecurityGroupRuleDescriptionsEgress",
        EventKind.DESCRIPTIONS_UPDATED,
        "egress",
        "changes only the description of outbound rules: no traffic change, kept for the audit trail",
    ),
    MonitoredEvent(
        "CreateSecurityGroup",
        EventKind.GROUP_CREATED,
        None,
        "creates a group (with its default allow-all egress rule): the start of every later exposure",
    ),
    MonitoredEvent(
        "DeleteSecurityGroup",
        EventKind.GROUP_DELETED,
        None,
        "deletes a group: can remove the controls a workload relied on, or clean up evidence",
    ),
    MonitoredEvent(
        "ModifyNetworkInterfaceAttribute",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "with groupSet, replaces the groups of a network interface: an open group attached is an exposure",
        requires_group_set=True,
    ),
    MonitoredEvent(
        "ModifyInstanceAttribute",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "with groupSet, replaces the groups of an instance: an open group attached is an exposure",
        requires_group_set=True,
    ),
    MonitoredEvent(
        "CreateManagedPrefixList",
        EventKind.PREFIX_LIST_CHANGED,
        None,
        "creates a prefix list with its first entries: a rule that references it later opens to those ranges",
    ),
    MonitoredEvent(
        "ModifyManagedPrefixList",
        EventKind.PREFIX_LIST_CHANGED,
        None,
        "adds or removes entries of a prefix list: every rule that references the list opens or closes with it,"
        " through a call that names no security group",
    ),
    MonitoredEvent(
        "RestoreManagedPrefixListVersion",
        EventKind.PREFIX_LIST_CHANGED,
        None,
        "brings back the entries of an earlier version of a prefix list, which the record does not list",
    ),
)

MONITORED_BY_NAME: dict[str, MonitoredEvent] = {event.name: event for event in MONITORED_EVENTS}


def monitored_event_names() -> list[str]:
    """Every monitored eventName, in catalogue order."""
    return [event.name for event in MONITORED_EVENTS]


#: Monitoring scopes, to scale down without removing anything: "ingress" leaves out the egress-only calls.
SCOPES: dict[str, tuple[MonitoredEvent, ...]] = {
    "all": MONITORED_EVENTS,
    "ingress": tuple(event for event in MONITORED_EVENTS if event.direction != "egress"),
}


def event_pattern(scope: str = "all") -> dict[str, Any]:
    """The EventBridge pattern of the detection rule: the monitored events, the attachment calls only with groupSet."""
    events = SCOPES[scope]
    always = [event.name for event in events if not event.requires_group_set]
    with_group_set = [event.name for event in events if event.requires_group_set]
    return {
        "source": [EVENTBRIDGE_SOURCE],
        "detail-type": [EVENTBRIDGE_DETAIL_TYPE],
        "detail": {
            "eventSource": [EVENT_SOURCE],
            "$or": [
                {"eventName": always},
                {
                    "eventName": with_group_set,
                    # groupSet.items is a list of objects; EventBridge matches a leaf inside it.
                    "requestParameters": {"groupSet": {"items": {"groupId": [{"exists": True}]}}},
                },
            ],
        },
    }
