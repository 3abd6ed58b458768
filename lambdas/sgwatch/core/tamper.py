"""The calls that can blind sgwatch: a second catalogue of watched calls (CloudTrail, AWS Config, and sgwatch's own
rules, function, key, topics, queues and stacks), the ways each one blinds, how a record of one is read, and which
resources are sgwatch's own."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sgwatch.core.events import EVENTBRIDGE_DETAIL_TYPE, MONITORED_BY_NAME, event_pattern
from sgwatch.core.fields import Field, RecordError
from sgwatch.core.identity import actor_from
from sgwatch.core.model import Actor
from sgwatch.core.severity import Severity

SECURITY_GROUP_RESOURCE_TYPE = "AWS::EC2::SecurityGroup"
EC2_SOURCE = "ec2.amazonaws.com"


class Target(Enum):
    """What a watched call acts on, as the alert names it."""

    TRAIL = "CloudTrail trail"
    RECORDER = "AWS Config recorder"
    CHANNEL = "AWS Config delivery channel"
    RULE = "EventBridge rule"
    FUNCTION = "Lambda function"
    MAPPING = "Lambda event source mapping"
    KEY = "KMS key"
    TOPIC = "SNS topic"
    SUBSCRIPTION = "SNS subscription"
    QUEUE = "SQS queue"
    STACK = "CloudFormation stack"
    STACK_SET = "CloudFormation StackSet"

    @property
    def anyones(self) -> bool:
        """Every trail and every recorder matters, whoever made it: sgwatch reads what they record."""
        return self in (Target.TRAIL, Target.RECORDER, Target.CHANNEL)


@dataclass(frozen=True)
class WatchedCall:
    """One API call that can blind sgwatch (or, `restores`, undo a blinding)."""

    name: str  # the eventName; Lambda's carry an API version after it (DeleteFunction20150331)
    source: str  # the eventSource
    target: Target
    rationale: str
    restores: bool = False


def _call(name: str, service: str, target: Target, rationale: str, restores: bool = False) -> WatchedCall:
    return WatchedCall(name, f"{service}.amazonaws.com", target, rationale, restores)


TAMPER_CALLS: tuple[WatchedCall, ...] = (
    _call("StopLogging", "cloudtrail", Target.TRAIL, "a stopped trail records nothing: sgwatch sees no change at all"),
    _call("DeleteTrail", "cloudtrail", Target.TRAIL, "a deleted trail records nothing; its own deletion may be last"),
    _call(
        "PutEventSelectors",
        "cloudtrail",
        Target.TRAIL,
        "selectors decide what a trail records: management write events from EC2 are what sgwatch reads",
    ),
    _call("UpdateTrail", "cloudtrail", Target.TRAIL, "a trail made single-region stops seeing the other regions"),
    _call("StartLogging", "cloudtrail", Target.TRAIL, "the trail records again", restores=True),
    _call("CreateTrail", "cloudtrail", Target.TRAIL, "a new trail can record what a deleted one did", restores=True),
    _call("StopConfigurationRecorder", "config", Target.RECORDER, "AWS Config stops recording group configurations"),
    _call("DeleteConfigurationRecorder", "config", Target.RECORDER, "AWS Config records nothing without a recorder"),
    _call("DeleteDeliveryChannel", "config", Target.CHANNEL, "AWS Config delivers no history without its channel"),
    _call(
        "PutConfigurationRecorder",
        "config",
        Target.RECORDER,
        "the recording group decides whether security groups are recorded",
    ),
    _call("StartConfigurationRecorder", "config", Target.RECORDER, "AWS Config records again", restores=True),
    _call("DisableRule", "events", Target.RULE, "a disabled rule delivers no event to sgwatch"),
    _call("DeleteRule", "events", Target.RULE, "a deleted rule delivers no event to sgwatch"),
    _call("RemoveTargets", "events", Target.RULE, "a rule without its target delivers nowhere"),
    _call("PutRule", "events", Target.RULE, "a rule rewritten can be disabled or stop matching the watched calls"),
    _call("EnableRule", "events", Target.RULE, "the rule delivers again", restores=True),
    _call("DeleteFunction", "lambda", Target.FUNCTION, "without the function no change is classified or alerted"),
    _call("PutFunctionConcurrency", "lambda", Target.FUNCTION, "a reserved concurrency of 0 stops every invocation"),
    _call("DeleteEventSourceMapping", "lambda", Target.MAPPING, "the function no longer reads the buffer queue"),
    _call("UpdateEventSourceMapping", "lambda", Target.MAPPING, "a disabled mapping stops reading the buffer queue"),
    _call("UpdateFunctionCode", "lambda", Target.FUNCTION, "new code decides what is alerted"),
    _call("UpdateFunctionConfiguration", "lambda", Target.FUNCTION, "settings decide what is alerted, and where"),
    _call("DisableKey", "kms", Target.KEY, "without its key nothing can be published to the encrypted topics"),
    _call("ScheduleKeyDeletion", "kms", Target.KEY, "a key pending deletion is disabled, then gone for good"),
    _call("DeleteTopic", "sns", Target.TOPIC, "alerts published to a deleted topic reach nobody"),
    _call("Unsubscribe", "sns", Target.SUBSCRIPTION, "an unsubscribed address receives no alert"),
    _call(
        "SetSubscriptionAttributes",
        "sns",
        Target.SUBSCRIPTION,
        "a filter policy can silently drop every alert a subscriber would receive",
    ),
    _call("PurgeQueue", "sqs", Target.QUEUE, "purged messages are changes never classified"),
    _call("DeleteQueue", "sqs", Target.QUEUE, "a deleted buffer or dead-letter queue loses what it held"),
    _call("SetQueueAttributes", "sqs", Target.QUEUE, "a queue's policy and retention decide what reaches sgwatch"),
    _call("DeleteStack", "cloudformation", Target.STACK, "deleting sgwatch's stack removes the whole monitor"),
    _call("UpdateStack", "cloudformation", Target.STACK, "an update can change or remove any part of the monitor"),
    _call("DeleteStackSet", "cloudformation", Target.STACK_SET, "the organization's forwarders go with the StackSet"),
    _call("UpdateStackSet", "cloudformation", Target.STACK_SET, "an update can remove every member's forwarder"),
)

TAMPER_BY_NAME: dict[str, WatchedCall] = {call.name: call for call in TAMPER_CALLS}

#: The API versions Lambda writes after its operations' names in CloudTrail (AWS's Lambda CloudTrail documentation
#: lists them): what LookupEvents, which matches names exactly, must be asked for.
LAMBDA_API_VERSIONS = {
    "DeleteFunction": "20150331",
    "PutFunctionConcurrency": "20171031",
    "DeleteEventSourceMapping": "20150331",
    "UpdateEventSourceMapping": "20150331",
    "UpdateFunctionCode": "20150331v2",
    "UpdateFunctionConfiguration": "20150331v2",
}


def tamper_event_names() -> list[str]:
    """Every tamper call's eventName as CloudTrail writes it, in catalogue order."""
    return [call.name + LAMBDA_API_VERSIONS.get(call.name, "") for call in TAMPER_CALLS]


#: Lambda writes its API version after the operation name: DeleteFunction20150331, UpdateFunctionCode20150331v2.
_API_VERSION = re.compile(r"^(?P<name>[A-Za-z]+?)(?:\d{8}(?:v\d+)?)?$")
_VERSIONED_SOURCES = frozenset({"lambda.amazonaws.com"})


class Blinding(Enum):
    """What one call did to the monitor: its severity, the phrase for the alert's sentence, what it blinds, and the
    command that undoes it ({name}, {region}, {stack} are filled in, shell-quoted)."""

    LOGGING_STOPPED = (
        Severity.CRITICAL,
        "stopped logging",
        "security-group changes in every region it covered are no longer seen",
        "aws cloudtrail start-logging --name {name} --region {region}",
    )
    TRAIL_DELETED = (
        Severity.CRITICAL,
        "deleted",
        "security-group changes in every region it covered are no longer seen, and its own deletion may be the"
        " last event it delivered",
        "create a trail again: `sgwatch audit --region {region}` shows what is missing;"
        ' `make deploy ARGS="-c createTrail=true"` creates one',
    )
    SELECTORS_DROP_WRITES = (
        Severity.CRITICAL,
        "stopped recording management write events",
        "no security-group change is recorded, so none is alerted",
        "aws cloudtrail put-event-selectors --trail-name {name} --region {region}"
        ' --event-selectors \'[{{"ReadWriteType": "All", "IncludeManagementEvents": true}}]\'',
    )
    SELECTORS_DROP_EC2 = (
        Severity.CRITICAL,
        "stopped recording events from ec2.amazonaws.com",
        "no security-group change is recorded, so none is alerted",
        "aws cloudtrail put-event-selectors --trail-name {name} --region {region}"
        ' --event-selectors \'[{{"ReadWriteType": "All", "IncludeManagementEvents": true}}]\'',
    )
    SINGLE_REGION = (
        Severity.HIGH,
        "made single-region",
        "security-group changes in the other regions are no longer recorded by it",
        "aws cloudtrail update-trail --name {name} --region {region} --is-multi-region-trail",
    )
    NO_GLOBAL_EVENTS = (
        Severity.HIGH,
        "stopped recording global service events",
        "IAM and STS events that explain who made a change are no longer recorded by it",
        "aws cloudtrail update-trail --name {name} --region {region} --include-global-service-events",
    )
    RECORDER_STOPPED = (
        Severity.HIGH,
        "stopped",
        "AWS Config no longer records security-group configurations (CIS: AWS Config is enabled in all regions)",
        "aws configservice start-configuration-recorder --configuration-recorder-name {name} --region {region}",
    )
    RECORDER_DELETED = (
        Severity.HIGH,
        "deleted",
        "AWS Config no longer records security-group configurations",
        "create the recorder again: `sgwatch audit --region {region}` shows what is missing",
    )
    CHANNEL_DELETED = (
        Severity.HIGH,
        "deleted",
        "AWS Config can no longer deliver configuration history and snapshots",
        "create the delivery channel again: `aws configservice put-delivery-channel --region {region} ...`",
    )
    RECORDER_DROPS_GROUPS = (
        Severity.HIGH,
        "stopped recording AWS::EC2::SecurityGroup",
        "AWS Config no longer records security-group configurations",
        "put AWS::EC2::SecurityGroup back in the recorder's recording group (or record all supported types):"
        " `aws configservice describe-configuration-recorders --region {region}` shows it",
    )
    RULE_DISABLED = (
        Severity.CRITICAL,
        "disabled",
        "the events it matched no longer reach sgwatch",
        "aws events enable-rule --name {name} --region {region}",
    )
    RULE_DELETED = (
        Severity.CRITICAL,
        "deleted",
        "the events it matched no longer reach sgwatch",
        "CloudFormation does not re-create what was deleted outside it:"
        " `aws cloudformation detect-stack-drift --stack-name {stack} --region {region}` shows what is gone;"
        " deploy sgwatch again from scratch to re-create it",
    )
    TARGETS_REMOVED = (
        Severity.CRITICAL,
        "lost its targets",
        "the events it matches are delivered nowhere",
        "CloudFormation does not re-create what was removed outside it:"
        " `aws cloudformation detect-stack-drift --stack-name {stack} --region {region}` shows what is gone;"
        " deploy sgwatch again from scratch to re-create it",
    )
    PATTERN_CHANGED = (
        Severity.CRITICAL,
        "rewritten with another event pattern",
        "the watched calls may no longer match it",
        "`aws cloudformation detect-stack-drift --stack-name {stack} --region {region}` shows the difference;"
        " deploy sgwatch again from scratch to restore the pattern",
    )
    FUNCTION_DELETED = (
        Severity.CRITICAL,
        "deleted",
        "no change is classified or alerted; the buffer fills, then its messages expire",
        "deploy sgwatch again from scratch (`make destroy`, then `make deploy`): CloudFormation does not re-create"
        " what was deleted outside it",
    )
    CONCURRENCY_ZERO = (
        Severity.CRITICAL,
        "set to a reserved concurrency of 0",
        "the function is never invoked: no change is classified or alerted",
        "aws lambda delete-function-concurrency --function-name {name} --region {region}"
        " (or put back the reservedConcurrency sgwatch was deployed with)",
    )
    MAPPING_DELETED = (
        Severity.CRITICAL,
        "deleted",
        "the function no longer reads the buffer queue: no change is classified or alerted",
        "deploy sgwatch again from scratch (`make destroy`, then `make deploy`): CloudFormation does not re-create"
        " what was deleted outside it",
    )
    MAPPING_DISABLED = (
        Severity.CRITICAL,
        "disabled",
        "the function no longer reads the buffer queue: no change is classified or alerted",
        "aws lambda update-event-source-mapping --uuid {name} --enabled --region {region}",
    )
    KEY_DISABLED = (
        Severity.CRITICAL,
        "disabled",
        "nothing can be published to the topics or queues it encrypts: alerts are lost",
        "aws kms enable-key --key-id {name} --region {region}",
    )
    KEY_DELETION_SCHEDULED = (
        Severity.CRITICAL,
        "scheduled for deletion",
        "the key is disabled now and deleted at the end of the waiting period: alerts are lost",
        "aws kms cancel-key-deletion --key-id {name} --region {region}"
        " && aws kms enable-key --key-id {name} --region {region}",
    )
    TOPIC_DELETED = (
        Severity.CRITICAL,
        "deleted",
        "alerts published to it reach nobody",
        "deploy sgwatch again from scratch (`make destroy`, then `make deploy`): CloudFormation does not re-create"
        " what was deleted outside it",
    )
    UNSUBSCRIBED = (
        Severity.HIGH,
        "deleted",
        "its endpoint no longer receives alerts",
        "subscribe the endpoint again and confirm it: `aws sns subscribe --topic-arn TOPIC --protocol email"
        " --notification-endpoint ADDRESS --region {region}`",
    )
    FILTER_CHANGED = (
        Severity.HIGH,
        "changed",
        "a filter policy can silently drop every alert its endpoint would receive",
        "aws sns get-subscription-attributes --subscription-arn {name} --region {region}"
        " (compare with the stack's subscription; remove a filter policy sgwatch did not set)",
    )
    QUEUE_PURGED = (
        Severity.HIGH,
        "purged",
        "the changes it held are lost without being classified",
        "sgwatch history --since 1d --region {region} shows the changes the purged messages held",
    )
    QUEUE_DELETED = (
        Severity.HIGH,
        "deleted",
        "what it held is lost and nothing more is buffered",
        "deploy sgwatch again from scratch (`make destroy`, then `make deploy`): CloudFormation does not re-create"
        " what was deleted outside it",
    )
    QUEUE_CHANGED = (
        Severity.HIGH,
        "reconfigured",
        "its policy, retention or redrive decide what reaches sgwatch and what is kept",
        "`aws cloudformation detect-stack-drift --stack-name {stack} --region {region}` shows the difference",
    )
    CODE_CHANGED = (
        Severity.HIGH,
        "given new code",
        "the code decides what is alerted",
        "if this was not a deploy of sgwatch: `aws cloudformation detect-stack-drift --stack-name {stack} --region"
        " {region}`, then deploy sgwatch again",
    )
    CONFIGURATION_CHANGED = (
        Severity.HIGH,
        "reconfigured",
        "its settings decide what is alerted, and to which topic",
        "if this was not a deploy of sgwatch: `aws cloudformation detect-stack-drift --stack-name {stack} --region"
        " {region}`, then deploy sgwatch again",
    )
    STACK_DELETED = (
        Severity.HIGH,
        "deleted",
        "the monitor, or a region's or account's part of it, is being removed",
        "if this is not a planned `make destroy`, deploy sgwatch again (`make deploy`)",
    )
    STACK_UPDATED = (
        Severity.HIGH,
        "updated",
        "an update can change or remove any part of the monitor",
        "if this is not a planned deploy of sgwatch: `aws cloudformation describe-stack-events --stack-name {name}"
        " --region {region}` shows what changed",
    )
    RESTORED = (Severity.INFO, "restored", "", "")
    UNCHANGED = (Severity.INFO, "changed", "", "")  # a setting changed without blinding anything

    def __init__(self, severity: Severity, verb: str, blinds: str, undo: str) -> None:
        self.severity = severity
        self.verb = verb
        self.blinds = blinds
        self.undo_template = undo


class Ownership(Enum):
    """Whose resource the call acted on."""

    ANY = "any"  # a trail or recorder: every one matters
    OWN = "own"  # one of sgwatch's, by its exact name or ARN
    GUESSED = "guessed"  # its name starts with sgwatch's stack name (the CLI, which does not know the stack)
    OTHER = "other"


def resource_name(value: str) -> str:
    """The name inside an ARN, a queue URL or a plain name: arn:...:function:NAME, arn:...:stack/NAME/ID,
    arn:...:stackset/NAME:ID, arn:...:rule/[BUS/]NAME, arn:...:key/ID, arn:...:TOPIC, https://sqs.../ACCOUNT/NAME."""
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        resource = parts[5] if len(parts) == 6 else value
        if resource.startswith("function:"):
            return resource.split(":")[1]
        if resource.startswith(("stack/", "stackset/")):
            return resource.split("/")[1].split(":")[0]
        return re.split(r"[:/]", resource)[-1]
    return value.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class OwnResources:
    """What is sgwatch's own. The function knows its stack's exact names (its environment); the CLI knows only a
    stack name, and guesses from it (`guess`), which the reason says."""

    stack_name: str = "sgwatch"
    names: frozenset[str] = frozenset()  # rule, function, queue, topic, subscription, stack and StackSet names; key ids
    rule_patterns: tuple[tuple[str, str], ...] = ()  # (rule name, its event pattern as JSON) to tell a rewrite
    guess: bool = True

    def owns(self, name: str) -> Ownership:
        short = resource_name(name)
        if short and (short in self.names or name in self.names):
            return Ownership.OWN
        if self.guess and self.stack_name and short.startswith(self.stack_name):
            return Ownership.GUESSED
        return Ownership.OTHER

    def pattern_of(self, rule: str) -> str | None:
        return dict(self.rule_patterns).get(resource_name(rule))


def exact_resources(
    stack_name: str, names: list[str], detection_rules: list[str], guard_rules: list[str], monitor: str = "all"
) -> OwnResources:
    """sgwatch's resources as its stack names them (the function's environment): every name, and the pattern each
    of its rules was deployed with, to tell a PutRule that rewrites one."""
    # CloudFormation names a rule on a custom bus "BUS|NAME"; CloudTrail records NAME.
    detection_rules = [rule.rsplit("|", 1)[-1] for rule in detection_rules]
    guard_rules = [rule.rsplit("|", 1)[-1] for rule in guard_rules]
    detection, guard = json.dumps(event_pattern(monitor)), json.dumps(guard_pattern())
    patterns = [(name, detection) for name in detection_rules] + [(name, guard) for name in guard_rules]
    every = {stack_name, *names, *detection_rules, *guard_rules} - {""}
    return OwnResources(stack_name, frozenset(every), tuple(patterns), guess=False)


#: The CLI's default: sgwatch's resources are those whose names start with "sgwatch".
GUESSED_BY_NAME = OwnResources()


@dataclass(frozen=True)
class TamperRecord:
    """A CloudTrail record of a watched tamper call, normalised."""

    call: WatchedCall
    event_id: str
    event_time: str
    account: str
    region: str
    actor: Actor
    resource: str  # the name or ARN as the record gives it
    ownership: Ownership
    blinding: Blinding | None  # None: a change that blinds nothing (a harmless selector or concurrency)
    assumed_worst: bool = False  # a failed call without its parameters: judged by the worst it could have done
    stack_name: str = ""  # sgwatch's stack, for the undo commands
    error_code: str = ""
    error_message: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error_code)

    @property
    def label(self) -> str:
        """ "CloudTrail trail org-trail": what the alert's Where line and subject name."""
        name = resource_name(self.resource)
        if self.call.target is Target.SUBSCRIPTION and self.resource.count(":") >= 6:
            name = ":".join(self.resource.split(":")[5:])  # TOPIC:ID: the id alone says nothing
        return f"{self.call.target.value} {name or '(not named in the record)'}"

    @property
    def undo(self) -> str:
        """The command (or step) that undoes the call, its values shell-quoted."""
        template = self.blinding.undo_template if self.blinding else ""
        if not template:
            return ""
        values = {"name": self.resource, "region": self.region, "stack": self.stack_name or "sgwatch"}
        return template.format(**{key: shlex.quote(value or "?") for key, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.call.target.name.lower(),
            "name": self.resource,
            "sgwatchOwn": self.ownership.value,
            "blinding": self.blinding.name.lower() if self.blinding else None,
        }


_SECURITY_GROUP_CALLS = frozenset(MONITORED_BY_NAME)
_PLAIN_NAMES = frozenset(call.name for call in TAMPER_CALLS if call.source not in _VERSIONED_SOURCES)
_VERSIONED_NAMES = tuple(call.name for call in TAMPER_CALLS if call.source in _VERSIONED_SOURCES)


def is_watched_name(event_name: str | None) -> bool:
    """Whether an eventName may be a watched call (a security-group change or a tamper call): the readers' cheap
    first test, before a record is decoded. The classifier decides."""
    if event_name is None:
        return False
    return event_name in _SECURITY_GROUP_CALLS or event_name in _PLAIN_NAMES or event_name.startswith(_VERSIONED_NAMES)


def watched_call(record: Any) -> WatchedCall | None:
    """The tamper call this record is, or None."""
    if not isinstance(record, dict):
        return None
    root = Field(record)
    name, source = root.get("eventName").value, root.get("eventSource").value
    if not isinstance(name, str) or not isinstance(source, str):
        return None
    if source in _VERSIONED_SOURCES:
        match = _API_VERSION.match(name)
        name = match.group("name") if match else name
    call = TAMPER_BY_NAME.get(name)
    return call if call is not None and call.source == source else None


def _names(field: Field) -> list[str]:
    """A list of strings, or one string, as a request gives it."""
    value = field.value
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _advanced_records_ec2_writes(selectors: Field) -> Blinding | None:
    """Advanced selectors: a management selector that keeps write events from ec2.amazonaws.com, or what is lost."""
    management_writes = False
    for selector in selectors.items():
        fields = {
            entry.get("field", "Field").text(""): entry
            for entry in selector.get("fieldSelectors", "FieldSelectors").items()
        }
        category = fields.get("eventCategory")
        if category is None or "Management" not in _names(category.get("equals", "Equals")):
            continue
        read_only = fields.get("readOnly")
        if read_only is not None and _names(read_only.get("equals", "Equals")) == ["true"]:
            continue
        management_writes = True
        source = fields.get("eventSource")
        if source is None:
            return None
        equals = _names(source.get("equals", "Equals"))
        excluded = _names(source.get("notEquals", "NotEquals"))
        if (not equals or EC2_SOURCE in equals) and EC2_SOURCE not in excluded:
            return None
    return Blinding.SELECTORS_DROP_EC2 if management_writes else Blinding.SELECTORS_DROP_WRITES


def _selectors_blinding(params: Field) -> Blinding | None:
    advanced = params.get("advancedEventSelectors")
    if advanced.present:
        return _advanced_records_ec2_writes(advanced)
    for selector in params.get("eventSelectors").items():
        kind = selector.get("readWriteType").text("All")
        includes = selector.get("includeManagementEvents").value
        excluded = _names(selector.get("excludeManagementEventSources"))
        if kind in ("All", "WriteOnly") and includes is not False and EC2_SOURCE not in excluded:
            return None
    return Blinding.SELECTORS_DROP_WRITES


def _records_security_groups(recorder: Field) -> bool:
    group = recorder.get("recordingGroup")
    if not group.present or group.get("allSupported").value is True:
        return True
    if SECURITY_GROUP_RESOURCE_TYPE in _names(group.get("resourceTypes")):
        return True
    exclusion = group.get("exclusionByResourceTypes")
    return exclusion.present and SECURITY_GROUP_RESOURCE_TYPE not in _names(exclusion.get("resourceTypes"))


def _pattern_changed(written: str, expected: str | None) -> bool:
    """Whether a rule's new pattern differs from sgwatch's; unknown (the CLI) counts as changed."""
    if expected is None:
        return True
    try:
        return bool(json.loads(written) != json.loads(expected))
    except ValueError:
        return True


#: The calls whose resource is one request parameter and whose effect the call alone decides.
_SIMPLE: dict[str, tuple[str, Blinding]] = {
    "StopLogging": ("name", Blinding.LOGGING_STOPPED),
    "DeleteTrail": ("name", Blinding.TRAIL_DELETED),
    "StartLogging": ("name", Blinding.RESTORED),
    "CreateTrail": ("name", Blinding.RESTORED),
    "StopConfigurationRecorder": ("configurationRecorderName", Blinding.RECORDER_STOPPED),
    "DeleteConfigurationRecorder": ("configurationRecorderName", Blinding.RECORDER_DELETED),
    "StartConfigurationRecorder": ("configurationRecorderName", Blinding.RESTORED),
    "DeleteDeliveryChannel": ("deliveryChannelName", Blinding.CHANNEL_DELETED),
    "DisableRule": ("name", Blinding.RULE_DISABLED),
    "DeleteRule": ("name", Blinding.RULE_DELETED),
    "EnableRule": ("name", Blinding.RESTORED),
    "RemoveTargets": ("rule", Blinding.TARGETS_REMOVED),
    "DeleteFunction": ("functionName", Blinding.FUNCTION_DELETED),
    "UpdateFunctionCode": ("functionName", Blinding.CODE_CHANGED),
    "UpdateFunctionConfiguration": ("functionName", Blinding.CONFIGURATION_CHANGED),
    "DisableKey": ("keyId", Blinding.KEY_DISABLED),
    "ScheduleKeyDeletion": ("keyId", Blinding.KEY_DELETION_SCHEDULED),
    "DeleteTopic": ("topicArn", Blinding.TOPIC_DELETED),
    "Unsubscribe": ("subscriptionArn", Blinding.UNSUBSCRIBED),
    "SetSubscriptionAttributes": ("subscriptionArn", Blinding.FILTER_CHANGED),
    "PurgeQueue": ("queueUrl", Blinding.QUEUE_PURGED),
    "DeleteQueue": ("queueUrl", Blinding.QUEUE_DELETED),
    "SetQueueAttributes": ("queueUrl", Blinding.QUEUE_CHANGED),
    "DeleteStack": ("stackName", Blinding.STACK_DELETED),
    "UpdateStack": ("stackName", Blinding.STACK_UPDATED),
    "DeleteStackSet": ("stackSetName", Blinding.STACK_DELETED),
    "UpdateStackSet": ("stackSetName", Blinding.STACK_UPDATED),
}


def _read(call: WatchedCall, params: Field, response: Field, own: OwnResources) -> tuple[str, Blinding | None, str]:
    """(the resource as named, what the call blinds, another name that makes it sgwatch's) for one call."""
    name = call.name
    if name in _SIMPLE:
        key, blinding = _SIMPLE[name]
        resource = params.get(key).text("")
        if name == "CreateTrail":
            resource = resource or response.get("name").text("")
        also = ""
        if call.target is Target.SUBSCRIPTION:  # a subscription is sgwatch's when its topic is
            also = resource.rsplit(":", 1)[0]
        return resource, blinding, also
    if name == "PutEventSelectors":
        return params.get("trailName").text(""), _selectors_blinding(params), ""
    if name == "UpdateTrail":
        resource = params.get("name").text("")
        if params.get("isMultiRegionTrail").value is False:
            return resource, Blinding.SINGLE_REGION, ""
        if params.get("includeGlobalServiceEvents").value is False:
            return resource, Blinding.NO_GLOBAL_EVENTS, ""
        return resource, None, ""
    if name == "PutConfigurationRecorder":
        recorder = params.get("configurationRecorder")
        drops = not _records_security_groups(recorder)
        return recorder.get("name").text(""), Blinding.RECORDER_DROPS_GROUPS if drops else None, ""
    if name == "PutRule":
        resource = params.get("name").text("")
        if params.get("state").text("") == "DISABLED":
            return resource, Blinding.RULE_DISABLED, ""
        pattern = params.get("eventPattern").text("")
        changed = bool(pattern) and _pattern_changed(pattern, own.pattern_of(resource))
        return resource, Blinding.PATTERN_CHANGED if changed else None, ""
    if name == "PutFunctionConcurrency":
        reserved = params.get("reservedConcurrentExecutions").value
        zero = reserved == 0 and not isinstance(reserved, bool)
        return params.get("functionName").text(""), Blinding.CONCURRENCY_ZERO if zero else None, ""
    # the event source mappings: named by UUID; sgwatch's when the response names its function or queue
    resource = params.get("uUID", "UUID", "uuid").text("")
    owner = response.get("functionArn").text("") or response.get("eventSourceArn").text("")
    if name == "DeleteEventSourceMapping":
        return resource, Blinding.MAPPING_DELETED, owner
    disabled = params.get("enabled").value is False or response.get("state").text("") in ("Disabling", "Disabled")
    return resource, Blinding.MAPPING_DISABLED if disabled else None, owner


#: What a call whose effect depends on its parameters does at worst: a denied call often has no parameters in its
#: record (Lambda writes null), and the attempt is judged by what it could have done.
_WORST: dict[str, Blinding] = {
    "PutEventSelectors": Blinding.SELECTORS_DROP_WRITES,
    "UpdateTrail": Blinding.SINGLE_REGION,
    "PutConfigurationRecorder": Blinding.RECORDER_DROPS_GROUPS,
    "PutRule": Blinding.PATTERN_CHANGED,
    "PutFunctionConcurrency": Blinding.CONCURRENCY_ZERO,
    "UpdateEventSourceMapping": Blinding.MAPPING_DISABLED,
}


def _ownership(call: WatchedCall, own: OwnResources, names: list[str], error_message: str) -> tuple[Ownership, str]:
    """Whose the resource is, and the resource as the error message names it when the request does not."""
    if call.target.anyones:
        return Ownership.ANY, ""
    for name in (name for name in names if name):
        ownership = own.owns(name)
        if ownership is not Ownership.OTHER:
            return ownership, ""
    # A denied call may name its resource only in the error message ("... on resource: arn:...:function:NAME").
    for word in re.findall(r"arn:[\w:/.-]+", error_message):
        ownership = own.owns(word)
        if ownership is not Ownership.OTHER:
            return ownership, word
    return Ownership.OTHER, ""


def normalise_tamper(
    record: Any, call: WatchedCall, own: OwnResources, fallback_account: str = "", fallback_region: str = ""
) -> TamperRecord:
    """Read a tamper record. Raises RecordError naming the field it could not read."""
    root = Field(record)
    params = root.get("requestParameters")
    response = root.get("responseElements")
    actor = actor_from(root, fallback_account)
    error_code = root.get("errorCode").text("")
    error_message = root.get("errorMessage").text("")
    resource, blinding, also = _read(call, params, response, own)
    assumed = bool(error_code) and not params.present and call.name in _WORST
    if assumed:
        blinding = _WORST[call.name]
    ownership, named = _ownership(call, own, [resource, also], error_message if error_code else "")
    resource = resource or named
    if not resource and call.target.anyones and not error_code:
        raise RecordError(params.path, f"names no {call.target.value}")
    return TamperRecord(
        call=call,
        event_id=root.get("eventID").text(""),
        event_time=root.get("eventTime").text(""),
        account=root.get("recipientAccountId").text("") or actor.account or fallback_account,
        region=root.get("awsRegion").text("") or fallback_region,
        actor=actor,
        resource=resource,
        ownership=ownership,
        blinding=blinding,
        assumed_worst=assumed,
        stack_name=own.stack_name,
        error_code=error_code,
        error_message=error_message,
    )


def captures_management_writes(selectors: dict[str, Any]) -> tuple[bool, str]:
    """Whether a trail's selectors, as GetEventSelectors returns them, record management write events from EC2,
    and how (the audit and the function's trail facts both ask)."""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True, "default selectors (all management events)"
    for selector in basic:
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") in (
            "All",
            "WriteOnly",
        ):
            return True, f"management events, {selector.get('ReadWriteType', 'All')}"
    for selector in advanced:
        fields = {field["Field"]: field for field in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        if "Management" not in category.get("Equals", []):
            continue
        read_only = fields.get("readOnly", {})
        if read_only.get("Equals") in (["true"], ["True"]) or read_only.get("NotEquals") in (["false"], ["False"]):
            continue  # read-only management events only
        excluded_source = fields.get("eventSource", {})
        if EC2_SOURCE in excluded_source.get("NotEquals", []) or (
            excluded_source.get("Equals") and EC2_SOURCE not in excluded_source["Equals"]
        ):
            continue  # EC2's events are left out
        return True, f"advanced selector {selector.get('Name', '(unnamed)')!r} (management events)"
    return False, "its selectors record no management write events"


@dataclass(frozen=True)
class TrailFacts:
    """A trail that covers a region, as CloudTrail describes it now."""

    name: str
    arn: str
    multi_region: bool
    logging: bool
    records_writes: bool  # management write events from ec2.amazonaws.com


def guard_pattern() -> dict[str, Any]:
    """The EventBridge pattern of the guard rule: every watched tamper call, from its own service. Lambda's names
    are matched by prefix (they carry an API version); the classifier drops what the prefix lets through."""
    sources = sorted({call.source for call in TAMPER_CALLS})
    names: list[Any] = sorted(call.name for call in TAMPER_CALLS if call.source not in _VERSIONED_SOURCES)
    names += [{"prefix": call.name} for call in TAMPER_CALLS if call.source in _VERSIONED_SOURCES]
    return {
        "source": ["aws." + source.split(".")[0] for source in sources],
        "detail-type": [EVENTBRIDGE_DETAIL_TYPE],
        "detail": {"eventSource": sources, "eventName": names},
    }
