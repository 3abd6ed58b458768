"""The function under moto: real EC2 facts, a real topic, inbox queues subscribed with and without a filter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from sgwatch.core import names
from sgwatch.core.alerts import MAX_MESSAGE_BYTES, MAX_SUBJECT
from sgwatch.emulation.account import create_queue
from sgwatch.runtime import handler
from sgwatch.runtime.aws import assumed_role_keys

from tests.conftest import CONSTRUCTED, REAL_RECORDS, load
from tests.e2e.conftest import (
    ACCOUNT,
    REGION,
    LambdaContext,
    World,
    emf_metrics,
    eventbridge,
    on_group,
    sqs_event,
)
from tests.infra.conftest import shown_metrics

ROOT = Path(__file__).resolve().parents[2]
SSH_WORLD = load(REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json")
EGRESS_ALL = load(
    REAL_RECORDS / "rubysoho07-cloudtrail-watcher/authorize_egress_terraform_v6_all_traffic_proto_-1.json"
)
REVOKE = load(
    REAL_RECORDS / "rubysoho07-cloudtrail-watcher/revoke_ingress_terraform_v6_ssh_with_revokedSecurityGroupRuleSet.json"
)
PRIVATE_ALL = load(REAL_RECORDS / "streamalert/eventbridge_authorize_ingress_all_traffic_rfc1918.json")["detail"]
ATTACH = load(REAL_RECORDS / "wwalpha-aws-spotlight/modify_network_interface_attribute_groupset_clientvpn_service.json")


def run(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler.lambda_handler(event, LambdaContext())
    return response


def body_json(message: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(message["Message"])
    return parsed


def test_an_alert_reaches_the_topic_with_subject_body_and_attributes(world: World) -> None:
    record = on_group(SSH_WORLD, world.app_group)
    assert run(sqs_event(eventbridge(record))) == {"batchItemFailures": []}
    [alert] = world.received(world.inbox_url)
    assert alert["Subject"] == f"CRITICAL: add 22/tcp from 0.0.0.0/0 on {world.app_group}"
    attributes = {name: value["Value"] for name, value in alert["MessageAttributes"].items()}
    assert attributes == {
        names.ATTRIBUTE_SEVERITY: "CRITICAL",
        names.ATTRIBUTE_SEVERITY_RANK: "5",
        names.ATTRIBUTE_EVENT_NAME: "AuthorizeSecurityGroupIngress",
        names.ATTRIBUTE_ACCOUNT: ACCOUNT,
        names.ATTRIBUTE_REGION: REGION,
        names.ATTRIBUTE_GROUP_ID: world.app_group,
    }
    text = alert["Email"]
    assert "Who:   user/test_user via Terraform" in text
    assert f"SSH (22/tcp) opened to the whole internet (0.0.0.0/0) on {world.app_group}" in text
    assert "What to do: Revoke the rule now" in text
    assert f"#SecurityGroup:groupId={world.app_group}" in text
    assert f"name 'payments-app', {world.vpc_id}, used by 2 network interfaces, tags team=payments" in text
    payload = body_json(alert)
    assert payload["results"][0]["eventID"] == record["eventID"]
    assert payload["groups"][0]["networkInterfaces"] == 2
    assert len(world.received(world.email_url)) == 1


def test_the_email_filter_policy_drops_below_threshold_alerts(world: World) -> None:
    run(sqs_event(eventbridge(on_group(EGRESS_ALL, world.app_group))))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "LOW"
    assert world.received(world.email_url) == []


def test_changes_by_one_actor_to_one_group_are_one_alert_and_duplicates_count_once(world: World) -> None:
    ssh = on_group(SSH_WORLD, world.app_group, "00000000-0000-4000-8000-000000000001")
    egress = on_group(EGRESS_ALL, world.app_group, "00000000-0000-4000-8000-000000000002")
    other_group = on_group(EGRESS_ALL, world.open_group, "00000000-0000-4000-8000-000000000003")
    response = run(sqs_event(eventbridge(egress), eventbridge(ssh), eventbridge(ssh), eventbridge(other_group)))
    assert response == {"batchItemFailures": []}
    alerts = world.received(world.inbox_url)
    assert len(alerts) == 2
    grouped = next(
        alert for alert in alerts if alert["MessageAttributes"][names.ATTRIBUTE_GROUP_ID]["Value"] == world.app_group
    )
    assert grouped["Subject"].startswith("CRITICAL: add 22/tcp from 0.0.0.0/0")
    assert grouped["Subject"].endswith("(+1 more)")
    # most severe first: what a size limit would cut is the least severe
    assert [result["eventID"] for result in body_json(grouped)["results"]] == [ssh["eventID"], egress["eventID"]]


def test_ingress_on_a_default_group_is_raised_by_enrichment(world: World) -> None:
    run(sqs_event(eventbridge(on_group(PRIVATE_ALL, world.default_group))))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH"
    assert f"{world.default_group} is the default security group of {world.vpc_id}" in alert["Email"]


def test_attaching_a_world_open_group_is_raised_by_enrichment(world: World) -> None:
    attach = copy.deepcopy(ATTACH)
    attach["requestParameters"]["groupSet"] = {"items": [{"groupId": world.open_group}]}
    attach["requestParameters"]["networkInterfaceId"] = world.eni_id
    attach["awsRegion"] = REGION
    run(sqs_event(eventbridge(attach)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH"
    assert (
        f"{world.open_group}, which has SSH (22/tcp) opened to the whole internet (0.0.0.0/0), now guards {world.eni_id}"
        in alert["Email"]
    )


def test_enrichment_denied_still_alerts_and_says_what_is_missing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    with Stubber(world.clients.home["ec2"]) as stubber:
        stubber.add_client_error("describe_security_groups", "UnauthorizedOperation", "You are not authorized")
        run(sqs_event(eventbridge(on_group(SSH_WORLD, world.app_group))))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "CRITICAL"
    assert f"{world.app_group}: not described (UnauthorizedOperation: You are not authorized)" in alert["Email"]
    emitted = {name for name, _, _ in emf_metrics(capsys.readouterr().out)}
    assert names.METRIC_ENRICHMENT_FAILURES in emitted


def test_a_failed_publish_fails_exactly_its_records(world: World) -> None:
    first = on_group(SSH_WORLD, world.app_group)
    second = on_group(SSH_WORLD, world.open_group)
    sns = world.clients.home["sns"]

    def fail_the_open_groups_alert(params: dict[str, Any], **_: Any) -> None:
        # the batch's alerts are published side by side, so the failure is chosen by content, not by call order
        if world.open_group in params.get("Message", ""):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "Publish")

    sns.meta.events.register("before-parameter-build.sns.Publish", fail_the_open_groups_alert)
    try:
        response = run(sqs_event(eventbridge(first), eventbridge(second)))
    finally:
        sns.meta.events.unregister("before-parameter-build.sns.Publish", fail_the_open_groups_alert)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    [delivered] = world.received(world.inbox_url)
    assert world.app_group in delivered["Email"]


def test_an_unreadable_record_is_alerted_with_its_raw_record_not_retried(world: World) -> None:
    broken = on_group(SSH_WORLD, world.app_group)
    broken["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "ssh"
    response = run(sqs_event("this is not json", eventbridge(broken)))
    assert response == {"batchItemFailures": []}
    alerts = world.received(world.inbox_url)  # published side by side: in either order
    assert [alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] for alert in alerts] == ["MEDIUM", "MEDIUM"]
    [not_json] = [alert for alert in alerts if "sqs message message-0: body is not valid JSON" in alert["Email"]]
    assert body_json(not_json)["rawRecord"] == "this is not json"
    [bad_port] = [
        alert
        for alert in alerts
        if "requestParameters.ipPermissions.items[0].fromPort: expected a port number, got 'ssh'" in alert["Email"]
    ]
    assert body_json(bad_port)["rawRecord"]["eventID"] == broken["eventID"]


def test_below_threshold_changes_are_counted_not_published(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run(sqs_event(eventbridge(on_group(REVOKE, world.app_group))))
    assert world.received(world.inbox_url) == []
    metrics = emf_metrics(capsys.readouterr().out)
    assert (names.METRIC_ALERTS_SUPPRESSED, frozenset({names.SERVICE_DIMENSION})) in {(n, d) for n, d, _ in metrics}
    assert any(
        document.get(names.SEVERITY_DIMENSION) == "INFO"
        for name, _, document in metrics
        if name == names.METRIC_CHANGES
    )


def test_untrusted_text_cannot_break_the_subject_forge_lines_or_overflow(world: World) -> None:
    record = on_group(SSH_WORLD, world.app_group)
    permission = record["requestParameters"]["ipPermissions"]["items"][0]
    permission["ipRanges"]["items"][0]["description"] = "ok\r\nCRITICAL: all clear\u2028" + "x" * 300_000
    record["userIdentity"]["arn"] = "arn:aws:iam::000000000000:user/evil\nSubject: forged"
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert len(alert["Subject"]) <= MAX_SUBJECT and alert["Subject"].isascii() and "\n" not in alert["Subject"]
    assert world.outbox.sent[alert["MessageId"]].message_bytes <= MAX_MESSAGE_BYTES
    assert "\nCRITICAL: all clear" not in alert["Email"]
    assert "\nSubject: forged" not in alert["Email"]


def test_the_same_event_in_two_batches_is_alerted_once(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    record = on_group(SSH_WORLD, world.app_group)
    run(sqs_event(eventbridge(record)))
    run(sqs_event(eventbridge(record)))
    assert len(world.received(world.inbox_url)) == 1
    assert names.METRIC_DUPLICATES_SUPPRESSED in {name for name, _, _ in emf_metrics(capsys.readouterr().out)}


def test_an_unavailable_store_still_alerts_and_is_counted(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    with Stubber(world.clients.home["dynamodb"]) as stubber:
        stubber.add_client_error("put_item", "ProvisionedThroughputExceededException", "slow down")
        run(sqs_event(eventbridge(on_group(SSH_WORLD, world.app_group))))
    assert len(world.received(world.inbox_url)) == 1
    assert names.METRIC_DEDUP_FAILURES in {name for name, _, _ in emf_metrics(capsys.readouterr().out)}


def test_a_failed_publish_releases_its_claim_so_the_retry_alerts(world: World) -> None:
    record = on_group(SSH_WORLD, world.app_group)
    with Stubber(world.clients.home["sns"]) as stubber:
        stubber.add_client_error("publish", "InternalError", "try again", http_status_code=500)
        assert run(sqs_event(eventbridge(record))) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert run(sqs_event(eventbridge(record))) == {"batchItemFailures": []}
    assert len(world.received(world.inbox_url)) == 1


def test_the_policy_lowers_in_the_function_and_the_alert_says_which_entry(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[trusted_principal]]\narn = "arn:aws:iam::000000000000:user/test_user"\nreason = "the CI user"\n'
    )
    monkeypatch.setenv(names.ENV_POLICY_FILE, str(policy))
    world.start_function()
    world.ec2.create_tags(
        Resources=[world.open_group], Tags=[{"Key": "sgwatch:approved", "Value": "22/tcp from world; owner=ops"}]
    )
    run(
        sqs_event(
            eventbridge(on_group(SSH_WORLD, world.app_group)), eventbridge(on_group(EGRESS_ALL, world.open_group))
        )
    )
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "HIGH"
    assert (
        "[CRITICAL lowered to HIGH by trusted policy trusted_principal[0] (policy line 1): the CI user]"
        in alert["Email"]
    )
    assert names.METRIC_LOWERED_BY_POLICY in {name for name, _, _ in emf_metrics(capsys.readouterr().out)}


def test_a_tag_approval_on_the_group_makes_the_change_info(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("tag_approvals = true\n")
    monkeypatch.setenv(names.ENV_POLICY_FILE, str(policy))
    world.start_function()
    world.ec2.create_tags(
        Resources=[world.app_group],
        Tags=[{"Key": "sgwatch:approved", "Value": "22/tcp from world; owner=ops; expires=2099-01-01"}],
    )
    run(sqs_event(eventbridge(on_group(SSH_WORLD, world.app_group))))
    assert world.received(world.inbox_url) == []  # INFO: below the publish threshold, logged and counted
    metrics = emf_metrics(capsys.readouterr().out)
    assert any(
        document.get(names.SEVERITY_DIMENSION) == "INFO"
        for name, _, document in metrics
        if name == names.METRIC_CHANGES
    )


def test_every_metric_the_dashboard_shows_is_emitted_and_every_emitted_metric_is_shown(
    world: World,
    capsys: pytest.CaptureFixture[str],
    default_stack: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fixtures = [load(path) for path in sorted(REAL_RECORDS.rglob("*.json"))]
    fixtures += [load(CONSTRUCTED / "eventbridge_authorize_ingress_rdp_world.json")]
    fixtures += [load(CONSTRUCTED / "heartbeat_update_descriptions_egress_canary.json")]
    bodies = [fixture if "detail" in fixture else eventbridge(fixture) for fixture in fixtures]
    run(sqs_event(*bodies, "not json"))
    with Stubber(world.clients.home["sns"]) as stubber:
        stubber.add_client_error("publish", "InternalError", "try again", http_status_code=500)
        run(sqs_event(eventbridge(on_group(SSH_WORLD, world.app_group))))
    with Stubber(world.clients.home["dynamodb"]) as stubber:
        stubber.add_client_error("put_item", "InternalServerError", "down")
        run(sqs_event(eventbridge(on_group(EGRESS_ALL, world.app_group))))
    twice = on_group(EGRESS_ALL, world.open_group)
    run(sqs_event(eventbridge(twice)))
    run(sqs_event(eventbridge(twice)))
    policy = tmp_path / "policy.toml"
    policy.write_text('[[trusted_principal]]\narn = "*"\nreason = "pipeline"\n')
    monkeypatch.setenv(names.ENV_POLICY_FILE, str(policy))
    world.start_function()
    run(sqs_event(eventbridge(on_group(SSH_WORLD, world.open_group))))
    emitted = {(name, dimensions) for name, dimensions, _ in emf_metrics(capsys.readouterr().out)}
    _, template = default_stack
    assert emitted == shown_metrics(template, names.METRIC_NAMESPACE)


def test_a_defect_on_one_message_fails_only_that_message(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgwatch.runtime import pipeline

    real_classify = pipeline.classify  # type: ignore[attr-defined]

    def classify_or_fail(record: Any, **kwargs: Any) -> Any:
        if record.get("eventID") == "defect":
            raise RuntimeError("a defect")
        return real_classify(record, **kwargs)

    monkeypatch.setattr(pipeline, "classify", classify_or_fail)
    healthy = on_group(SSH_WORLD, world.app_group)
    response = run(sqs_event(eventbridge(on_group(SSH_WORLD, world.open_group, "defect")), eventbridge(healthy)))
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    [alert] = world.received(world.inbox_url)
    assert body_json(alert)["results"][0]["eventID"] == healthy["eventID"]


def test_a_change_forwarded_from_another_region_is_described_in_its_region(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    other = boto3.client("ec2", region_name="us-east-1")
    vpc = other.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    group = other.create_security_group(GroupName="far-away", Description="far", VpcId=vpc)["GroupId"]
    record = on_group(SSH_WORLD, group)
    record["awsRegion"] = "us-east-1"
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_REGION]["Value"] == "us-east-1"
    assert f"{group}: name 'far-away', {vpc}" in alert["Email"]
    [by_region] = [document for name, _, document in emf_metrics(capsys.readouterr().out)
                   if name == names.METRIC_CHANGES_BY_REGION]  # fmt: skip
    assert by_region[names.REGION_DIMENSION] == "us-east-1"


def test_a_member_accounts_change_is_described_through_its_enrichment_role(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = "111122223333"
    sts = boto3.client("sts", region_name=REGION)
    keys = assumed_role_keys(sts, f"arn:aws:iam::{member}:role/sgwatch-enrichment", "setup")
    ec2 = boto3.client("ec2", region_name=REGION, **keys)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="member-web", Description="member", VpcId=vpc)["GroupId"]
    monkeypatch.setenv(names.ENV_ENRICHMENT_ROLE, "sgwatch-enrichment")
    world.start_function()
    record = on_group(SSH_WORLD, group)
    record["recipientAccountId"] = member
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_ACCOUNT]["Value"] == member
    assert f"{group}: name 'member-web', {vpc}" in alert["Email"]


def test_a_role_that_cannot_be_assumed_still_alerts_and_says_so() -> None:
    from sgwatch.runtime.aws import Ec2Enricher

    def denied(region: str, account: str) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")

    home = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    facts = Ec2Enricher(home, client_for=denied, home_account="123456789012").facts(
        ["sg-0123456789abcdef0"], REGION, "111122223333"
    )
    assert facts["sg-0123456789abcdef0"].error == "account 111122223333, region 'eu-west-1': AccessDenied: not trusted"


def test_a_rewritten_rule_that_ec2_says_is_outbound_is_rated_as_outbound(world: World) -> None:
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [world.app_group]}])
    [egress_rule] = [rule["SecurityGroupRuleId"] for rule in rules["SecurityGroupRules"] if rule["IsEgress"]]
    record = load(
        REAL_RECORDS / "rubysoho07-cloudtrail-watcher/modify_security_group_rules_console_iamuser_cidrv4_443.json"
    )
    request = record["requestParameters"]["ModifySecurityGroupRulesRequest"]
    request["GroupId"] = world.app_group
    request["SecurityGroupRule"]["SecurityGroupRuleId"] = egress_rule
    request["SecurityGroupRule"]["SecurityGroupRule"]["CidrIpv4"] = "0.0.0.0/0"
    request["SecurityGroupRule"]["SecurityGroupRule"]["FromPort"] = request["SecurityGroupRule"]["SecurityGroupRule"][
        "ToPort"
    ] = 22
    record.update(eventID="modify-egress", awsRegion=REGION, recipientAccountId=ACCOUNT)
    run(sqs_event(eventbridge(record)))
    [alert] = world.received(world.inbox_url)
    assert alert["MessageAttributes"][names.ATTRIBUTE_SEVERITY]["Value"] == "LOW"  # not CRITICAL: it is outbound
    assert f"Rule {egress_rule} rewritten: outbound 22/tcp to the whole internet" in alert["Email"]
    assert "(EC2 says the rule is outbound)" in alert["Email"]


def test_with_security_hub_on_an_alert_is_also_a_finding_with_the_groups_details_and_a_redelivery_updates_it(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(names.ENV_SECURITY_HUB_MIN_SEVERITY, "MEDIUM")
    world.start_function()
    record = on_group(SSH_WORLD, world.app_group)
    low = on_group(REVOKE, world.open_group)
    assert run(sqs_event(eventbridge(record), eventbridge(low))) == {"batchItemFailures": []}
    hub = boto3.client("securityhub", region_name=REGION)
    [finding] = hub.get_findings()["Findings"]  # the LOW revoke is below the threshold
    assert finding["Id"] == f"sgwatch/{REGION}/{record['eventID']}"
    assert finding["Severity"]["Label"] == "CRITICAL" and finding["AwsAccountId"] == ACCOUNT
    [group] = finding["Resources"]
    assert group["Details"]["AwsEc2SecurityGroup"]["GroupName"] == "payments-app"
    assert group["Tags"] == {"team": "payments"}
    assert len(world.received(world.inbox_url)) == 1  # the alert went out as before (the INFO revoke: counted only)
    run(sqs_event(eventbridge(record)))  # delivered again: suppressed as a duplicate, and no second finding
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == [finding["Id"]]
    assert (names.METRIC_FINDINGS_IMPORTED, frozenset({names.SERVICE_DIMENSION})) in {
        (name, dimensions) for name, dimensions, _ in emf_metrics(capsys.readouterr().out)
    }


def test_without_security_hub_the_function_makes_no_security_hub_client(world: World) -> None:
    assert world.start_function().finding_sink is None


def test_with_a_chat_channel_a_high_alert_reaches_the_chat_topic_in_the_documented_format(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema  # type: ignore[import-untyped]

    chat_topic = world.sns.create_topic(Name="sgwatch-chat")["TopicArn"]
    chat_inbox, chat_arn = create_queue(world.sqs, "chat-inbox")
    world.sns.subscribe(TopicArn=chat_topic, Protocol="sqs", Endpoint=chat_arn)
    monkeypatch.setenv(names.ENV_CHAT_TOPIC_ARN, chat_topic)
    monkeypatch.setenv(names.ENV_CHAT_MIN_SEVERITY, "HIGH")
    world.start_function()
    critical = on_group(SSH_WORLD, world.app_group)
    low = on_group(REVOKE, world.open_group)
    assert run(sqs_event(eventbridge(critical), eventbridge(low))) == {"batchItemFailures": []}
    [posted] = world.received(chat_inbox)  # the INFO revoke stays out of the channel
    notification = json.loads(posted["Message"])
    schema = json.loads((ROOT / "schemas" / "chat-notification.schema.json").read_text())
    jsonschema.validate(notification, schema)
    assert notification["id"] == critical["eventID"]
    assert notification["metadata"]["relatedResources"] == [world.app_group]
    assert len(world.received(world.inbox_url)) == 1  # the alert itself, as before
