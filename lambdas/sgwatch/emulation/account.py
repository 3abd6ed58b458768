"""The emulated account of `sgwatch demo`, the tests and the benchmarks: the whole pipeline in process, on moto.

EventBridge rule (the stack's own pattern) -> buffer queue -> the real handler, in batches shaped as Lambda receives
them -> SNS topic -> an inbox queue and an email-filtered queue, which receive the alert's JSON document, as any queue
subscriber does; the email text is read from the function's publish calls (EmailOutbox). Needs the development
install (moto); never part of the Lambda.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgwatch.core import names
from sgwatch.core.classify import classify
from sgwatch.core.events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE, MONITORED_BY_NAME, event_pattern
from sgwatch.core.heartbeat import HEARTBEAT_CALL, canary_permission, canary_role_name
from sgwatch.core.severity import Severity
from sgwatch.core.tamper import guard_pattern
from sgwatch.runtime.canary import beat

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account: where the demo's groups, topics and findings are
EMAIL_MIN = Severity.MEDIUM
_GROUP_PATHS = (
    ("requestParameters", "groupId"),
    ("requestParameters", "ModifySecurityGroupRulesRequest", "GroupId"),
    ("responseElements", "groupId"),
)


@dataclass(frozen=True)
class Email:
    """What an email subscriber of the alert topic is sent, and the UTF-8 size of the publish's Message parameter (every
    protocol's body, escaped into it), which SNS limits together with the subject and the attributes."""

    subject: str
    text: str
    message_bytes: int = 0


@dataclass
class DemoResult:
    replayed: int = 0
    delivered: int = 0
    batches: int = 0
    failed_messages: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the inbox queue's: SNS's envelope of the document
    emailed: set[str] = field(default_factory=set)  # the MessageIds the email subscription's filter passes
    emails: dict[str, Email] = field(default_factory=dict)  # what an email subscriber is sent, by MessageId
    metrics: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=lambda: defaultdict(list))
    setup: str = ""
    undelivered_changes: list[str] = field(default_factory=list)
    log_lines: int = 0
    heartbeat_regions: list[str] = field(default_factory=list)  # where a canary should beat
    made: list[str] = field(default_factory=list)  # the calls made on the emulated account, replayed with the records
    findings: list[dict[str, Any]] = field(default_factory=list)  # Security Hub's, as GetFindings returns them
    chat: list[dict[str, Any]] = field(default_factory=list)  # the chat topic's notifications
    remediated_group: str = ""  # with remediate: the group whose world-SSH rule the function was to revoke
    remediated_rule: str = ""
    remediated_rule_left: bool = False  # whether that rule is still there after the replay


@dataclass(frozen=True)
class _LambdaContext:
    function_name: str = "sgwatch-demo"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:sgwatch-demo"
    aws_request_id: str = "demo"


class _GroupMap:
    """The records' group ids, mapped onto groups of the demo account (moto picks its own ids)."""

    def __init__(self, ec2: Any, vpcs: list[str], default_group: str) -> None:
        self.ec2, self.vpcs, self.mapped = ec2, vpcs, {"...": default_group}

    def __call__(self, original: str) -> str:
        if original not in self.mapped:
            index = len(self.mapped)
            self.mapped[original] = self.ec2.create_security_group(
                GroupName=f"demo-{index}",
                Description=f"stands for {original}"[:255],
                VpcId=self.vpcs[index % len(self.vpcs)],
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": f"team-{index % 3}"}]}
                ],
            )["GroupId"]
        return self.mapped[original]


def _replayable(record: dict[str, Any], groups: _GroupMap, now: str) -> dict[str, Any]:
    moved = copy.deepcopy(record)
    moved["eventTime"] = now  # replayed as if it happened now, so that detection latency means something
    moved["eventID"] = str(uuid.uuid4())
    moved["awsRegion"] = REGION  # where the demo account's groups are
    moved["recipientAccountId"] = ACCOUNT
    for path in _GROUP_PATHS:
        parent: Any = moved
        for step in path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and isinstance(parent.get(path[-1]), str):
            parent[path[-1]] = groups(parent[path[-1]])
    event = MONITORED_BY_NAME.get(str(moved.get("eventName")))
    for dotted in event.groups_at if event is not None else ():  # the attachment and launch calls' groups
        _map_at(moved, dotted.split("."), groups)
    for key in ("securityGroupRuleSet", "revokedSecurityGroupRuleSet"):
        for item in (moved.get("responseElements") or {}).get(key, {}).get("items", []):
            item["groupId"] = groups(item.get("groupId", ""))
    return moved


def _map_at(node: Any, steps: list[str], groups: _GroupMap) -> None:
    """Map the group ids at a dotted path of the record, through every element of the lists on the way."""
    if isinstance(node, list):
        for element in node:
            _map_at(element, steps, groups)
    elif isinstance(node, dict) and steps:
        if len(steps) == 1 and isinstance(node.get(steps[0]), str):
            node[steps[0]] = groups(node[steps[0]])
        elif steps[0] in node:
            _map_at(node[steps[0]], steps[1:], groups)


#: The stack's defaults: a visibility timeout of 360 s, less the 20 s batching window and the 60 s function timeout.
CLAIM_STALE_SECONDS = 360 - 20 - 60


def create_dedup_table(dynamodb: Any, name: str = "sgwatch-dedup") -> str:
    """The deduplication table as the stack declares it (infra/dedup.py), in an emulated account."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": names.DEDUP_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": names.DEDUP_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _collect_metrics(output: str, into: dict[str, list[tuple[dict[str, str], float]]]) -> None:
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    into[metric["Name"]].append((dimensions, float(value)))


#: A watched region whose heartbeat never reaches the home region in the demo.
SILENT_REGION = "us-east-1"


def canary_heartbeat(ec2: Any, vpc: str, at: datetime) -> dict[str, Any]:
    """The canary's group as the stack makes it, the canary's real call on it, and the CloudTrail record of that call
    (moto has no CloudTrail: the record is built from the call's parameters, in CloudTrail's shape)."""
    group = ec2.create_security_group(GroupName="sgwatch-canary", Description="sgwatch heartbeat canary", VpcId=vpc)
    group_id = group["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[canary_permission()])
    calls: list[dict[str, Any]] = []
    ec2.meta.events.register(
        "provide-client-params.ec2.UpdateSecurityGroupRuleDescriptionsEgress",
        lambda params, **_: calls.append(json.loads(json.dumps(params))),
    )
    beat(ec2, group_id, at)
    [params] = calls
    [permission] = params["IpPermissions"]
    role = canary_role_name("sgwatch", REGION)
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::123456789012:assumed-role/{role}/sgwatch-canary",
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::123456789012:role/{role}"}},
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": HEARTBEAT_CALL,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "Boto3 exec-env/AWS_Lambda_python3.13",
        "requestParameters": {
            "groupId": params["GroupId"],
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": permission["IpProtocol"],
                        "fromPort": permission["FromPort"],
                        "toPort": permission["ToPort"],
                        "ipRanges": {
                            "items": [
                                {"cidrIp": r["CidrIp"], "description": r["Description"]} for r in permission["IpRanges"]
                            ]
                        },
                    }
                ]
            },
        },
        "responseElements": {"_return": True},
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
    }


def prefix_list_opens_group(ec2: Any, group_id: str, at: datetime) -> dict[str, Any]:
    """A customer-managed prefix list "office" (one office range) that an SSH rule of `group_id` references, then the
    whole internet added to the list, and the CloudTrail record of that call in the shape the console's calls are
    published in (moto has no CloudTrail): the change names no security group, and opens one."""
    list_id = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=10, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": list_id}]}
        ],
    )
    entry = {"Cidr": "0.0.0.0/0", "Description": "temporary: vendor access"}
    # moto forgets a list's name when a modification does not repeat it; EC2 keeps it
    ec2.modify_managed_prefix_list(PrefixListId=list_id, PrefixListName="office", CurrentVersion=1, AddEntries=[entry])
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/contractor",
            "accountId": "123456789012",
            "userName": "contractor",
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifyManagedPrefixList",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.77",
        "userAgent": "AWS Internal",
        "requestParameters": {
            "ModifyManagedPrefixListRequest": {
                "PrefixListId": list_id,
                "CurrentVersion": "1",
                "AddEntry": {"cidr": entry["Cidr"], "Description": entry["Description"], "tag": "1"},
            }
        },
        "responseElements": {"ModifyManagedPrefixListResponse": {"prefixList": {"prefixListId": list_id}}},
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "sessionCredentialFromConsole": "true",
        "recipientAccountId": "123456789012",
    }


def world_ssh_opened(ec2: Any, group_id: str, at: datetime) -> tuple[dict[str, Any], str]:
    """SSH opened to the whole internet on `group_id` (a real call on the emulated account), the CloudTrail record
    of that call with the rule id EC2 gave it (moto has no CloudTrail), and that id."""
    rule_id: str = ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/night-shift",
            "accountId": "123456789012",
            "userName": "night-shift",
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.22.0 Python/3.12.6 Linux/6.1 exe/x86_64 command/ec2.authorize-security-group-ingress",
        "requestParameters": {
            "groupId": group_id,
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                         "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
        },
        "responseElements": {
            "_return": True,
            "securityGroupRuleSet": {"items": [{
                "groupOwnerId": "123456789012", "groupId": group_id, "securityGroupRuleId": rule_id, "isEgress": False,
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0",
            }]},
        },
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
    }, rule_id  # fmt: skip


#: The emulated stack's rules: the detection rule and the guard rule beside it, into one buffer.
DEMO_RULE, DEMO_GUARD_RULE = "sgwatch", "sgwatch-guard"


class EmailOutbox:
    """The email bodies of the function's publishes with per-protocol bodies, by SNS MessageId. SNS sends email
    outside anything moto emulates (a queue subscriber gets the "default" body), so the text is read from the publish
    call: its parameters before it is made, its MessageId once SNS has taken it."""

    _KEY = "sgwatch_publish"

    def __init__(self) -> None:
        self.sent: dict[str, Email] = {}
        self._lock = threading.Lock()  # the function publishes a batch's alerts side by side

    def watch(self, sns: Any) -> None:
        sns.meta.events.register("before-parameter-build.sns.Publish", self._before)
        sns.meta.events.register("after-call.sns.Publish", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[self._KEY] = dict(params)

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(self._KEY) or {}
        if params.get("MessageStructure") != "json" or "MessageId" not in parsed:
            return
        try:
            bodies = json.loads(params["Message"])
        except ValueError:  # SNS refuses such a message before this runs; never turn a publish it took into an error
            return
        with self._lock:
            self.sent[parsed["MessageId"]] = Email(
                params.get("Subject", ""), bodies.get("email", bodies["default"]), len(params["Message"].encode())
            )


def moto_clients(outbox: EmailOutbox | None = None) -> Callable[..., Any]:
    """The function's boto3 clients, with what moto does not emulate answered from moto's own state, and the email
    bodies of its publishes kept in `outbox`."""
    from sgwatch.runtime.handler import aws_clients  # noqa: PLC0415 - the function's own client settings

    make = aws_clients()

    def client(service: str, **options: Any) -> Any:
        made = make(service, **options)
        if service == "ec2":
            answer_prefix_list_associations(made)
        if service == "sns" and outbox is not None:
            outbox.watch(made)
        return made

    return client


def answer_prefix_list_associations(ec2: Any) -> None:
    """GetManagedPrefixListAssociations, which moto lacks, answered on this client from the account's rules as AWS
    documents it: the security groups whose rules reference the list, with their owner
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetManagedPrefixListAssociations.html)."""
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415 - the demo's own dependency

    def associations(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        list_id = params.get("body", {}).get("PrefixListId", "")
        groups = {
            rule["GroupId"]
            for page in ec2.get_paginator("describe_security_group_rules").paginate()
            for rule in page.get("SecurityGroupRules", [])
            if rule.get("PrefixListId") == list_id
        }
        found = [{"ResourceId": group, "ResourceOwner": "123456789012"} for group in sorted(groups)]
        return AWSResponse(None, 200, {}, None), {"PrefixListAssociations": found}

    ec2.meta.events.register("before-call.ec2.GetManagedPrefixListAssociations", associations)


def eventbridge_source(record: dict[str, Any]) -> str:
    """The EventBridge source of a CloudTrail record's event: aws.ec2 for ec2.amazonaws.com, aws.cloudtrail for
    cloudtrail.amazonaws.com."""
    source = record.get("eventSource")
    return f"aws.{source.split('.')[0]}" if isinstance(source, str) and source else EVENTBRIDGE_SOURCE


def run_pipeline(
    records: list[dict[str, Any]],
    policy_file: str = "",
    own_resources: dict[str, Any] | None = None,
    heartbeat: bool = False,
    prefix_list: bool = False,
    *,
    remediate: bool = False,
) -> DemoResult:
    """Replay `records` (CloudTrail records) through the emulated pipeline and return what came out.
    `own_resources`: the function's SGWATCH_OWN_RESOURCES (what is sgwatch's), by default the emulated stack's.
    `heartbeat`: the home region's canary beats once (its real call on EC2, its record replayed with the others), and
    a second watched region (SILENT_REGION) stays silent, as a region whose forwarder broke.
    `prefix_list`: a prefix list that a group's SSH rule references gains the whole internet (prefix_list_opens_group).
    `remediate`: the function runs with -c remediate=CRITICAL -c remediateMode=enforce, and SSH is opened to the world
    on one of the account's groups (world_ssh_opened): the function revokes that rule.
    """
    try:
        import boto3  # noqa: PLC0415 - the demo's own dependencies, loaded only when it runs
        from moto import mock_aws  # noqa: PLC0415
    except ImportError as error:
        raise SystemExit(
            f"sgwatch demo needs the development install ({error.name} is missing): run `make demo`"
        ) from None
    from sgwatch.runtime import handler  # noqa: PLC0415 - Powertools, only for the demo and the Lambda
    from sgwatch.runtime.settings import settings_from_env  # noqa: PLC0415

    result = DemoResult()
    touched = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", names.ENV_TOPIC_ARN,
               names.ENV_POLICY_FILE, names.ENV_DEDUP_TABLE, names.ENV_CLAIM_STALE_SECONDS,
               names.ENV_OWN_RESOURCES, names.ENV_SECURITY_HUB_MIN_SEVERITY, names.ENV_CHAT_TOPIC_ARN,
               names.ENV_CHAT_MIN_SEVERITY, names.ENV_REMEDIATE, names.ENV_REMEDIATE_MODE,
               names.ENV_REMEDIATE_MAX_PER_HOUR)  # fmt: skip
    saved = {key: os.environ.get(key) for key in touched}
    os.environ.update({"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": REGION})
    try:
        with mock_aws():
            ec2, sqs, sns, events = (boto3.client(name, region_name=REGION) for name in ("ec2", "sqs", "sns", "events"))
            vpcs = [ec2.create_vpc(CidrBlock=f"10.{index}.0.0/16")["Vpc"]["VpcId"] for index in (10, 20)]
            default_group = ec2.describe_security_groups(
                Filters=[{"Name": "vpc-id", "Values": [vpcs[0]]}, {"Name": "group-name", "Values": ["default"]}]
            )["SecurityGroups"][0]["GroupId"]
            groups = _GroupMap(ec2, vpcs, default_group)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            replayed = [_replayable(record, groups, now) for record in records]
            if heartbeat:  # the home region's canary beats; the other watched region's does not reach home
                replayed.append(canary_heartbeat(ec2, vpcs[1], datetime.now(UTC)))
                result.heartbeat_regions = [REGION, SILENT_REGION]
                result.made.append("the heartbeat canary's call")
            if prefix_list:
                replayed.append(prefix_list_opens_group(ec2, groups("a group behind a prefix list"), datetime.now(UTC)))
                result.made.append("a prefix-list edit")
            if remediate:
                opened, result.remediated_rule = world_ssh_opened(
                    ec2, groups("a group opened at night"), datetime.now(UTC)
                )
                result.remediated_group = opened["requestParameters"]["groupId"]
                replayed.append(opened)
                result.made.append("SSH opened to the world by a real call")
                os.environ.update({names.ENV_REMEDIATE: "CRITICAL", names.ENV_REMEDIATE_MODE: "enforce",
                                   names.ENV_REMEDIATE_MAX_PER_HOUR: "10"})  # fmt: skip
            else:
                for key in (names.ENV_REMEDIATE, names.ENV_REMEDIATE_MODE, names.ENV_REMEDIATE_MAX_PER_HOUR):
                    os.environ.pop(key, None)
            subnet = ec2.create_subnet(VpcId=vpcs[0], CidrBlock="10.10.1.0/24")["Subnet"]["SubnetId"]
            for group in list(groups.mapped.values())[:4]:
                ec2.create_network_interface(SubnetId=subnet, Groups=[group])
            result.setup = (
                f"account 123456789012, region {REGION}: {len(vpcs)} VPCs, {len(set(groups.mapped.values())) + 1} security"
                f" groups, 4 network interfaces"
            )

            topic, inbox, email = create_alert_topic(sns, sqs)
            # every output enabled: Security Hub findings from MEDIUM up, a chat channel from HIGH up (its topic's
            # subscriber stands in for Amazon Q Developer in chat applications)
            chat_topic = sns.create_topic(Name="sgwatch-chat")["TopicArn"]
            chat_inbox, chat_arn = create_queue(sqs, "chat")
            sns.subscribe(TopicArn=chat_topic, Protocol="sqs", Endpoint=chat_arn)
            os.environ[names.ENV_SECURITY_HUB_MIN_SEVERITY] = "MEDIUM"
            os.environ[names.ENV_CHAT_TOPIC_ARN] = chat_topic
            os.environ[names.ENV_CHAT_MIN_SEVERITY] = "HIGH"
            buffer, buffer_arn = create_queue(sqs, "buffer")
            for rule, pattern in ((DEMO_RULE, event_pattern()), (DEMO_GUARD_RULE, guard_pattern())):
                events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
                events.put_targets(Rule=rule, Targets=[{"Id": "buffer", "Arn": buffer_arn}])
            for record in replayed:
                events.put_events(
                    Entries=[
                        {
                            "Source": eventbridge_source(record),
                            "DetailType": EVENTBRIDGE_DETAIL_TYPE,
                            "Detail": json.dumps(record),
                        }
                    ]
                )
            result.replayed = len(replayed)

            os.environ[names.ENV_DEDUP_TABLE] = create_dedup_table(boto3.client("dynamodb", region_name=REGION))
            os.environ[names.ENV_CLAIM_STALE_SECONDS] = str(CLAIM_STALE_SECONDS)
            if policy_file:
                os.environ[names.ENV_POLICY_FILE] = str(Path(policy_file).resolve())
            else:
                os.environ.pop(names.ENV_POLICY_FILE, None)
            os.environ[names.ENV_TOPIC_ARN] = topic
            os.environ[names.ENV_OWN_RESOURCES] = json.dumps(
                own_resources
                or {"stack": "sgwatch", "detectionRules": [DEMO_RULE], "guardRules": [DEMO_GUARD_RULE], "names": []}
            )
            # A new container of the function, configured by the environment the stack gives it, for this replay.
            outbox = EmailOutbox()
            function = handler.build_runtime(settings_from_env(os.environ), clients=moto_clients(outbox))
            delivered_ids: set[str] = set()

            def invoke(event: dict[str, Any]) -> dict[str, Any]:
                """The function, its metrics counted and its log lines kept out of the report."""
                captured, logs = io.StringIO(), io.StringIO()
                log_handler = handler.logger.registered_handler
                assert isinstance(log_handler, logging.StreamHandler)
                previous = log_handler.setStream(logs)
                try:
                    with contextlib.redirect_stdout(captured):
                        response: dict[str, Any] = handler.lambda_handler(event, _LambdaContext())
                finally:
                    log_handler.setStream(previous)
                _collect_metrics(captured.getvalue(), result.metrics)
                result.log_lines += len(logs.getvalue().splitlines())
                return response

            with handler.running_on(function):
                while True:
                    messages, failed = poll_buffer(sqs, buffer, buffer_arn, invoke)
                    if not messages:
                        break
                    delivered_ids.update(json.loads(message["Body"])["detail"]["eventID"] for message in messages)
                    result.batches += 1
                    result.failed_messages += len(failed)
            result.delivered = len(delivered_ids)
            result.undelivered_changes = [
                record["eventName"]
                for record in replayed
                if record["eventID"] not in delivered_ids and classify(record).watched
            ]
            result.alerts = [json.loads(message["Body"]) for message in drain(sqs, inbox)]
            result.emailed = {json.loads(message["Body"])["MessageId"] for message in drain(sqs, email)}
            result.emails = dict(outbox.sent)
            hub = boto3.client("securityhub", region_name=REGION)
            result.findings = [
                finding for page in hub.get_paginator("get_findings").paginate() for finding in page["Findings"]
            ]
            result.chat = [json.loads(json.loads(message["Body"])["Message"]) for message in drain(sqs, chat_inbox)]
            if remediate:
                rules = ec2.describe_security_group_rules(
                    Filters=[{"Name": "group-id", "Values": [result.remediated_group]}]
                )["SecurityGroupRules"]
                result.remediated_rule_left = any(r["SecurityGroupRuleId"] == result.remediated_rule for r in rules)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return result


def poll_buffer(
    sqs: Any, buffer: str, buffer_arn: str, invoke: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], set[str]]:
    """One poll of the function's SQS event source, as Lambda makes it: receive up to ten messages, invoke with them,
    delete those the function did not report as failed (the rest come back). The messages and the failed message
    ids; no messages when the buffer is empty."""
    received = sqs.receive_message(QueueUrl=buffer, MaxNumberOfMessages=10, AttributeNames=["All"])
    messages: list[dict[str, Any]] = received.get("Messages", [])
    if not messages:
        return [], set()
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": buffer_arn,
                "awsRegion": buffer_arn.split(":")[3],
            }
            for message in messages
        ]
    }
    failed = {failure["itemIdentifier"] for failure in invoke(event)["batchItemFailures"]}
    done = [
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
        for index, message in enumerate(messages)
        if message["MessageId"] not in failed
    ]
    if done:
        sqs.delete_message_batch(QueueUrl=buffer, Entries=done)
    return messages, failed


def create_alert_topic(sns: Any, sqs: Any) -> tuple[str, str, str]:
    """The alert topic with two queues subscribed: an inbox that gets every alert, and one with the stack's email
    filter policy (EMAIL_MIN and up). The topic's ARN and the two queues' URLs."""
    topic: str = sns.create_topic(Name="sgwatch-alerts")["TopicArn"]
    (inbox, inbox_arn), (email, email_arn) = (create_queue(sqs, name) for name in ("inbox", "email"))
    for arn, policy in (
        (inbox_arn, None),
        (email_arn, {names.ATTRIBUTE_SEVERITY_RANK: [{"numeric": [">=", int(EMAIL_MIN)]}]}),
    ):
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return topic, inbox, email


def create_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    """A new SQS queue's URL and ARN."""
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message on an SQS queue, as received; the queue is left empty."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += batch
        entries = [{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return found


def seed_open_groups(ec2: Any) -> dict[str, str]:
    """A VPC of the emulated account holding the exposures `sgwatch scan` is compared on, each in a group of its own:
    the group ids by what they hold. Two interfaces use groups, one with a public address."""
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    office = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
    )["PrefixList"]["PrefixListId"]

    def world(protocol: str, first: int, last: int) -> dict[str, Any]:
        return {"IpProtocol": protocol, "FromPort": first, "ToPort": last, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

    layout: dict[str, list[dict[str, Any]]] = {
        "world-ssh": [world("tcp", 22, 22)],
        "world-all-traffic": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        "world-https": [world("tcp", 443, 443)],
        "broad-postgres": [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "20.0.0.0/8"}]}],
        "prefix-list-rdp": [{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "PrefixListIds": [{"PrefixListId": office}]}],
        "unused-world-mysql": [world("tcp", 3306, 3306)],
        "world-ssh-ipv6": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
        "private-app": [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}],
        "web-tier": [],
    }  # fmt: skip
    groups = {
        name: ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"] for name in layout
    }
    for name, permissions in layout.items():
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=groups[name], IpPermissions=permissions)
    groups["app-from-web"] = ec2.create_security_group(GroupName="app-from-web", Description="app", VpcId=vpc)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=groups["app-from-web"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
                        "UserIdGroupPairs": [{"GroupId": groups["web-tier"]}]}],
    )  # fmt: skip
    groups["default"] = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=groups["default"], IpPermissions=[world("tcp", 80, 80)])
    public = ec2.create_network_interface(SubnetId=subnet, Groups=[groups["world-ssh"], groups["world-https"]])
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=public["NetworkInterface"]["NetworkInterfaceId"])
    ec2.create_network_interface(SubnetId=subnet, Groups=[groups["world-all-traffic"], groups["private-app"]])
    groups["vpc"], groups["prefix-list"] = vpc, office
    return groups


def seed_member_open_group(account: str, role: str = "sgwatch-audit") -> str:
    """A group named "member-rdp" with RDP open to the world in a member account of the emulated organization, made
    through that account's role (moto's STS answers for any account): its id."""
    import boto3  # noqa: PLC0415 - the emulation's own dependency

    keys = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="seed"
    )["Credentials"]
    member = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )  # fmt: skip
    vpc = member.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    group: str = member.create_security_group(GroupName="member-rdp", Description="m", VpcId=vpc)["GroupId"]
    member.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return group
