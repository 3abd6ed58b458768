"""Generate a CloudTrail log file shaped like production: mostly other services, about 1% security-group calls."""

from __future__ import annotations

import copy
import gzip
import json
import random
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REAL_RECORDS = ROOT / "lambdas" / "sgwatch" / "emulation" / "records"

#: (eventSource, eventName, weight): the calls that fill a real management trail.
BACKGROUND_CALLS = (
    ("sts.amazonaws.com", "AssumeRole", 20),
    ("kms.amazonaws.com", "Decrypt", 18),
    ("kms.amazonaws.com", "GenerateDataKey", 8),
    ("ec2.amazonaws.com", "DescribeInstances", 10),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", 4),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces", 5),
    ("s3.amazonaws.com", "GetBucketAcl", 6),
    ("iam.amazonaws.com", "GetRole", 5),
    ("logs.amazonaws.com", "CreateLogStream", 6),
    ("lambda.amazonaws.com", "GetFunction", 3),
    ("secretsmanager.amazonaws.com", "GetSecretValue", 5),
    ("ssm.amazonaws.com", "GetParameter", 6),
    ("monitoring.amazonaws.com", "PutMetricData", 4),
)


def _background(rng: random.Random, source: str, name: str, index: int) -> dict[str, Any]:
    account = "111122223333"
    role = rng.choice(["app-task-role", "ci-deployer", "eks-node", "lambda-exec", "Admin"])
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE{index % 97:04d}:session-{index % 13}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/session-{index % 13}",
            "accountId": account,
            "accessKeyId": f"ASIAEXAMPLE{index:08d}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROAEXAMPLE{index % 97:04d}",
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "attributes": {"creationDate": "2026-11-20T08:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": f"2026-11-20T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:{index % 60:02d}Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": f"10.0.{index % 250}.{index % 200 + 1}",
        "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/sts#1.30.3",
        "requestParameters": {
            "resourceName": f"resource-{rng.randrange(10**6)}",
            "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "payments"}]}}]},
            "maxResults": 100,
        },
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.', maxsplit=1)[0]}.eu-west-1.amazonaws.com",
        },
    }


def security_group_records() -> list[dict[str, Any]]:
    """The real records, as raw CloudTrail records (EventBridge envelopes unwrapped), security-group calls only."""
    found = []
    for path in sorted(REAL_RECORDS.rglob("*.json")):
        record = json.loads(path.read_text())
        record = record.get("detail", record)
        if "SecurityGroup" in json.dumps(record) or "groupSet" in json.dumps(record):
            found.append(record)
    return found


def generate(path: Path, count: int = 200_000, security_group_share: float = 0.01, seed: int = 2026) -> None:
    rng = random.Random(seed)
    samples = security_group_records()
    calls = [(source, name) for source, name, weight in BACKGROUND_CALLS for _ in range(weight)]
    records = []
    for index in range(count):
        if rng.random() < security_group_share:
            record = copy.deepcopy(rng.choice(samples))
            record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
        else:
            record = _background(rng, *rng.choice(calls), index)
        records.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", compresslevel=6) as file:
        json.dump({"Records": records}, file, separators=(",", ":"))
