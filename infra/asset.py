"""The functions' asset: the modules they run, compiled for the Python that Lambda runs.

Lambda's code directory is read-only, so a module shipped as source is compiled again at every cold start, and
nothing keeps the result: about half of the function's own import time. Bytecode is version-specific, so it is
compiled by an interpreter of the runtime's version (found on this machine; without one the asset ships source only
and synth says so), as unchecked-hash files (Lambda never compares them with sources that cannot change) whose
recorded paths are those of Lambda's task root (so the bytes, and the asset's hash, do not depend on where they were
staged).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "lambdas"
#: What the function runs: the package's pure core and the Lambda runtime. An allow-list, so a new operator (CLI) or
#: emulation module never ships to the function; tests/infra pins the resulting file list.
FUNCTION_PACKAGES = ("sgwatch", "sgwatch/core", "sgwatch/runtime")
#: The runtime the functions declare (lambda_.Runtime.PYTHON_3_13).
LAMBDA_PYTHON = (3, 13)
#: Where Lambda unpacks a function's code: the paths tracebacks show.
LAMBDA_TASK_ROOT = "/var/task"
#: Names an interpreter of LAMBDA_PYTHON when none is found on PATH or under pyenv.
PYTHON_VARIABLE = "SGWATCH_LAMBDA_PYTHON"

_IS_RUNTIME_VERSION = "import sys; sys.exit(sys.version_info[:2] != ({}, {}))".format(*LAMBDA_PYTHON)
_COMPILE = (
    "import compileall, py_compile, sys\n"
    "ok = compileall.compile_dir(sys.argv[1], ddir=sys.argv[2], quiet=2, workers=1,\n"
    "    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
    "sys.exit(0 if ok else 1)\n"
)


class BytecodeError(RuntimeError):
    """The interpreter found could not compile the function's modules."""


def _candidates() -> list[str]:
    version = "{}.{}".format(*LAMBDA_PYTHON)
    named = [os.environ.get(PYTHON_VARIABLE, ""), shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    named += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True)
    return [path for path in named if path]


@functools.cache
def lambda_python() -> str | None:
    """The first interpreter of the runtime's version that runs: $SGWATCH_LAMBDA_PYTHON, python3.13 on PATH (a pyenv
    shim that is not activated fails and is passed over), then pyenv's installed versions, newest first."""
    for candidate in _candidates():
        try:
            ran = subprocess.run(
                [candidate, "-I", "-c", _IS_RUNTIME_VERSION], check=False, capture_output=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ran.returncode == 0:
            return candidate
    return None


def compile_tree(directory: Path, python: str, task_root: str = LAMBDA_TASK_ROOT) -> None:
    """Write `__pycache__` bytecode beside every module under `directory`, recorded as if it sat at `task_root`."""
    ran = subprocess.run(
        [python, "-I", "-c", _COMPILE, str(directory), task_root],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ran.returncode != 0:
        raise BytecodeError(f"{python} could not compile {directory}: {(ran.stdout + ran.stderr).strip()[-2000:]}")


def stage_function_code(destination: Path, python: str | None) -> list[str]:
    """Copy the function's modules (FUNCTION_PACKAGES, their .py files only) into `destination`, with their bytecode
    compiled by `python` when there is one (see compile_tree); return the modules' paths relative to it, sorted. The
    same files give the same asset hash, wherever they are staged."""
    staged = []
    for package in FUNCTION_PACKAGES:
        (destination / package).mkdir(parents=True, exist_ok=True)
        for module in sorted((PACKAGE_ROOT / package).glob("*.py")):
            (destination / package / module.name).write_bytes(module.read_bytes())
            staged.append(f"{package}/{module.name}")
    if python:
        compile_tree(destination, python)
    return sorted(staged)
