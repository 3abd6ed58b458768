"""AWS round trips of one batch in the function: the calls per service, and the wait they would add in AWS at a
modelled latency per call, next to the CPU the batch took. The function runs on moto (the emulated account's
clients); its calls are counted as botocore makes them.

Run: `make bench` (or `.venv/bin/python -m bench.batch_round_trips`). Prints medians; compare the counts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

#: A call's latency as modelled here (milliseconds): EC2's describe calls, an SNS publish, a DynamoDB write.
LATENCY_MS = {"ec2": 100.0, "sns": 20.0, "dynamodb": 5.0, "sts": 50.0, "cloudtrail": 100.0}
REGION = "eu-west-1"


def _record(group_id: str, port: int) -> dict[str, Any]:
    """An inbound rule opened to the world on `group_id`: each one an alert of its own (one group each)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice", "accountId": "123456789012"},
        "eventTime": "2026-11-20T09:15:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {
            "groupId": group_id,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": port,
                        "toPort": port,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    }
                ]
            },
        },
        "responseElements": {"_return": True},
        "eventID": str(uuid.uuid4()),
        "recipientAccountId": "123456789012",
    }


def _sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    body = [{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": record} for record in records]
    return {"Records": [{"messageId": f"m-{i}", "body": json.dumps(b)} for i, b in enumerate(body)]}


def measure(batch_size: int, runs: int) -> tuple[Counter[str], float, float]:
    """The calls of one batch of `batch_size` records on as many groups, the batch's median CPU seconds, and its
    median wall seconds when each call first waits its modelled latency (a sleep before it is sent: calls made side
    by side wait side by side, as they would in AWS)."""
    import boto3
    from moto import mock_aws
    from sgwatch.core import names
    from sgwatch.emulation.account import CLAIM_STALE_SECONDS, create_alert_topic, create_dedup_table, moto_clients
    from sgwatch.runtime import handler
    from sgwatch.runtime.settings import settings_from_env

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    calls: Counter[str] = Counter()
    cpu: list[float] = []
    wall: list[float] = []
    waiting = [False]
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        groups = [
            ec2.create_security_group(GroupName=f"g{i}", Description="bench", VpcId=vpc)["GroupId"]
            for i in range(batch_size)
        ]
        for group in groups:
            ec2.create_network_interface(SubnetId=subnet, Groups=[group])
        topic, _, _ = create_alert_topic(
            boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        )
        os.environ[names.ENV_TOPIC_ARN] = topic
        os.environ[names.ENV_DEDUP_TABLE] = create_dedup_table(boto3.client("dynamodb", region_name=REGION))
        os.environ[names.ENV_CLAIM_STALE_SECONDS] = str(CLAIM_STALE_SECONDS)
        make = moto_clients()

        def counting(service: str, **options: Any) -> Any:
            client = make(service, **options)

            def called(model: Any, **_: Any) -> None:
                calls.update([f"{service}:{model.name}"])
                if waiting[0]:
                    time.sleep(LATENCY_MS.get(service, 50.0) / 1000)

            client.meta.events.register("before-call.*.*", called)
            return client

        for run in range(2 * runs + 1):  # a new container each run: its enricher's cache is empty, as when cold
            waiting[0] = run > runs  # the first runs count calls and CPU; the last ones wait each call's latency
            runtime = handler.build_runtime(settings_from_env(os.environ), clients=counting)
            event = _sqs_event([_record(group, 22) for group in groups])
            start, started = time.process_time(), time.perf_counter()
            log_handler = handler.logger.registered_handler  # the function's log lines are not the bench's output
            previous = log_handler.setStream(io.StringIO())  # type: ignore[attr-defined]
            try:
                with handler.running_on(runtime), contextlib.redirect_stdout(io.StringIO()):
                    handler.lambda_handler(event, _Context())
            finally:
                log_handler.setStream(previous)  # type: ignore[attr-defined]
            if run > runs:
                wall.append(time.perf_counter() - started)
            elif run:  # the first run warms Python's imports; its calls are not counted
                cpu.append(time.process_time() - start)
            else:
                calls.clear()
    per_batch = Counter({name: count // (2 * runs) for name, count in calls.items()})
    return per_batch, statistics.median(cpu), statistics.median(wall)


class _Context:
    function_name = "sgwatch-bench"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:sgwatch-bench"
    aws_request_id = "bench"


def modelled_ms(calls: Counter[str], latency: Callable[[str], float] = lambda s: LATENCY_MS.get(s, 50.0)) -> float:
    """The wait of the calls made one after another."""
    return sum(count * latency(name.split(":", 1)[0]) for name, count in calls.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=10, help="records in the batch, each on its own group")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    calls, cpu, wall = measure(args.batch, args.runs)
    print(f"one batch of {args.batch} records on {args.batch} groups (each its own alert), per batch:")
    for name, count in sorted(calls.items()):
        service = name.split(":", 1)[0]
        print(f"  {name:<48}{count:>4} calls  x {LATENCY_MS.get(service, 50.0):>5.0f} ms")
    total = sum(calls.values())
    print(f"  {'total':<48}{total:>4} calls, {modelled_ms(calls):,.0f} ms of modelled wait one after another")
    print(f"  wall time of the batch with each call waiting its latency (median of {args.runs}): {wall * 1000:,.0f} ms")
    print(f"  CPU of the batch (median of {args.runs}), moto answering in process included: {cpu * 1000:.0f} ms")


if __name__ == "__main__":
    main()
