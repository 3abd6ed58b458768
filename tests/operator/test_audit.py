"""`sgwatch audit` under moto: each state of the control gives its verdict, its fix, and the right exit status."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sgwatch.core import names
from sgwatch.core.events import event_pattern
from sgwatch.core.tamper import guard_pattern
from sgwatch.emulation.account import create_queue
from sgwatch.operator.audit import FAIL, PASS, UNKNOWN, Check, run_audit
from sgwatch.operator.cli import main
from sgwatch.runtime.aws import assumed_role_keys

HOME, OTHER = "eu-west-1", "us-east-1"


class Account:
    """A moto account in which the control passes in HOME; each test breaks one thing."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=OTHER)
        self.s3.create_bucket(Bucket="trail-logs")
        self.trails = boto3.client("cloudtrail", region_name=HOME)
        self.trails.create_trail(Name="org", S3BucketName="trail-logs", IsMultiRegionTrail=True)
        self.trails.start_logging(Name="org")
        self.config = boto3.client("config", region_name=HOME)
        self.config.put_configuration_recorder(
            ConfigurationRecorder={
                "name": "default",
                "roleARN": "arn:aws:iam::123456789012:role/config",
                "recordingGroup": {"allSupported": True},
            }
        )
        self.config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "trail-logs"})
        self.config.start_configuration_recorder(ConfigurationRecorderName="default")
        self.events = boto3.client("events", region_name=HOME)
        role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        zipfile.ZipFile(archive, "w").writestr("x.py", "")
        functions = boto3.client("lambda", region_name=HOME)
        functions.create_function(
            FunctionName="sgwatch-fn",
            Runtime="python3.13",
            Role=role,
            Handler="x.h",
            Code={"ZipFile": archive.getvalue()},
        )
        self.sqs = boto3.client("sqs", region_name=HOME)
        self.failed_url, failed = create_queue(self.sqs, "buffer-dead-letters")
        self.undelivered_url, undelivered = create_queue(self.sqs, "undelivered")
        _, queue = create_queue(
            self.sqs, "buffer", RedrivePolicy=json.dumps({"deadLetterTargetArn": failed, "maxReceiveCount": 5})
        )
        functions.create_event_source_mapping(EventSourceArn=queue, FunctionName="sgwatch-fn")
        self.events.put_rule(Name="sgwatch-rule", EventPattern=json.dumps(event_pattern()))
        self.events.put_targets(
            Rule="sgwatch-rule", Targets=[{"Id": "buffer", "Arn": queue, "DeadLetterConfig": {"Arn": undelivered}}]
        )
        self.events.put_rule(Name="sgwatch-guard", EventPattern=json.dumps(guard_pattern()))
        self.events.put_targets(Rule="sgwatch-guard", Targets=[{"Id": "buffer", "Arn": queue}])
        self.cloudwatch = boto3.client("cloudwatch", region_name=HOME)
        self.heartbeat_alarm(HOME, "OK")
        self.cloudwatch.put_metric_data(
            Namespace=names.METRIC_NAMESPACE,
            MetricData=[
                {"MetricName": names.METRIC_HEARTBEATS, "Dimensions": heartbeat_dimensions(HOME), "Value": 1.0}
            ],
        )

    def heartbeat_alarm(self, region: str, state: str) -> None:
        """The stack's heartbeat alarm for `region` (infra.monitoring.heartbeat_alarm), in the home region."""
        name = f"sgwatch-heartbeat-{region}"
        self.cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace=names.METRIC_NAMESPACE, MetricName=names.METRIC_HEARTBEATS,
            Dimensions=heartbeat_dimensions(region), Statistic="Sum", Period=4500, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="LessThanThreshold", TreatMissingData="breaching",
        )  # fmt: skip
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def heartbeat_dimensions(region: str) -> list[dict[str, str]]:
    return [
        {"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE},
        {"Name": names.REGION_DIMENSION, "Value": region},
    ]


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": HOME}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield Account()


def clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def verdicts(checks: list[Check], region: str = HOME) -> dict[str, Check]:
    return {check.name: check for check in checks if check.region in (region, "account")}


def audit_cli(*regions: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["audit", "--regions", ",".join(regions or (HOME,)), "--format", "text"], out, io.StringIO())
    return status, out.getvalue()


def test_all_good_passes_and_exits_0(account: Account) -> None:
    checks = run_audit([HOME], clients)
    assert {check.name: check.status for check in checks} == {
        "a multi-region trail exists": PASS,
        "CloudTrail records management writes": PASS,
        "AWS Config records security groups": PASS,
        "AWS Config delivery channel": PASS,
        "sgwatch rule deployed and enabled": PASS,
        "nothing waits in sgwatch's dead-letter queues": PASS,
        "sgwatch guard rule deployed and enabled": PASS,
        "sgwatch heartbeat arrives": PASS,
    }
    assert verdicts(checks)["sgwatch heartbeat arrives"].detail.startswith("last heartbeat 20")
    assert verdicts(checks)["nothing waits in sgwatch's dead-letter queues"].detail == (
        "empty: undelivered, buffer-dead-letters"
    )
    status, table = audit_cli()
    assert status == 0
    assert "audit: 8 PASS, 0 FAIL, 0 UNKNOWN" in table


def test_no_trail(account: Account) -> None:
    account.trails.delete_trail(Name="org")
    checks = verdicts(run_audit([HOME], clients))
    assert checks["CloudTrail records management writes"].status == FAIL
    assert "no trail covers this region" in checks["CloudTrail records management writes"].detail
    assert "createTrail=true" in checks["CloudTrail records management writes"].fix
    assert checks["a multi-region trail exists"].status == FAIL
    assert audit_cli()[0] == 1


def test_trail_not_logging(account: Account) -> None:
    account.trails.stop_logging(Name="org")
    check = verdicts(run_audit([HOME], clients))["CloudTrail records management writes"]
    assert (check.status, check.detail) == (FAIL, "trail org is not logging")
    assert check.fix.startswith(
        "aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:123456789012:trail/org"
    )


def test_trail_without_management_events(account: Account) -> None:
    account.trails.put_event_selectors(
        TrailName="org", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}]
    )
    check = verdicts(run_audit([HOME], clients))["CloudTrail records management writes"]
    assert check.status == FAIL
    assert "record no management write events" in check.detail
    assert "put-event-selectors" in check.fix


def test_read_only_management_events_are_not_enough(account: Account) -> None:
    account.trails.put_event_selectors(TrailName="org", EventSelectors=[{"ReadWriteType": "ReadOnly"}])
    assert verdicts(run_audit([HOME], clients))["CloudTrail records management writes"].status == FAIL


def test_advanced_selectors_for_management_pass(account: Account) -> None:
    account.trails.put_event_selectors(
        TrailName="org",
        AdvancedEventSelectors=[
            {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ],
    )
    check = verdicts(run_audit([HOME], clients))["CloudTrail records management writes"]
    assert (check.status, check.detail.endswith("advanced selector 'management' (management events)")) == (PASS, True)


def test_only_a_regional_trail_in_another_region(account: Account) -> None:
    account.trails.delete_trail(Name="org")
    other = boto3.client("cloudtrail", region_name=OTHER)
    other.create_trail(Name="local", S3BucketName="trail-logs", IsMultiRegionTrail=False)
    other.start_logging(Name="local")
    checks = run_audit([HOME, OTHER], clients)
    assert verdicts(checks, HOME)["CloudTrail records management writes"].status == FAIL
    assert verdicts(checks, OTHER)["CloudTrail records management writes"].status == PASS
    assert verdicts(checks)["a multi-region trail exists"].status == FAIL


def test_no_recorder(account: Account) -> None:
    account.config.stop_configuration_recorder(ConfigurationRecorderName="default")
    account.config.delete_delivery_channel(DeliveryChannelName="default")
    account.config.delete_configuration_recorder(ConfigurationRecorderName="default")
    checks = verdicts(run_audit([HOME], clients))
    assert checks["AWS Config records security groups"].status == FAIL
    assert "recordSecurityGroups=true" in checks["AWS Config records security groups"].fix
    assert checks["AWS Config delivery channel"].status == FAIL


def test_recorder_stopped(account: Account) -> None:
    account.config.stop_configuration_recorder(ConfigurationRecorderName="default")
    check = verdicts(run_audit([HOME], clients))["AWS Config records security groups"]
    assert (check.status, check.detail) == (FAIL, "recorder default is stopped")
    assert check.fix == "aws configservice start-configuration-recorder --configuration-recorder-name default"


def test_recorder_not_recording_security_groups(account: Account) -> None:
    account.config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingGroup": {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]},
        }
    )
    check = verdicts(run_audit([HOME], clients))["AWS Config records security groups"]
    assert check.status == FAIL
    assert "AWS::EC2::SecurityGroup is not among the recorded types" in check.detail


def test_sgwatch_rule_disabled_or_missing(account: Account) -> None:
    account.events.disable_rule(Name="sgwatch-rule")
    check = verdicts(run_audit([HOME], clients))["sgwatch rule deployed and enabled"]
    assert (check.status, check.fix) == (FAIL, "make deploy ARGS='-c enabled=true'")
    account.events.remove_targets(Rule="sgwatch-rule", Ids=["buffer"])
    account.events.delete_rule(Name="sgwatch-rule")
    assert (
        verdicts(run_audit([HOME], clients))["sgwatch rule deployed and enabled"].detail
        == "no sgwatch rule in this region"
    )


def test_changes_left_in_a_dead_letter_queue_fail_the_audit_and_say_what_to_do(account: Account) -> None:
    account.sqs.send_message(QueueUrl=account.failed_url, MessageBody="{}")
    account.sqs.send_message(QueueUrl=account.failed_url, MessageBody="{}")
    check = verdicts(run_audit([HOME], clients))["nothing waits in sgwatch's dead-letter queues"]
    failed = "arn:aws:sqs:eu-west-1:123456789012:buffer-dead-letters"
    assert (check.status, check.detail) == (FAIL, f"2 changes that the function could not process, in {failed}")
    assert check.fix.endswith(f"aws sqs start-message-move-task --source-arn {failed}")
    account.sqs.send_message(QueueUrl=account.undelivered_url, MessageBody="{}")
    check = verdicts(run_audit([HOME], clients))["nothing waits in sgwatch's dead-letter queues"]
    assert check.detail.startswith(
        "1 change that rule sgwatch-rule could not deliver, in arn:aws:sqs:eu-west-1:123456789012:undelivered; 2 changes"
    )
    assert "ERROR_CODE" in check.fix
    assert audit_cli()[0] == 1


def test_a_forwarder_region_passes_and_its_undelivered_events_fail(account: Account) -> None:
    sqs = boto3.client("sqs", region_name=OTHER)
    url, undelivered = create_queue(sqs, "forwarder-undelivered")
    events = boto3.client("events", region_name=OTHER)
    events.put_rule(Name="sgwatch-forwarder", EventPattern=json.dumps(event_pattern()))
    home_bus = f"arn:aws:events:{HOME}:123456789012:event-bus/default"
    events.put_targets(
        Rule="sgwatch-forwarder",
        Targets=[{"Id": "home", "Arn": home_bus, "RoleArn": "arn:aws:iam::123456789012:role/fwd",
                  "DeadLetterConfig": {"Arn": undelivered}}],
    )  # fmt: skip
    checks = verdicts(run_audit([OTHER], clients), OTHER)
    assert checks["sgwatch rule deployed and enabled"].status == PASS
    assert (
        checks["sgwatch rule deployed and enabled"].detail
        == f"rule sgwatch-forwarder is enabled and forwards to {home_bus}"
    )
    assert checks["nothing waits in sgwatch's dead-letter queues"].status == PASS
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    check = verdicts(run_audit([OTHER], clients), OTHER)["nothing waits in sgwatch's dead-letter queues"]
    assert (check.status, check.detail) == (
        FAIL, f"1 change that rule sgwatch-forwarder could not deliver, in {undelivered}"
    )  # fmt: skip


def test_a_denied_call_is_unknown_and_the_rest_still_runs(account: Account) -> None:
    denied = boto3.client("config", region_name=HOME)
    stubber = Stubber(denied)
    stubber.add_client_error("describe_configuration_recorders", "AccessDeniedException", "not allowed")
    stubber.add_response("describe_delivery_channels", {"DeliveryChannels": [{"name": "default"}]})
    stubber.activate()

    def with_denied_config(service: str, region: str) -> Any:
        return denied if service == "config" else clients(service, region)

    checks = verdicts(run_audit([HOME], with_denied_config))
    assert checks["AWS Config records security groups"].status == UNKNOWN
    assert checks["AWS Config records security groups"].detail == "config:DescribeConfigurationRecorders was denied"
    assert checks["AWS Config delivery channel"].status == PASS
    assert checks["CloudTrail records management writes"].status == PASS
    assert checks["sgwatch rule deployed and enabled"].status == PASS


def test_json_format(account: Account) -> None:
    out = io.StringIO()
    assert main(["audit", "--regions", HOME, "--format", "json"], out, io.StringIO()) == 0
    assert {entry["status"] for entry in json.loads(out.getvalue())} == {PASS}


def test_all_regions_by_default(account: Account) -> None:
    out = io.StringIO()
    status = main(["audit", "--format", "text"], out, io.StringIO())
    assert status == 1  # the other regions have no recorder and no sgwatch rule
    regions = {
        line.split()[0]
        for line in out.getvalue().splitlines()[1:]
        if line[:1].isalpha() and not line.startswith("audit")
    }
    assert {HOME, OTHER, "account"} <= regions and len(regions) > 10


def test_member_accounts_are_audited_through_their_role(account: Account) -> None:
    member = "111122223333"
    keys = assumed_role_keys(
        boto3.client("sts", region_name=HOME), f"arn:aws:iam::{member}:role/sgwatch-audit", "setup"
    )
    boto3.client("s3", region_name=OTHER, **keys).create_bucket(Bucket="member-trail")
    trails = boto3.client("cloudtrail", region_name=HOME, **keys)
    trails.create_trail(Name="member", S3BucketName="member-trail", IsMultiRegionTrail=True)
    trails.start_logging(Name="member")
    out = io.StringIO()
    assert main(["audit", "--regions", HOME, "--accounts", member, "--format", "text"], out, io.StringIO()) == 1
    rows = {line.split()[0]: line for line in out.getvalue().splitlines()[1:] if line[:1].isdigit()}
    assert set(rows) == {f"{member}/account", f"{member}/{HOME}"}
    table = out.getvalue()
    assert re.search(
        rf"{member}/{HOME}  CloudTrail records management writes +PASS +trail member \(multi-region", table
    )
    assert re.search(rf"{member}/{HOME}  sgwatch rule deployed and enabled +FAIL", table)  # it runs centrally
    assert re.search(rf"{member}/account +sgwatch heartbeat arrives +UNKNOWN", table)  # the central account watches


def test_the_guard_rule_disabled_or_missing_fails_with_its_fix(account: Account) -> None:
    account.events.disable_rule(Name="sgwatch-guard")
    check = verdicts(run_audit([HOME], clients))["sgwatch guard rule deployed and enabled"]
    assert (check.status, check.detail) == (FAIL, "guard rule sgwatch-guard is DISABLED")
    assert check.fix == f"aws events enable-rule --name sgwatch-guard --region {HOME}"
    account.events.remove_targets(Rule="sgwatch-guard", Ids=["buffer"])
    account.events.delete_rule(Name="sgwatch-guard")
    check = verdicts(run_audit([HOME], clients))["sgwatch guard rule deployed and enabled"]
    assert check.status == FAIL and check.detail.startswith("no guard rule in this region")


def test_a_silent_region_fails_and_a_region_without_a_canary_too(account: Account) -> None:
    account.heartbeat_alarm(OTHER, "ALARM")
    checks = run_audit([HOME, OTHER, "eu-central-1"], clients)
    assert verdicts(checks, HOME)["sgwatch heartbeat arrives"].status == PASS
    silent = verdicts(checks, OTHER)["sgwatch heartbeat arrives"]
    assert silent.status == FAIL
    assert silent.detail.startswith(
        "no heartbeat for 75 minutes: no heartbeat in the last day (alarm sgwatch-heartbeat"
    )
    uncovered = verdicts(checks, "eu-central-1")["sgwatch heartbeat arrives"]
    assert uncovered.status == FAIL and uncovered.detail.startswith("no heartbeat canary covers this region")


def test_an_account_without_heartbeat_alarms_is_unknown_not_failed(account: Account) -> None:
    account.cloudwatch.delete_alarms(AlarmNames=[f"sgwatch-heartbeat-{HOME}"])
    checks = run_audit([HOME], clients)
    [heartbeat] = [check for check in checks if check.name == "sgwatch heartbeat arrives"]
    assert (heartbeat.region, heartbeat.status) == ("account", UNKNOWN)
