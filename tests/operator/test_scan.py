"""`sgwatch scan` under moto: every rule that stands now judged as if it were being added, raised or lowered by what
uses its group, with the policy, over every page, region and account; the revoke command it prints works."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from sgwatch.core.enrich import PrefixListFacts
from sgwatch.emulation.account import seed_member_open_group, seed_open_groups
from sgwatch.operator.cli import main
from sgwatch.operator.commands import aws
from sgwatch.runtime import inventory

REGION = "eu-west-1"


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in ("AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield seed_open_groups(boto3.client("ec2", region_name=REGION))


def scan(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["scan", "--regions", REGION, *argv], out, err)
    return status, out.getvalue(), err.getvalue()


def by_group(output: str) -> dict[str, dict[str, Any]]:
    """The JSON findings, by group name."""
    found = [json.loads(line) for line in output.splitlines()]
    return {finding["groupName"]: finding for finding in found}


def test_each_exposure_is_rated_by_the_change_rules_and_by_what_uses_its_group(account: dict[str, str]) -> None:
    status, out, _ = scan("--format", "json", "--min-severity", "INFO")
    assert status == 1
    found = by_group(out)
    expected = {  # group: (rule, severity, reach)
        "world-ssh": ("world-sensitive-port", "CRITICAL", "public"),  # a public interface uses it: the real thing
        "world-all-traffic": ("world-all-traffic", "CRITICAL", "private"),
        "unused-world-mysql": ("world-sensitive-port", "HIGH", "unused"),  # CRITICAL, one level lower: latent
        "prefix-list-rdp": ("world-sensitive-port", "HIGH", "unused"),  # rated by the list's entry 0.0.0.0/0
        "world-ssh-ipv6": ("world-sensitive-port", "HIGH", "unused"),
        "broad-postgres": ("broad-public-sensitive-port", "MEDIUM", "unused"),
        "default": ("default-group-ingress", "MEDIUM", "unused"),  # CIS: a default group allows nothing
        "world-https": ("world-web-port", "LOW", "public"),
        "private-app": ("ingress-added", "LOW", "private"),
        "app-from-web": ("ingress-added", "INFO", "unused"),
    }
    assert {name: (f["rule"], f["severity"], f["reach"]) for name, f in found.items()} == expected
    assert "0.0.0.0/0, the entries of prefix list" in found["prefix-list-rdp"]["reason"]
    assert f"it trusts {account['web-tier']} (web-tier)" in found["app-from-web"]["reason"]
    assert found["unused-world-mysql"]["reachReason"].startswith("used by no network interface: a latent risk")
    assert found["world-ssh"]["reachReason"] == "used by 1 network interface, 1 with a public IP address: reachable now"
    severities = [json.loads(line)["severity"] for line in out.splitlines()]
    ranks = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert severities == sorted(severities, key=ranks.index)  # most severe first


def test_the_table_groups_by_group_most_severe_first_with_totals(account: dict[str, str]) -> None:
    status, out, err = scan()
    assert status == 1
    headers = [line for line in out.splitlines() if line[:1].isupper() and " sg-" in line]
    assert headers[0].startswith("CRITICAL ") and headers[-1].startswith("MEDIUM ")
    assert len(headers) == 7  # MEDIUM and up by default: the LOW and INFO groups are left out
    assert out.splitlines()[-1].startswith("7 findings at MEDIUM and above (2 CRITICAL, 3 HIGH, 2 MEDIUM)")
    assert "10 inbound rules of 10 groups judged" in out  # web-tier has none
    assert "sgwatch scan: 7 findings at MEDIUM and above; 1 regions read (0 could not be)" in err


def test_the_revoke_command_revokes_exactly_that_rule(account: dict[str, str]) -> None:
    _, out, _ = scan("--format", "json")
    finding = by_group(out)["world-ssh"]
    words = shlex.split(finding["revokeCommand"])
    assert words[:3] == ["aws", "ec2", "revoke-security-group-ingress"]
    options = dict(zip(words[3::2], words[4::2], strict=True))
    assert options == {
        "--region": REGION,
        "--group-id": account["world-ssh"],
        "--security-group-rule-ids": finding["ruleId"],
    }
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.revoke_security_group_ingress(
        GroupId=options["--group-id"], SecurityGroupRuleIds=[options["--security-group-rule-ids"]]
    )
    status, out, _ = scan("--format", "json")
    assert "world-ssh" not in by_group(out) and "world-all-traffic" in by_group(out)
    assert status == 1


def test_every_page_is_read() -> None:
    """EC2's pages, as the API gives them (moto answers in one page, whatever the page size): every rule and group
    of every page is judged, and each page is one request."""
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")

    def rule(index: int) -> dict[str, Any]:
        return {"SecurityGroupRuleId": f"sgr-{index:017x}", "GroupId": f"sg-{index:017x}", "IsEgress": False,
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}  # fmt: skip

    with Stubber(ec2) as stubber:
        stubber.add_response("describe_security_group_rules", {"SecurityGroupRules": [rule(1)], "NextToken": "2"})
        stubber.add_response("describe_security_group_rules", {"SecurityGroupRules": [rule(2)], "NextToken": "3"})
        stubber.add_response("describe_security_group_rules", {"SecurityGroupRules": [rule(3)]})
        groups = [{"GroupId": f"sg-{index:017x}", "GroupName": f"g{index}"} for index in (1, 2, 3)]
        stubber.add_response("describe_security_groups", {"SecurityGroups": groups[:2], "NextToken": "x"})
        stubber.add_response("describe_security_groups", {"SecurityGroups": groups[2:]})
        stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": []})
        reader = inventory.Ec2Inventory(ec2, "123456789012", REGION)
        snapshot = reader.snapshot()
        stubber.assert_no_pending_responses()
    assert [rule.rule_id for rule in snapshot.rules] == [f"sgr-{index:017x}" for index in (1, 2, 3)]
    assert sorted(group.name for group in snapshot.groups.values()) == ["g1", "g2", "g3"]
    assert reader.calls == {"describe_security_group_rules": 3, "describe_security_groups": 2,
                            "describe_network_interfaces": 1}  # fmt: skip


def test_regions_are_read_side_by_side_and_a_region_that_fails_is_named(
    account: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = boto3.client("ec2", region_name="us-east-1")
    vpc = other.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    group = other.create_security_group(GroupName="far", Description="far", VpcId=vpc)["GroupId"]
    other.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 23, "ToPort": 23, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    status, out, _ = main_with(["scan", "--regions", f"{REGION},us-east-1", "--format", "json"])
    assert status == 1 and by_group(out)["far"]["region"] == "us-east-1"

    real = aws.Clients.__call__

    def denied_in_us_east_1(self: aws.Clients, service: str, region: str) -> Any:
        client = real(self, service, region)
        if service == "ec2-scan" and region == "us-east-1":
            stubber = Stubber(client)
            stubber.add_client_error("describe_security_group_rules", "UnauthorizedOperation", "not authorized")
            stubber.activate()
        return client

    monkeypatch.setattr(aws.Clients, "__call__", denied_in_us_east_1)
    status, out, err = main_with(["scan", "--regions", f"{REGION},us-east-1", "--format", "json"])
    assert status == 1 and "far" not in by_group(out) and "world-ssh" in by_group(out)
    assert "sgwatch scan: 123456789012/us-east-1: could not be scanned: UnauthorizedOperation: not authorized" in err
    assert "(1 could not be)" in err


def main_with(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(argv, out, err), out.getvalue(), err.getvalue()


def test_member_accounts_are_read_through_the_audit_role(account: dict[str, str]) -> None:
    seed_member_open_group("111111111111")
    status, out, _ = scan("--accounts", "111111111111", "--format", "json")
    found = by_group(out)
    assert status == 1 and found["member-rdp"]["account"] == "111111111111"
    assert "world-ssh" not in found  # the home account's groups are not the member's


def test_approvals_expired_approvals_and_mutes_apply(account: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'''
[[approved_exposure]]
group_id = "{account["world-all-traffic"]}"
exposure = "all from world"
owner = "lab"
expires = 2020-01-01
reason = "a lab that should have closed"

[[approved_exposure]]
group_id = "{account["broad-postgres"]}"
exposure = "5432/tcp from 20.0.0.0/8"
owner = "data"
reason = "the partner's range"

[[mute]]
group_id = "{account["unused-world-mysql"]}"
reason = "being deleted"
'''
    )
    _, out, err = scan("--format", "json", "--min-severity", "INFO", "--policy", str(policy))
    found = by_group(out)
    assert found, err
    assert found["broad-postgres"]["severity"] == "INFO"
    assert [lowering["action"] for lowering in found["broad-postgres"]["loweredBy"]] == ["approval"]
    assert found["world-all-traffic"]["severity"] == "CRITICAL"  # expired: lowers nothing, and says so
    assert [lowering["action"] for lowering in found["world-all-traffic"]["loweredBy"]] == ["approval-expired"]
    assert found["unused-world-mysql"]["severity"] == "INFO"


def test_exit_status_follows_the_threshold(account: dict[str, str]) -> None:
    assert scan("--min-severity", "CRITICAL")[0] == 1
    ec2 = boto3.client("ec2", region_name=REGION)
    for name in ("world-ssh", "world-all-traffic"):
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [account[name]]}])
        ingress = [rule["SecurityGroupRuleId"] for rule in rules["SecurityGroupRules"] if not rule["IsEgress"]]
        ec2.revoke_security_group_ingress(GroupId=account[name], SecurityGroupRuleIds=ingress)
    status, out, _ = scan("--min-severity", "CRITICAL")
    assert status == 0 and out.splitlines()[-1].startswith("0 findings at CRITICAL and above")
    assert scan("--min-severity", "loud")[0] == 2


def test_ocsf_findings_are_valid_and_name_the_rule(account: dict[str, str]) -> None:
    _, out, _ = scan("--format", "ocsf")
    findings = [json.loads(line) for line in out.splitlines()]
    assert len(findings) == 7
    for finding in findings:
        DetectionFinding.model_validate(finding)
        assert finding["finding_info"]["uid"].startswith("sgwatch-scan:123456789012:eu-west-1:sgr-")
        assert "revoke-security-group-ingress" in finding["remediation"]["desc"]
    assert findings[0]["severity"] == "Critical"


def test_the_scan_reads_only_what_the_audit_role_allows(account: dict[str, str]) -> None:
    from sgwatch.core.names import SCAN_PERMISSIONS

    ec2 = boto3.client("ec2", region_name=REGION)
    made: set[str] = set()
    ec2.meta.events.register("before-call.ec2", lambda model, **_: made.add(model.name))
    inventory.Ec2Inventory(ec2, "123456789012", REGION).snapshot()
    assert made == {action.split(":")[1] for action in SCAN_PERMISSIONS}  # the seeded account needs every one


def test_what_could_not_be_read_is_said_beside_the_findings(
    account: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(self: inventory.Ec2Inventory, list_ids: list[str]) -> dict[str, Any]:
        return {list_id: PrefixListFacts(list_id, error="AccessDenied: not authorized") for list_id in list_ids}

    monkeypatch.setattr(inventory.Ec2Inventory, "_prefix_lists", unreadable)
    status, out, err = scan("--format", "json", "--min-severity", "INFO")
    assert status == 1 and "world-ssh" in by_group(out)  # the other findings stand
    assert f"prefix list {account['prefix-list']} could not be read (AccessDenied: not authorized)" in err
    assert "the entries of prefix list" in by_group(out)["prefix-list-rdp"]["reason"]


def test_accounts_that_name_no_account_are_a_usage_error(account: dict[str, str]) -> None:
    status, _, err = scan("--accounts", " , ")
    assert status == 2 and "--accounts ' , ' names no account" in err
