"""Handler cold-import time beside a bare `import boto3`, and warm time per record with AWS answered locally.

Run: `make bench` (or `.venv/bin/python -m bench.handler_cold_start`). Prints medians; compare ratios.

The cold imports run in the function's Python (3.13) with the function's dependencies at their pins, in
`.venv-lambda`, made on first use; the function's modules are staged as synth stages them (bytecode compiled by that
interpreter). Each statement ends with `os._exit(0)`: Lambda never tears an interpreter down, so the time a process
takes to free what it imported is no part of a cold start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sgwatch.core.classify import classify

from bench.cloudtrail_mix import security_group_records
from infra.asset import LAMBDA_PYTHON, lambda_python, stage_function_code

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_VENV = ROOT / ".venv-lambda"
#: What the function imports that Lambda provides (boto3 in the runtime, Powertools in its layer).
RUNTIME_DEPENDENCIES = ("boto3", "aws-lambda-powertools")
_EXIT = "; import os; os._exit(0)"
#: name: (statement, which copy of the function's modules it imports: None for none)
IMPORTS = {
    "python (interpreter start)": ("pass", None),
    "import boto3": ("import boto3", None),
    "handler, as shipped (compiled)": ("import sgwatch.runtime.handler", "compiled"),
    "handler + boto3, as shipped (the cold path)": ("import sgwatch.runtime.handler, boto3", "compiled"),
    "handler + boto3, source only (no Python 3.13 at synth)": ("import sgwatch.runtime.handler, boto3", "source"),
}


def runtime_interpreter() -> str:
    """A Python of the function's version with its dependencies at requirements.txt's pins (`.venv-lambda`, made
    once); this interpreter when the machine has no such Python (said in the output)."""
    python = LAMBDA_VENV / "bin" / "python"
    if python.exists():
        return str(python)
    base = lambda_python()
    if base is None:
        return sys.executable
    pins = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("==")[0].strip() in RUNTIME_DEPENDENCIES
    ]
    print(f"making {LAMBDA_VENV.name} (Python {'.'.join(map(str, LAMBDA_PYTHON))}, {', '.join(pins)}) ...", flush=True)
    subprocess.run([base, "-m", "venv", str(LAMBDA_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins], check=True)
    return str(python)


def stage_assets(directory: Path, python: str) -> dict[str, Path]:
    """The function's asset as synth stages it, once with bytecode compiled by `python`, once source only."""
    staged = {"compiled": directory / "compiled", "source": directory / "source"}
    stage_function_code(staged["compiled"], python=python)
    stage_function_code(staged["source"], python=None)
    return staged


def cold(
    python: str, statements: dict[str, tuple[str, str | None]], assets: dict[str, Path], runs: int
) -> dict[str, float]:
    """The median time of each statement in a new interpreter that writes no bytecode (as Lambda cannot). The
    statements take turns, round after round, so that a noisy moment of a shared machine falls on all of them, not on
    one statement's runs in a row."""
    times: dict[str, list[float]] = {name: [] for name in statements}
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment |= {"PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "eu-west-1"}
    for _ in range(runs):
        for name, (statement, asset) in statements.items():
            path = {"PYTHONPATH": str(assets[asset])} if asset else {}
            start = time.perf_counter()
            subprocess.run([python, "-c", statement + _EXIT], check=True, env=environment | path)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


#: The optional outputs, all on: Security Hub findings and a chat channel (their context keys' defaults).
EVERY_OUTPUT = {
    "SGWATCH_SECURITY_HUB_MIN_SEVERITY": "MEDIUM",
    "SGWATCH_CHAT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:sgwatch-chat",
    "SGWATCH_CHAT_MIN_SEVERITY": "HIGH",
}


def warm_per_record_ms(batches: int, every_output: bool = False) -> tuple[float, int]:
    """Milliseconds per record through the real handler; every AWS call answered in process (no network)."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from sgwatch.core import names
    from sgwatch.runtime import handler
    from sgwatch.runtime.settings import settings_from_env

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    environment = {
        names.ENV_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:sgwatch-alerts",
        **(EVERY_OUTPUT if every_output else {}),
    }
    stubbed = {
        service: boto3.client(service, aws_access_key_id="x", aws_secret_access_key="x")
        for service in ("ec2", "sns", "securityhub")
    }
    ec2 = stubbed["ec2"]
    runtime = handler.build_runtime(settings_from_env(environment), clients=lambda service, **_: stubbed[service])
    records = security_group_records()
    bodies = [
        json.dumps(
            {
                "source": "aws.ec2",
                "detail-type": "AWS API Call via CloudTrail",
                "detail": dict(r, recipientAccountId="123456789012"),  # the function's own account: findings filed
            }
        )
        for r in records
    ]
    event: dict[str, Any] = {
        "Records": [{"messageId": str(i), "body": body, "eventSource": "aws:sqs"} for i, body in enumerate(bodies[:10])]
    }

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 256, "bench"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

    # The first batch fills the enrichment cache; the timed batches are warm, as in a busy container.
    group_ids = sorted(
        {
            group
            for record in records[:10]
            for group in classify(record).group_ids
            if re.match(r"^sg-[0-9a-f]{8,17}$", group)
        }
    )
    # EC2 asks its three describes side by side, in no fixed order: each is answered by name, and counted.
    answers = {
        "DescribeSecurityGroups": {
            "SecurityGroups": [
                {"GroupId": g, "GroupName": "web", "VpcId": "vpc-0abc", "IpPermissions": []} for g in group_ids
            ]
        },
        "DescribeNetworkInterfaces": {"NetworkInterfaces": []},
        "DescribeSecurityGroupRules": {"SecurityGroupRules": []},
    }
    asked: list[str] = []

    def answer(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        asked.append(model.name)
        return AWSResponse("https://ec2.local", 200, {}, None), answers[model.name]

    ec2.meta.events.register("before-call.ec2.*", answer)
    sent: Counter[str] = Counter()

    def accept(model: Any, params: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        sent[model.name] += 1
        taken = {"FailedCount": 0, "SuccessCount": 1, "FailedFindings": []}
        return AWSResponse("https://aws.local", 200, {}, None), taken if model.name != "Publish" else {"MessageId": "1"}

    stubbed["sns"].meta.events.register("before-call.sns.Publish", accept)
    stubbed["securityhub"].meta.events.register("before-call.securityhub.BatchImportFindings", accept)
    sink = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    log_handler.setStream(sink)
    with contextlib.redirect_stdout(sink), handler.running_on(runtime):
        handler.lambda_handler(event, Context())
        warmed = len(asked)  # the three describes once for each place (region, account) of the batch
        start = time.perf_counter()
        for _ in range(batches):
            handler.lambda_handler(event, Context())
        elapsed = time.perf_counter() - start
    assert len(asked) == warmed and warmed % len(answers) == 0, asked  # the timed batches hit the cache
    assert every_output == bool(sent["BatchImportFindings"]), sent  # the findings went out only when asked for
    return elapsed * 1000 / (batches * len(event["Records"])), len(event["Records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    python = runtime_interpreter()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], check=False, capture_output=True, text=True
    )
    print(f"Python {version.stdout.strip()} ({python}); median of {args.runs} cold interpreter starts each")
    with tempfile.TemporaryDirectory() as directory:
        measured = cold(python, IMPORTS, stage_assets(Path(directory), python), args.runs)
    base = measured["python (interpreter start)"]
    for name, seconds in measured.items():
        print(f"{name:<56}{seconds * 1000:>6.0f} ms   (import alone: {(seconds - base) * 1000:.0f} ms)")
    boto3_alone = measured["import boto3"] - base
    handler_alone = measured["handler, as shipped (compiled)"] - base
    cold_path = measured["handler + boto3, as shipped (the cold path)"] - base
    source_only = measured["handler + boto3, source only (no Python 3.13 at synth)"] - base
    print(f"handler import / boto3 import:                  {handler_alone / boto3_alone:.2f}x")
    print(f"handler + boto3 / boto3 (the whole cold path):  {cold_path / boto3_alone:.2f}x (target <= 1.3x)")
    print(f"the same, shipped without bytecode:             {source_only / boto3_alone:.2f}x")
    print(f"Python {sys.version.split()[0]} (this interpreter) for the warm handler:")
    per_record, batch = warm_per_record_ms(args.batches)
    print(f"warm handler, batches of {batch}, AWS answered locally: {per_record:.3f} ms per record (target < 2 ms)")
    per_record, batch = warm_per_record_ms(args.batches, every_output=True)
    print(f"  the same with Security Hub findings and a chat channel: {per_record:.3f} ms per record")


if __name__ == "__main__":
    main()
