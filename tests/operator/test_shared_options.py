"""The options the commands share mean the same everywhere: `--format` (json|text; classify defaults to json, the
commands a person reads at a terminal to text) on every command that prints results, `--regions`/`--region` and `--profile` on every command that calls AWS, and `--profile` selects
the named profile of the session the AWS clients come from."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sgwatch.core.classify import Classification, classify
from sgwatch.operator import audit, history
from sgwatch.operator.cli import EXIT_OK, EXIT_USAGE, main

from tests.conftest import REAL_RECORDS, load

SSH_WORLD = "rubysoho07-cloudtrail-watcher/authorize_ingress_terraform_v6_ssh_0_0_0_0.json"

#: Each command that prints results, with arguments that make it print one, offline (see `offline_aws`).
PRINTING = {
    "classify": ["classify", str(REAL_RECORDS / SSH_WORLD)],
    "audit": ["audit", "--regions", "eu-west-1"],
    "history": ["history", "--regions", "eu-west-1"],
}
CALLING_AWS = ("audit", "history")
DEFAULT_FORMAT = {"classify": "json", "audit": "text", "history": "text"}


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main([command, "--help"], io.StringIO(), io.StringIO()) == EXIT_OK
    return capsys.readouterr().out.splitlines()


def option_help(lines: list[str], option: str) -> str:
    """The help of one option: its line and the lines continuing it, joined, runs of spaces as one."""
    start = next(index for index, line in enumerate(lines) if line.lstrip().startswith(option))
    rest = [line.strip() for line in lines[start + 1 :]]
    continued = next((index for index, line in enumerate(rest) if line.startswith("-") or not line), len(rest))
    return " ".join(" ".join([lines[start], *rest[:continued]]).split())


class LookUps:
    """What the look-ups were given: the regions, and the clients (audit's factory, history's LookupEvents clients)."""

    def __init__(self) -> None:
        self.regions: list[str] = []
        self.clients: list[Any] = []


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LookUps:
    """A named profile `sgwatch-test` in a private AWS config (region ap-southeast-2), no other AWS environment, and
    the look-ups answered without a network: audit with one passing check, history with one classified record.
    Returns what the look-ups were given."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile sgwatch-test]\nregion = ap-southeast-2\n")
    credentials.write_text("[sgwatch-test]\naws_access_key_id = AKIDTEST\naws_secret_access_key = test\n")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    given = LookUps()

    def run_audit(regions: list[str], clients: Any, **options: Any) -> list[audit.Check]:
        given.regions.extend(regions)
        given.clients.append(clients)
        return [
            audit.Check(region, "CloudTrail records management writes", audit.PASS, "trail t") for region in regions
        ]

    def run_history(regions: list[str], client_for: Any, *args: Any, **options: Any) -> Any:
        given.regions.extend(regions)
        given.clients.extend(client_for(region) for region in regions)
        result: Classification = classify(load(f"cloudtrail/{SSH_WORLD}"))
        return [result], [history.RegionResult(region) for region in regions]

    monkeypatch.setattr(audit, "run_audit", run_audit)
    monkeypatch.setattr(history, "run_history", run_history)
    return given


@pytest.mark.parametrize("command", [*PRINTING, "scan"])
def test_format_has_one_meaning_and_each_commands_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    default = DEFAULT_FORMAT.get(command, "text")
    # findings come from judged records (classify) and judged rules (scan)
    forms = {"classify": "json,text,ocsf,asff", "scan": "json,text,ocsf"}.get(command, "json,text")
    assert option_help(help_of(command, capsys), "--format") == f"--format {{{forms}}} output form (default {default})"


@pytest.mark.parametrize("command", list(PRINTING))
@pytest.mark.usefixtures("offline_aws")
def test_format_json_is_for_programs_and_text_for_reading(command: str) -> None:
    outputs = {}
    for form in ([], ["--format", "json"], ["--format", "text"]):
        out = io.StringIO()
        assert main([*PRINTING[command], *form], out, io.StringIO()) == EXIT_OK
        outputs[tuple(form)] = out.getvalue()
    assert outputs[()] == outputs[("--format", DEFAULT_FORMAT[command])]
    json_output = outputs[("--format", "json")]
    documents = (
        [json.loads(line) for line in json_output.splitlines()] if command != "audit" else [json.loads(json_output)]
    )
    assert documents
    text = outputs[("--format", "text")]
    assert "CRITICAL" in text or "PASS" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


@pytest.mark.parametrize("command", list(PRINTING))
@pytest.mark.usefixtures("offline_aws")
def test_table_is_another_name_for_text(command: str) -> None:
    """audit and history called their text form `table` before --format was shared: scripts that say so still work,
    on every command alike."""
    outputs = []
    for form in ("table", "text"):
        out = io.StringIO()
        assert main([*PRINTING[command], "--format", form], out, io.StringIO()) == EXIT_OK
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("command", list(PRINTING))
def test_format_names_no_other_form(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*PRINTING[command], "--format", "xml"], io.StringIO(), io.StringIO()) == EXIT_USAGE
    assert "argument --format: invalid choice: 'xml'" in capsys.readouterr().err


def test_the_aws_options_read_the_same_on_every_command_that_calls_aws(capsys: pytest.CaptureFixture[str]) -> None:
    helps = {command: help_of(command, capsys) for command in CALLING_AWS}
    profile = {command: option_help(lines, "--profile") for command, lines in helps.items()}
    assert len(set(profile.values())) == 1
    assert profile["audit"].startswith("--profile PROFILE the named AWS profile")
    regions = {command: option_help(lines, "--regions") for command, lines in helps.items()}
    assert regions["audit"] == (
        "--regions REGIONS, --region REGIONS all (the account's enabled regions) or a comma list (default all)"
    )
    assert regions["history"] == regions["audit"].replace("(default all)", "(default the current region)")
    scan = help_of("scan", capsys)  # scan's are audit's: every region unless told otherwise, no blind spot
    assert option_help(scan, "--regions") == regions["audit"] and option_help(scan, "--profile") == profile["audit"]


@pytest.mark.parametrize("command", CALLING_AWS)
def test_region_is_regions(command: str, offline_aws: LookUps) -> None:
    assert main([command, "--region", "eu-central-1,eu-north-1"], io.StringIO(), io.StringIO()) == EXIT_OK
    assert offline_aws.regions == ["eu-central-1", "eu-north-1"]


@pytest.mark.parametrize("command", CALLING_AWS)
def test_profile_selects_the_session_of_the_aws_clients(command: str, offline_aws: LookUps) -> None:
    """The profile's region is the current region (history's default) and its keys sign the clients' requests."""
    argv = {"audit": ["audit", "--regions", "eu-west-1"], "history": ["history"]}[command]
    out = io.StringIO()
    assert main([*argv, "--profile", "sgwatch-test"], out, io.StringIO()) == EXIT_OK
    [given] = offline_aws.clients
    if command == "audit":
        assert given.default_region == "ap-southeast-2"
        client = given("cloudtrail", "eu-west-1")
    else:
        client = given
        assert offline_aws.regions == [client.meta.region_name] == ["ap-southeast-2"]
    assert client._request_signer._credentials.access_key == "AKIDTEST"


@pytest.mark.parametrize("command", CALLING_AWS)
@pytest.mark.usefixtures("offline_aws")
def test_an_unknown_profile_is_a_usage_error_that_names_it(command: str) -> None:
    err = io.StringIO()
    assert main([command, "--regions", "eu-west-1", "--profile", "nobody"], io.StringIO(), err) == EXIT_USAGE
    assert err.getvalue() == f"sgwatch {command}: The config profile (nobody) could not be found\n"
