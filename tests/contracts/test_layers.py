"""The layers as the product ships them: the function's asset is an allow-list (core and runtime), and the arrows
between layers hold (import-linter checks them from pyproject.toml; this runs it too, so a plain pytest sees it)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sgwatch.core import names
from sgwatch.core.heartbeat import canary_permission
from sgwatch.runtime import canary

from infra.asset import LAMBDA_PYTHON, lambda_python, stage_function_code

ROOT = Path(__file__).resolve().parents[2]

#: Every file the function ships. A new module of the core or the runtime is added here on purpose; one of the CLI
#: (operator) or the emulator can never reach the function.
FUNCTION_FILES = [
    "sgwatch/__init__.py",
    "sgwatch/core/__init__.py",
    "sgwatch/core/addresses.py",
    "sgwatch/core/alerts.py",
    "sgwatch/core/asff.py",
    "sgwatch/core/chat.py",
    "sgwatch/core/classify.py",
    "sgwatch/core/enrich.py",
    "sgwatch/core/envelopes.py",
    "sgwatch/core/errors.py",
    "sgwatch/core/events.py",
    "sgwatch/core/fields.py",
    "sgwatch/core/findings.py",
    "sgwatch/core/heartbeat.py",
    "sgwatch/core/identity.py",
    "sgwatch/core/model.py",
    "sgwatch/core/names.py",
    "sgwatch/core/ocsf.py",
    "sgwatch/core/parse.py",
    "sgwatch/core/policy.py",
    "sgwatch/core/ports.py",
    "sgwatch/core/remediation.py",
    "sgwatch/core/rules.py",
    "sgwatch/core/scan.py",
    "sgwatch/core/severity.py",
    "sgwatch/core/tamper.py",
    "sgwatch/core/text.py",
    "sgwatch/runtime/__init__.py",
    "sgwatch/runtime/aws.py",
    "sgwatch/runtime/canary.py",
    "sgwatch/runtime/handler.py",
    "sgwatch/runtime/inventory.py",
    "sgwatch/runtime/pipeline.py",
    "sgwatch/runtime/ports.py",
    "sgwatch/runtime/scheduled_scan.py",
    "sgwatch/runtime/settings.py",
    "sgwatch/runtime/watchdog.py",
]


def test_the_function_ships_exactly_the_core_and_the_runtime(tmp_path: Path) -> None:
    staged = stage_function_code(tmp_path, python=None)
    assert staged == FUNCTION_FILES
    on_disk = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert on_disk == FUNCTION_FILES  # no cache, no egg-info, no data file


def _runtime_python() -> str:
    python = lambda_python()
    if python is None:
        pytest.skip(f"no Python {LAMBDA_PYTHON} on this machine: the asset ships source only (synth warns)")
    return python


def _bytecode_of(module: str) -> str:
    package, _, name = module.rpartition("/")
    return f"{package}/__pycache__/{name.removesuffix('.py')}.cpython-{LAMBDA_PYTHON[0]}{LAMBDA_PYTHON[1]}.pyc"


def test_the_function_ships_its_modules_compiled_for_its_runtime_and_nothing_else(tmp_path: Path) -> None:
    staged = stage_function_code(tmp_path, python=_runtime_python())
    on_disk = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert on_disk == sorted(FUNCTION_FILES + [_bytecode_of(module) for module in staged])
    header = (tmp_path / _bytecode_of("sgwatch/core/classify.py")).read_bytes()[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked: Lambda never stats the source


def test_the_compiled_asset_is_the_same_bytes_wherever_it_is_staged(tmp_path: Path) -> None:
    python = _runtime_python()
    first, second = tmp_path / "a", tmp_path / "deeper" / "b"
    modules = stage_function_code(first, python)
    stage_function_code(second, python)
    for module in modules:
        assert (first / _bytecode_of(module)).read_bytes() == (second / _bytecode_of(module)).read_bytes(), module
    assert b"/var/task/sgwatch/core/classify.py" in (first / _bytecode_of("sgwatch/core/classify.py")).read_bytes()


def test_the_runtime_imports_the_shipped_bytecode_without_reading_a_source(tmp_path: Path) -> None:
    """Lambda's code directory is read-only: were the bytecode refused, every cold start would compile again. Here
    each source is replaced by a line that fails, so an import that compiled a source would fail."""
    python = _runtime_python()
    modules = stage_function_code(tmp_path, python)
    for module in modules:
        (tmp_path / module).write_text("raise SystemExit('compiled from source')\n")
    core = [m.removesuffix(".py").replace("/", ".") for m in modules if m.startswith("sgwatch/core/")]
    probe = "import importlib, sys; sys.path.insert(0, sys.argv[1]); [importlib.import_module(m) for m in sys.argv[2:]]"
    ran = subprocess.run(
        [python, "-I", "-B", "-c", probe, str(tmp_path), *core], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert len(core) > 15


def test_the_staged_function_imports_its_entry_point_without_the_rest_of_the_package(tmp_path: Path) -> None:
    """The asset alone is enough: a module the runtime needs but the allow-list leaves out fails here, not in AWS."""
    stage_function_code(tmp_path, python=None)
    probe = (
        "import sys; sys.path[:] = [p for p in sys.path if 'lambdas' not in p]; sys.path.insert(0, sys.argv[1]);"
        "import sgwatch.runtime.handler as h; assert h.__file__.startswith(sys.argv[1]), h.__file__;"
        "assert not [m for m in sys.modules if m.startswith(('sgwatch.operator', 'sgwatch.emulation'))];"
        # the scan ships for its schedule, but the alert path must not pay for its classes at a cold start
        "assert not [m for m in sys.modules if m in ('sgwatch.core.scan', 'sgwatch.runtime.inventory')]"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["AWS_DEFAULT_REGION"] = "eu-west-1"
    ran = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(tmp_path)], capture_output=True, text=True, env=environment, check=False
    )
    assert ran.returncode == 0, ran.stderr


def test_the_layer_contracts_hold() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"}
    ran = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, env=environment, check=False
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "BROKEN" not in ran.stdout and ran.stdout.count("KEPT") == 4


def test_the_canary_ships_alone_and_writes_what_the_core_recognises() -> None:
    """The canary's code goes inline into templates (a StackSet's members cannot fetch assets): it imports nothing of
    sgwatch, fits CloudFormation's inline limit, and its constants are the core's."""
    source = (ROOT / "lambdas" / "sgwatch" / "runtime" / "canary.py").read_text(encoding="utf-8")
    assert "sgwatch." not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))
    assert len(source.encode()) <= 4096  # AWS::Lambda::Function Code.ZipFile
    at = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    assert canary.permission(at) == canary_permission(at)
    assert canary.GROUP_VARIABLE == names.ENV_CANARY_GROUP
