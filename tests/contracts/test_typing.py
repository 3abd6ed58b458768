"""mypy analyses only the aws_cdk modules pyproject.toml lists (the package imports some 300 service modules, which
would be most of mypy's time); a module the app starts to use without being listed would be typed as Any, unchecked.
This keeps the list and the imports equal."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cdk_modules_imported() -> set[str]:
    found = {"aws_cdk"}
    for path in [*ROOT.joinpath("infra").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "aws_cdk":
                found.update(f"aws_cdk.{alias.name}" for alias in node.names if alias.name.startswith("aws_"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aws_cdk."):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("aws_cdk."))
    return found


def cdk_modules_checked() -> set[str]:
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["overrides"]
    return {
        module
        for override in overrides
        if override.get("follow_imports") == "normal"
        for module in override["module"]
        if module == "aws_cdk" or module.startswith("aws_cdk.")
    }


def test_every_cdk_module_the_app_imports_is_type_checked() -> None:
    assert cdk_modules_imported() == cdk_modules_checked()


def test_the_rest_of_aws_cdk_is_skipped() -> None:
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["overrides"]
    assert any("aws_cdk.*" in override["module"] and override.get("follow_imports") == "skip" for override in overrides)
