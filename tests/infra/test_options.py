"""The opt-in prerequisites and the scale-down switches: off by default, cdk-nag clean when on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from sgwatch.core.events import monitored_event_names

from app import cdk_json_context
from infra.config import ConfigError, load_config
from tests.infra.conftest import cfn_lint, logical_id, resource, synth


def test_prerequisites_are_off_by_default(default_stack: Any) -> None:
    _, template = default_stack
    for kind in ("AWS::CloudTrail::Trail", "AWS::Config::ConfigurationRecorder", "AWS::S3::Bucket"):
        assert template.find_resources(kind) == {}


def _with_prerequisites() -> tuple[Any, Template]:
    return synth(createTrail=True, recordSecurityGroups=True)  # synth runs cdk-nag: a finding would raise


def test_create_trail_is_multi_region_validated_and_writes_to_a_locked_bucket(tmp_path: Path) -> None:
    stack, template = _with_prerequisites()
    trail = resource(template, stack, "AuditTrail", "Trail")["Properties"]
    assert trail["IsMultiRegionTrail"] is True
    assert trail["EnableLogFileValidation"] is True
    assert trail["IsLogging"] is True
    assert trail["EventSelectors"] == [{"IncludeManagementEvents": True, "ReadWriteType": "All"}]
    bucket = resource(template, stack, "ComplianceLogs", "Bucket")["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365
    assert "LoggingConfiguration" in bucket
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
    ]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for p in policies
        for s in p
    )
    assert cfn_lint(template, tmp_path) == ""


def _joined(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "".join(
        part if isinstance(part, str) else "{" + str(next(iter(part.values()))) + "}" for part in value["Fn::Join"][1]
    )


def _cloudtrail_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}]


TRAIL_ARN = "arn:{AWS::Partition}:cloudtrail:{AWS::Region}:{AWS::AccountId}:trail/sgwatch"


@pytest.mark.parametrize("encrypted", [True, False])
def test_cloudtrail_may_use_the_bucket_only_for_this_trail_of_this_account(encrypted: bool, tmp_path: Path) -> None:
    stack, template = synth(createTrail=True, trailEncryption=encrypted)
    trail = resource(template, stack, "AuditTrail", "Trail")["Properties"]
    assert trail["TrailName"] == "sgwatch"
    [bucket_policy] = [
        p["Properties"]
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id(stack, "ComplianceLogs", "Bucket")}
    ]
    grants = _cloudtrail_statements(bucket_policy["PolicyDocument"]["Statement"])
    assert sorted(grant["Action"] for grant in grants) == ["s3:GetBucketAcl", "s3:PutObject"]
    for grant in grants:
        conditions = grant["Condition"]["StringEquals"]
        assert _joined(conditions["aws:SourceArn"]) == TRAIL_ARN
        assert conditions["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    [write] = [grant for grant in grants if grant["Action"] == "s3:PutObject"]
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert _joined(write["Resource"]).endswith("/cloudtrail/AWSLogs/{AWS::AccountId}/*")
    assert trail["S3KeyPrefix"] == "cloudtrail"
    # CloudTrail checks the bucket policy when the trail is created
    [trail_resource] = template.find_resources("AWS::CloudTrail::Trail").values()
    assert logical_id(stack, "ComplianceLogs", "Bucket", "Policy") in trail_resource["DependsOn"]
    assert cfn_lint(template, tmp_path) == ""


def test_the_trail_is_encrypted_with_a_rotating_key_only_this_trail_may_use() -> None:
    stack, template = synth(createTrail=True)  # the default: encrypted
    trail = resource(template, stack, "AuditTrail", "Trail")["Properties"]
    assert trail["KMSKeyId"] == {"Fn::GetAtt": [logical_id(stack, "AuditTrail", "Key"), "Arn"]}
    key = resource(template, stack, "AuditTrail", "Key")["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = {grant["Action"]: grant for grant in _cloudtrail_statements(key["KeyPolicy"]["Statement"])}
    assert sorted(grants) == ["kms:DescribeKey", "kms:GenerateDataKey*"]
    encrypt = grants["kms:GenerateDataKey*"]["Condition"]
    assert [_joined(arn) for arn in encrypt["StringEquals"].values()] == [TRAIL_ARN]  # aws:SourceArn, as AWS advises
    assert list(encrypt["StringEquals"]) == ["aws:SourceArn"]
    assert _joined(encrypt["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]) == (
        "arn:{AWS::Partition}:cloudtrail:*:{AWS::AccountId}:trail/*"
    )
    assert _joined(grants["kms:DescribeKey"]["Condition"]["StringEquals"]["aws:SourceArn"]) == TRAIL_ARN


def test_trail_encryption_can_be_turned_off_to_save_the_keys_cost() -> None:
    stack, template = synth(createTrail=True, trailEncryption="false")
    assert "KMSKeyId" not in resource(template, stack, "AuditTrail", "Trail")["Properties"]
    assert stack.node.find_child("AuditTrail").node.try_find_child("Key") is None
    assert len(template.find_resources("AWS::KMS::Key")) == 1  # the topics' key only
    with pytest.raises(ConfigError, match="context trailEncryption: expected true or false"):
        synth(createTrail=True, trailEncryption="maybe")


def test_record_security_groups_records_exactly_security_groups() -> None:
    stack, template = _with_prerequisites()
    recorder = resource(template, stack, "SecurityGroupRecorder", "Recorder")["Properties"]
    assert recorder["RecordingGroup"]["ResourceTypes"] == ["AWS::EC2::SecurityGroup"]
    assert recorder["RecordingGroup"]["AllSupported"] is False
    channel = template.to_json()["Resources"]
    [delivery] = [r for r in channel.values() if r["Type"] == "AWS::Config::DeliveryChannel"]
    assert delivery["Properties"]["S3KeyPrefix"] == "config"


def test_monitor_ingress_scales_the_rule_down() -> None:
    stack, template = synth(monitor="ingress")
    detail = resource(template, stack, "Detection", "Rule")["Properties"]["EventPattern"]["detail"]
    names = {name for branch in detail["$or"] for name in branch["eventName"]}
    assert "AuthorizeSecurityGroupEgress" not in names and "RevokeSecurityGroupEgress" not in names
    assert "UpdateSecurityGroupRuleDescriptionsEgress" not in names
    assert "AuthorizeSecurityGroupIngress" in names and "ModifySecurityGroupRules" in names
    assert len(names) == len(monitored_event_names()) - 3


def test_the_deduplication_table_expires_items_and_is_encrypted(default_stack: Any) -> None:
    stack, template = default_stack
    table = resource(template, stack, "Deduplication", "Table")["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["KeySchema"] == [{"AttributeName": "eventID", "KeyType": "HASH"}]
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert function["Environment"]["Variables"]["SGWATCH_DEDUP_TABLE"] == {
        "Ref": logical_id(stack, "Deduplication", "Table")
    }


def test_a_policy_file_ships_as_a_layer_and_sets_the_email_threshold(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[channels]\nemail = "HIGH"\n\n[[internal_range]]\ncidr = "10.0.0.0/8"\nreason = "corporate"\n')
    stack, template = synth(policyFile=str(policy), alertEmail="secops@example.com")
    function = resource(template, stack, "Processor", "Function")["Properties"]
    assert function["Environment"]["Variables"]["SGWATCH_POLICY_FILE"] == "/opt/sgwatch/policy.toml"
    assert {"Ref": logical_id(stack, "Processor", "Policy")} in function["Layers"]
    [subscription] = [
        s["Properties"]
        for s in template.find_resources("AWS::SNS::Subscription").values()
        if "FilterPolicy" in s["Properties"]
    ]
    assert subscription["FilterPolicy"] == {"severity_rank": [{"numeric": [">=", 4]}]}


def test_a_bad_policy_fails_the_synth_with_its_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[internal_range]]\ncidr = "nope"\nreason = "typo"\n')
    with pytest.raises(
        ConfigError, match=r"context policyFile: .*policy.toml:1: internal_range\[0\].cidr: 'nope' is not a CIDR"
    ):
        synth(policyFile=str(policy))


def test_max_concurrency_is_bounded_like_the_event_source() -> None:
    assert load_config({**cdk_json_context(), "maxConcurrency": "50"}.get).max_concurrency == 50
    with pytest.raises(ConfigError, match=r"context maxConcurrency: 1 is outside 2-1000"):
        load_config({**cdk_json_context(), "maxConcurrency": 1}.get)
