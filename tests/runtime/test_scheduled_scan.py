"""The scheduled scan under moto: the first scan reports what is open, the next ones only what is new or whose
approval has expired since; a region it cannot read, or an alert it cannot publish, is reported again next time."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jsonschema  # type: ignore[import-untyped]
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.errors import ConfigError
from sgwatch.core.policy import load_policy
from sgwatch.core.severity import Severity
from sgwatch.emulation.account import (
    EmailOutbox,
    create_alert_topic,
    create_dedup_table,
    drain,
    seed_member_open_group,
    seed_open_groups,
)
from sgwatch.runtime import scheduled_scan
from sgwatch.runtime.aws import SnsPublisher
from sgwatch.runtime.scheduled_scan import (
    ScanSettings,
    home_places,
    member_places,
    run_scheduled_scan,
    scan_settings_from_env,
)

REGION = "eu-west-1"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json").read_text())
DAY = timedelta(days=1)
T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@dataclass
class Account:
    ec2: Any
    sqs: Any
    dynamodb: Any
    publisher: SnsPublisher
    settings: ScanSettings
    inbox: str
    groups: dict[str, str]
    outbox: EmailOutbox

    def scan(self, at: datetime, **changes: Any) -> scheduled_scan.ScanOutcome:
        settings = replace(self.settings, **changes)
        places = home_places(settings, lambda region: boto3.client("ec2", region_name=region))
        return run_scheduled_scan(settings, places, self.dynamodb, self.publisher, now=at)

    def alerts(self) -> list[dict[str, Any]]:
        """The documents the inbox queue received, each with the email text of the same publish under "email"."""
        envelopes = [json.loads(message["Body"]) for message in drain(self.sqs, self.inbox)]
        return [json.loads(e["Message"]) | {"email": self.outbox.sent[e["MessageId"]].text} for e in envelopes]


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        ec2, sns, sqs, dynamodb = (boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs", "dynamodb"))
        groups = seed_open_groups(ec2)
        topic, inbox, _ = create_alert_topic(sns, sqs)
        outbox = EmailOutbox()
        outbox.watch(sns)
        settings = ScanSettings(topic, create_dedup_table(dynamodb), (REGION,), Severity.MEDIUM, 2 * 86_400)
        yield Account(ec2, sqs, dynamodb, SnsPublisher(sns, topic, structured=True), settings, inbox, groups, outbox)


def test_the_first_scan_reports_what_is_open_and_the_next_only_what_is_new(account: Account) -> None:
    first = account.scan(T0)
    assert (first.new, first.published, first.failures) == (7, 1, [])
    [digest] = account.alerts()
    jsonschema.validate({key: value for key, value in digest.items() if key != "email"}, SCHEMA)
    assert digest["kind"] == "scan" and digest["severity"] == "CRITICAL" and len(digest["findings"]) == 7
    assert digest["email"].startswith("CRITICAL: sgwatch scan: 7 rules open in 123456789012/eu-west-1")
    assert "revoke: aws ec2 revoke-security-group-ingress" in digest["email"]

    assert account.scan(T0 + DAY).new == 0 and account.alerts() == []  # nothing new: silent
    telnet = [{"IpProtocol": "tcp", "FromPort": 23, "ToPort": 23, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    account.ec2.authorize_security_group_ingress(GroupId=account.groups["world-https"], IpPermissions=telnet)
    third = account.scan(T0 + 2 * DAY)
    [digest] = account.alerts()
    assert third.new == 1 and [f["ruleId"] for f in digest["findings"]] != []
    [finding] = digest["findings"]
    assert (finding["groupName"], finding["change"]["ports"], finding["reach"]) == ("world-https", "23/tcp", "public")


def test_a_finding_not_seen_for_longer_than_the_keep_window_is_reported_again(account: Account) -> None:
    account.scan(T0)
    account.alerts()
    later = account.scan(T0 + 3 * DAY)  # the keys written at T0 expired at T0 + 2 days (DynamoDB may not yet delete)
    assert later.new == 7 and len(account.alerts()) == 1


def test_an_approval_that_expires_makes_its_finding_new(account: Account) -> None:
    policy = load_policy(
        f"""
[[approved_exposure]]
group_id = "{account.groups["broad-postgres"]}"
exposure = "5432/tcp from 20.0.0.0/8"
owner = "data"
expires = 2026-12-02
reason = "the partner's range, until the migration"
"""
    )
    account.scan(T0, policy=policy)
    [digest] = account.alerts()
    assert "broad-postgres" not in {finding["groupName"] for finding in digest["findings"]}  # approved: INFO
    assert account.scan(T0 + 12 * timedelta(hours=1), policy=policy).new == 0
    after = account.scan(T0 + 2 * DAY, policy=policy)  # 2026-12-03: the approval has expired
    [digest] = account.alerts()
    assert after.new == 1
    [finding] = digest["findings"]
    assert finding["groupName"] == "broad-postgres" and finding["loweredBy"][0]["action"] == "approval-expired"


def test_a_region_that_cannot_be_read_fails_alone_and_an_unpublished_alert_is_reported_again(
    account: Account,
) -> None:
    outcome = account.scan(T0, regions=("eu-west-1", "xx-nowhere-1"))
    assert outcome.new == 7 and outcome.published == 1
    assert outcome.failures and outcome.failures[0].startswith("xx-nowhere-1: could not be scanned: ")
    account.alerts()

    class Refusing:
        def publish(self, *args: Any) -> None:
            raise ConnectionError("SNS could not be reached")

    account.ec2.authorize_security_group_ingress(
        GroupId=account.groups["world-https"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 25, "ToPort": 25, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    places = home_places(account.settings, lambda region: boto3.client("ec2", region_name=region))
    failed = run_scheduled_scan(account.settings, places, account.dynamodb, Refusing(), now=T0 + DAY)  # type: ignore[arg-type]
    assert failed.new == 1 and failed.published == 0
    assert failed.failures == ["eu-west-1: 1 new findings not published: ConnectionError: SNS could not be reached"]
    retried = account.scan(T0 + 2 * DAY)
    assert retried.new == 1 and len(account.alerts()) == 1  # not remembered while unpublished: reported now


def test_the_entry_point_reads_its_environment_and_emits_its_metrics(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduled_scan, "_clients", {})
    for key, value in {
        names.ENV_TOPIC_ARN: account.settings.topic_arn,
        names.ENV_DEDUP_TABLE: account.settings.table,
        names.ENV_SCAN_REGIONS: REGION,
        names.ENV_SCAN_KEEP_SECONDS: "172800",
    }.items():
        monkeypatch.setenv(key, value)
    printed = io.StringIO()
    with redirect_stdout(printed):
        answer = scheduled_scan.lambda_handler({}, None)
    assert answer == {"judged": 7, "new": 7, "published": 1, "failures": []}
    emf = json.loads(printed.getvalue())
    assert emf[names.METRIC_SCAN_NEW_FINDINGS] == 7 and emf[names.METRIC_SCAN_FAILURES] == 0
    assert {metric["Name"] for metric in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == set(names.SCAN_METRICS)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (names.ENV_SCAN_REGIONS, "SGWATCH_SCAN_REGIONS must list the regions"),
        (names.ENV_SCAN_KEEP_SECONDS, "SGWATCH_SCAN_KEEP_SECONDS must be seconds"),
        (names.ENV_DEDUP_TABLE, "SGWATCH_DEDUP_TABLE must name the table"),
    ],
)
def test_a_bad_environment_names_what_to_fix(missing: str, message: str) -> None:
    environment = {
        names.ENV_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:alerts",
        names.ENV_DEDUP_TABLE: "t",
        names.ENV_SCAN_REGIONS: "eu-west-1",
        names.ENV_SCAN_KEEP_SECONDS: "172800",
    }
    del environment[missing]
    with pytest.raises(ConfigError, match=message):
        scan_settings_from_env(environment)


def test_organization_mode_scans_each_member_of_the_stack_set_through_its_audit_role(account: Account) -> None:
    """The StackSet's instances (CloudFormation, answered by a Stubber: moto's StackSets are partial), each member's
    EC2 through the audit role (moto's STS); a member whose role cannot be assumed fails alone."""
    sts = boto3.client("sts", region_name=REGION)
    seed_member_open_group("111111111111")
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    summaries = [
        {"Account": account_id, "Region": REGION} for account_id in ("123456789012", "111111111111", "222222222222")
    ]

    class Denying:
        """STS as it answers when a member has no audit role (222222222222 left the StackSet's OUs)."""

        def assume_role(self, **request: Any) -> Any:
            if ":222222222222:" in request["RoleArn"]:
                raise PermissionError("AccessDenied: not authorized to perform sts:AssumeRole")
            return sts.assume_role(**request)

    settings = replace(account.settings, stack_set="sgwatch-members", role="sgwatch-audit")
    with Stubber(cloudformation) as stubber:
        stubber.add_response(
            "list_stack_instances", {"Summaries": summaries}, {"StackSetName": "sgwatch-members", "CallAs": "SELF"}
        )
        members = member_places(
            settings, cloudformation, Denying(),
            lambda service, region, keys: boto3.client(service, region_name=region, **keys),
        )  # fmt: skip
    assert [(place[0], place[1]) for place in members] == [("111111111111", REGION), ("222222222222", REGION)]
    places = home_places(settings, lambda region: boto3.client("ec2", region_name=region)) + members
    outcome = run_scheduled_scan(settings, places, account.dynamodb, account.publisher, now=T0)
    assert outcome.failures and outcome.failures[0].startswith("222222222222/eu-west-1: could not be scanned: ")
    digests = {digest["account"]: digest for digest in account.alerts()}
    assert set(digests) == {"123456789012", "111111111111"}
    [finding] = digests["111111111111"]["findings"]
    assert finding["groupName"] == "member-rdp" and finding["severity"] == "HIGH"  # CRITICAL, unused: one lower


def test_a_first_scan_of_many_findings_lists_them_all_across_alerts_and_remembers_only_what_it_listed(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc = account.ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    for index in range(230):
        group = account.ec2.create_security_group(GroupName=f"open-{index}", Description="o", VpcId=vpc)["GroupId"]
        account.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
    first = account.scan(T0)
    digests = account.alerts()
    assert first.new == 237 and first.published == len(digests) == 3  # 100, 100 and 37
    listed = [finding["ruleId"] for digest in digests for finding in digest["findings"]]
    assert len(listed) == len(set(listed)) == 237
    assert account.scan(T0 + DAY).new == 0 and account.alerts() == []

    # At most MAX_DIGESTS_PER_PLACE alerts a run: the rest, not remembered, come in the next run.
    monkeypatch.setattr(scheduled_scan, "MAX_DIGESTS_PER_PLACE", 1)
    later = account.scan(T0 + 10 * DAY)  # every key expired: all are new again
    assert later.published == 1 and len(account.alerts()) == 1
    rest = account.scan(T0 + 10 * DAY + timedelta(hours=1))
    assert rest.new == 137 and rest.published == 1
    [digest] = account.alerts()
    assert len(digest["findings"]) == 100


def test_a_group_that_stops_being_used_is_not_a_new_finding(account: Account) -> None:
    account.scan(T0)
    account.alerts()
    interfaces = account.ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [account.groups["world-ssh"]]}]
    )["NetworkInterfaces"]
    for interface in interfaces:  # the instance behind it is gone: the group is unused, one level lower
        account.ec2.modify_network_interface_attribute(
            NetworkInterfaceId=interface["NetworkInterfaceId"], Groups=[account.groups["web-tier"]]
        )
    assert account.scan(T0 + DAY).new == 0 and account.alerts() == []


def test_a_state_store_that_fails_costs_its_place_only_and_unreadable_interfaces_report_nothing(
    account: Account,
) -> None:
    class FailingStore:
        def __init__(self, real: Any) -> None:
            self.real = real

        def batch_get_item(self, **request: Any) -> Any:
            raise ConnectionError("DynamoDB could not be reached")

        def batch_write_item(self, **request: Any) -> Any:
            return self.real.batch_write_item(**request)

    places = home_places(account.settings, lambda region: boto3.client("ec2", region_name=region))
    outcome = run_scheduled_scan(account.settings, places, FailingStore(account.dynamodb), account.publisher, now=T0)
    assert outcome.published == 0 and account.alerts() == []  # every finding would look new: nothing reported
    assert outcome.failures == [
        "eu-west-1: what was reported could not be read: ConnectionError: DynamoDB could not be reached"
    ]

    def blind_ec2(region: str) -> Any:
        client = boto3.client("ec2", region_name=region)
        stubbed = Stubber(client)
        stubbed.add_client_error("describe_network_interfaces", "UnauthorizedOperation", "not authorized")
        real = client.get_paginator

        def paginator(operation: str) -> Any:
            if operation == "describe_network_interfaces":
                stubbed.activate()
            return real(operation)

        client.get_paginator = paginator
        return client

    blind = run_scheduled_scan(account.settings, home_places(account.settings, blind_ec2), account.dynamodb,
                               account.publisher, now=T0)  # fmt: skip
    assert blind.published == 0 and account.alerts() == []
    assert blind.failures and blind.failures[-1] == "eu-west-1: not reported: the network interfaces could not be read"
