"""The msgspec fast path for log files gives exactly what the general path gives, only faster."""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

from sgwatch.classify import classify
from sgwatch.envelopes import unwrap
from sgwatch.sources import SKIPPED, may_be_security_group, read_bytes

from tests.conftest import CONSTRUCTED, load, real_record_files

SAMPLES = [load(path) for path in real_record_files()] + [load(path) for path in sorted(CONSTRUCTED.glob("*.json"))]


def _outputs(data: bytes, keep_all: bool) -> list[dict[str, Any]]:
    results = []
    for item in read_bytes(data, "log.json.gz", keep_all=keep_all):
        if item is SKIPPED:
            continue
        result = classify(item.record, location=item.location, account=item.account, region=item.region)
        if result.record is not None or result.error:
            results.append(result.to_dict())
    return results


def test_fast_and_general_paths_agree_on_a_shuffled_log_file() -> None:
    entries = [sample for sample in SAMPLES if isinstance(sample, dict)]
    random.Random(7).shuffle(entries)
    data = gzip.compress(json.dumps({"Records": entries}).encode())
    fast = _outputs(data, keep_all=False)
    general = _outputs(data, keep_all=True)  # keep_all reads every record with the general decoder
    assert fast == general
    assert len(fast) > 40


def test_prefilter_never_rejects_a_security_group_record() -> None:
    for sample in SAMPLES:
        for item in unwrap(sample, ""):
            if classify(item.record).record is not None:
                assert may_be_security_group(json.dumps(item.record).encode())
