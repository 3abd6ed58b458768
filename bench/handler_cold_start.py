"""Handler cold-import time beside a bare `import boto3`, and warm time per record with AWS answered locally.

Run: `make bench` (or `.venv/bin/python -m bench.handler_cold_start`). Prints medians; compare ratios.
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
import time
from typing import Any

from sgwatch.core.classify import classify

from bench.cloudtrail_mix import security_group_records

IMPORTS = {
    "python -c pass (interpreter start)": "pass",
    "import boto3": "import boto3",
    "import sgwatch.runtime.handler": "import sgwatch.runtime.handler",
    "import sgwatch.runtime.handler + boto3 (first invocation)": "import sgwatch.runtime.handler, boto3",
}


def cold(statements: dict[str, str], runs: int) -> dict[str, float]:
    """The median time of each statement in a new interpreter. The statements take turns, round after round, so
    that a noisy moment of a shared machine falls on all of them, not on one statement's runs in a row."""
    times: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, statement in statements.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", statement], check=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def warm_per_record_ms(batches: int) -> tuple[float, int]:
    """Milliseconds per record through the real handler; EC2 and SNS answered by botocore Stubbers (no network)."""
    import boto3
    from botocore.stub import Stubber
    from sgwatch.core import names
    from sgwatch.runtime import handler
    from sgwatch.runtime.settings import settings_from_env

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ[names.ENV_TOPIC_ARN] = "arn:aws:sns:eu-west-1:123456789012:sgwatch-alerts"
    ec2 = boto3.client("ec2", aws_access_key_id="x", aws_secret_access_key="x")
    sns = boto3.client("sns", aws_access_key_id="x", aws_secret_access_key="x")
    stubbed = {"ec2": ec2, "sns": sns}
    runtime = handler.build_runtime(settings_from_env(os.environ), clients=lambda service, **_: stubbed[service])
    records = security_group_records()
    bodies = [
        json.dumps({"source": "aws.ec2", "detail-type": "AWS API Call via CloudTrail", "detail": r}) for r in records
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
    ec2_stub, sns_stub = Stubber(ec2), Stubber(sns)
    ec2_stub.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {"GroupId": g, "GroupName": "web", "VpcId": "vpc-0abc", "IpPermissions": []} for g in group_ids
            ]
        },
    )
    # one call each for all the groups (filters take several group ids)
    ec2_stub.add_response("describe_network_interfaces", {"NetworkInterfaces": []})
    ec2_stub.add_response("describe_security_group_rules", {"SecurityGroupRules": []})
    for _ in range((batches + 1) * len(event["Records"])):
        sns_stub.add_response("publish", {"MessageId": "1"})
    ec2_stub.activate()
    sns_stub.activate()
    sink = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    log_handler.setStream(sink)
    with contextlib.redirect_stdout(sink), handler.running_on(runtime):
        handler.lambda_handler(event, Context())
        start = time.perf_counter()
        for _ in range(batches):
            handler.lambda_handler(event, Context())
        elapsed = time.perf_counter() - start
    ec2_stub.assert_no_pending_responses()  # every EC2 answer was used once: the timed batches hit the cache
    return elapsed * 1000 / (batches * len(event["Records"])), len(event["Records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; median of {args.runs} cold interpreter starts each")
    measured = cold(IMPORTS, args.runs)
    base = measured["python -c pass (interpreter start)"]
    for name, seconds in measured.items():
        print(f"{name:<50}{seconds * 1000:>8.0f} ms   (import alone: {(seconds - base) * 1000:.0f} ms)")
    boto3_alone = measured["import boto3"] - base
    handler_alone = measured["import sgwatch.runtime.handler"] - base
    both = measured["import sgwatch.runtime.handler + boto3 (first invocation)"] - base
    print(f"handler import / boto3 import:                     {handler_alone / boto3_alone:.2f}x (target <= 1.3x)")
    print(f"handler + boto3 / boto3 (the whole cold path):     {both / boto3_alone:.2f}x")
    per_record, batch = warm_per_record_ms(args.batches)
    print(f"warm handler, batches of {batch}, AWS answered locally: {per_record:.3f} ms per record (target < 2 ms)")


if __name__ == "__main__":
    main()
