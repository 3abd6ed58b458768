"""The monitored CloudTrail events: the one list the detection rule and the classifier share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

EVENT_SOURCE = "ec2.amazonaws.com"
EVENTBRIDGE_SOURCE = "aws.ec2"
EVENTBRIDGE_DETAIL_TYPE = "AWS API Call via CloudTrail"


_GROUP_SET = "requestParameters.groupSet.items.groupId"


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
    #: Where the record names the groups the call puts in front of a resource, as dotted paths ("items" steps into a
    #: CloudTrail list): the call is a security-group change only when one of them holds a group. Empty: always.
    groups_at: tuple[str, ...] = ()
    #: Where the record names the resource put behind the groups (an instance, a network interface, an endpoint).
    targets_at: tuple[str, ...] = ()
    #: Whether a denied call is a signal of its own: a denied launch is about the launch (an instance type, a quota),
    #: not about the groups it named; it is still recorded as a failed call.
    denial_is_signal: bool = True
    #: Whether the detection pattern itself asks for a group at `groups_at`. A rare call is matched by name alone and
    #: the classifier decides, which keeps the pattern within EventBridge's default 2,048 characters.
    pattern_checks_groups: bool = True

    @property
    def requires_group_set(self) -> bool:
        """Whether the call counts only when the record names groups (the attachment and launch calls)."""
        return bool(self.groups_at)


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
        groups_at=(_GROUP_SET,),
        targets_at=("requestParameters.networkInterfaceId",),
    ),
    MonitoredEvent(
        "ModifyInstanceAttribute",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "with groupSet, replaces the groups of an instance: an open group attached is an exposure",
        groups_at=(_GROUP_SET,),
        targets_at=("requestParameters.instanceId",),
    ),
    MonitoredEvent(
        "RunInstances",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "launches instances behind groups (named in the request, or by a launch template, and always in the response):"
        " a new host behind an open group is exposed from its first boot",
        groups_at=(
            _GROUP_SET,
            "requestParameters.networkInterfaceSet.items.groupSet.items.groupId",
            "responseElements.instancesSet.items.groupSet.items.groupId",
        ),
        targets_at=("responseElements.instancesSet.items.instanceId",),
        denial_is_signal=False,
    ),
    MonitoredEvent(
        "CreateLaunchTemplate",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "creates a launch template whose instances will be launched behind its groups: an open group in a template"
        " reaches every instance an Auto Scaling group launches from it",
        groups_at=(
            "requestParameters.CreateLaunchTemplateRequest.LaunchTemplateData.SecurityGroupId.content",
            "requestParameters.CreateLaunchTemplateRequest.LaunchTemplateData.NetworkInterface.SecurityGroupId.content",
        ),
        targets_at=("requestParameters.CreateLaunchTemplateRequest.LaunchTemplateName",),
        denial_is_signal=False,
        pattern_checks_groups=False,
    ),
    MonitoredEvent(
        "CreateLaunchTemplateVersion",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "adds a version to a launch template, with the groups its instances will be launched behind",
        groups_at=(
            "requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateData.SecurityGroupId.content",
            "requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateData.NetworkInterface"
            ".SecurityGroupId.content",
        ),
        targets_at=(
            "requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateId",
            "requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateName",
        ),
        denial_is_signal=False,
        pattern_checks_groups=False,
    ),
    MonitoredEvent(
        "CreateNetworkInterface",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "creates a network interface behind groups (the VPC's default group when none is named): the interface can be"
        " attached to any instance, or used by a service",
        groups_at=(_GROUP_SET, "responseElements.networkInterface.groupSet.items.groupId"),
        targets_at=("responseElements.networkInterface.networkInterfaceId",),
        denial_is_signal=False,
    ),
    MonitoredEvent(
        "CreateVpcEndpoint",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "creates an interface endpoint behind groups: the groups decide who reaches the service through it",
        groups_at=(
            "requestParameters.CreateVpcEndpointRequest.SecurityGroupId.content",
            # an interface endpoint created without groups gets the VPC's default group: the response names it
            "responseElements.CreateVpcEndpointResponse.vpcEndpoint.groupSet.item.groupId",
        ),
        targets_at=("responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId",),
        denial_is_signal=False,
        pattern_checks_groups=False,
    ),
    MonitoredEvent(
        "ModifyVpcEndpoint",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "with AddSecurityGroupId, puts more groups in front of an interface endpoint",
        groups_at=("requestParameters.ModifyVpcEndpointRequest.AddSecurityGroupId.content",),
        targets_at=("requestParameters.ModifyVpcEndpointRequest.VpcEndpointId",),
        denial_is_signal=False,
    ),
    MonitoredEvent(
        "AssociateSecurityGroupVpc",
        EventKind.ATTACHMENT_CHANGED,
        None,
        "lets a group be used in another VPC of the region: its rules can then guard that VPC's resources",
        groups_at=("requestParameters.AssociateSecurityGroupVpcRequest.GroupId",),
        targets_at=("requestParameters.AssociateSecurityGroupVpcRequest.VpcId",),
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


def _exists_at(path: str) -> dict[str, Any]:
    """The pattern that matches when the leaf at `path` exists; EventBridge matches a leaf inside lists of objects."""
    pattern: Any = [{"exists": True}]
    for step in reversed(path.split(".")):
        pattern = {step: pattern}
    return dict(pattern)


def event_pattern(scope: str = "all") -> dict[str, Any]:
    """The EventBridge pattern of the detection rule: the monitored events; the attachment and launch calls only
    when the record names a group at one of their paths (calls with the same paths share one branch)."""
    events = SCOPES[scope]
    by_name = [event.name for event in events if not event.groups_at or not event.pattern_checks_groups]
    branches: list[dict[str, Any]] = [{"eventName": by_name}]
    by_paths: dict[str, list[str]] = {}
    for event in events:
        for path in event.groups_at if event.pattern_checks_groups else ():
            by_paths.setdefault(path, []).append(event.name)
    branches += [{"eventName": names, **_exists_at(path)} for path, names in by_paths.items()]
    return {
        "source": [EVENTBRIDGE_SOURCE],
        "detail-type": [EVENTBRIDGE_DETAIL_TYPE],
        "detail": {"eventSource": [EVENT_SOURCE], "$or": branches},
    }
