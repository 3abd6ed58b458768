"""Each part declares what it needs as an extra of the package, and a command whose extra is not installed says what
to install (exit status 2), not a traceback or a usage error. A missing module is simulated the way Python records
one that cannot be imported: None in sys.modules."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sgwatch.operator.cli import EXIT_OK, EXIT_USAGE, main

from tests.conftest import REAL_RECORDS

ROOT = Path(__file__).resolve().parents[2]
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
#: Every optional import of the package, blocked together to show what needs none of them.
OPTIONAL_MODULES = ("boto3", "botocore", "moto", "aws_lambda_powertools", "msgspec")


@pytest.mark.parametrize(
    ("argv", "missing", "message"),
    [
        (["audit", "--regions", "eu-west-1"], "boto3", "sgwatch audit needs boto3: pip install 'sgwatch[aws]'"),
        (["history"], "boto3", "sgwatch history needs boto3: pip install 'sgwatch[aws]'"),
        (["demo"], "moto", "sgwatch demo needs moto: pip install 'sgwatch[demo]'"),
        (["demo"], "boto3", "sgwatch demo needs boto3: pip install 'sgwatch[demo]'"),
        (["demo"], "aws_lambda_powertools", "sgwatch demo needs aws_lambda_powertools: pip install 'sgwatch[demo]'"),
    ],
)
def test_a_missing_extra_says_what_to_install(
    argv: list[str], missing: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out, err) == EXIT_USAGE
    assert err.getvalue() == message + "\n"
    assert out.getvalue() == ""


def test_without_any_optional_module_classify_policy_and_the_report_run_and_the_rest_say_what_to_install() -> None:
    """In a fresh interpreter, so nothing was imported before the block: the CLI module itself needs no extra."""
    record = REAL_RECORDS / "rubysoho07-cloudtrail-watcher" / "authorize_ingress_terraform_v6_ssh_0_0_0_0.json"
    script = (
        "import io, sys\n"
        f"for name in {OPTIONAL_MODULES!r}: sys.modules[name] = None\n"
        "from sgwatch.operator.cli import main\n"
        "for argv in sys.argv[1:]:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    status = main(argv.split('|'), out, err)\n"
        "    print(status, err.getvalue().splitlines()[-1] if err.getvalue() else out.getvalue().splitlines()[0])\n"
    )
    runs = [
        f"classify|{record}",
        f"policy|check|{ROOT / 'examples' / 'policy.toml'}",
        "demo|--classify-only",
        "audit|--regions|eu-west-1",
        "history",
        "demo",
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "lambdas")}
    done = subprocess.run(
        [sys.executable, "-c", script, *runs], capture_output=True, text=True, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0] == f"{EXIT_OK} sgwatch: 1 security-group records (1 CRITICAL); 0 other records skipped; 0 unreadable"
    )
    assert lines[1].startswith(f"{EXIT_OK} ") and lines[1].endswith("policy.toml: valid")
    assert lines[2].startswith(f"{EXIT_OK} sgwatch: ")
    assert lines[3:] == [
        f"{EXIT_USAGE} sgwatch audit needs boto3: pip install 'sgwatch[aws]'",
        f"{EXIT_USAGE} sgwatch history needs boto3: pip install 'sgwatch[aws]'",
        f"{EXIT_USAGE} sgwatch demo needs boto3: pip install 'sgwatch[demo]'",
    ]


def _pins() -> dict[str, str]:
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if match := re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==(\S+)", line.strip()):
                pins[match.group(1).lower()] = match.group(3)
    return pins


@pytest.mark.parametrize("extra", ["aws", "demo", "runtime"])
def test_the_extras_ask_for_at_least_the_versions_the_project_pins_and_tests(extra: str) -> None:
    pins = _pins()
    for requirement in EXTRAS[extra]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?>=(\S+)", requirement)
        assert match, requirement
        assert pins[match.group(1).lower()] == match.group(3), requirement


def test_each_command_that_needs_an_extra_names_one_that_exists() -> None:
    from sgwatch.operator.commands import aws, demo

    assert aws.EXTRA in EXTRAS and "boto3" in " ".join(EXTRAS[aws.EXTRA])
    demo_needs = " ".join(EXTRAS["demo"]).replace("-", "_")
    assert all(module in demo_needs for module in demo.EMULATION_MODULES)
