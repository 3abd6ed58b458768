"""The msgspec fast path for log files gives exactly what the general path gives, only faster."""

from __future__ import annotations

import gzip
import io
import json
import random
from typing import Any

import msgspec
import pytest
from sgwatch.core.classify import classify
from sgwatch.core.envelopes import unwrap
from sgwatch.operator.sources import _fast_log_file, may_be_security_group, read_bytes

from tests.conftest import CONSTRUCTED, load, real_record_files

SAMPLES = [load(path) for path in real_record_files()] + [load(path) for path in sorted(CONSTRUCTED.glob("*.json"))]
ENTRIES = [
    entry
    for sample in SAMPLES
    for entry in (sample.get("Records", [sample]) if isinstance(sample, dict) else sample)
    if isinstance(entry, dict)
]
CANONICAL = [entry for entry in ENTRIES if "eventName" in entry or "Sns" in entry or "body" in entry]


def _outputs(data: bytes, keep_all: bool) -> tuple[list[dict[str, Any]], int]:
    results, skipped = [], 0
    for item in read_bytes(data, "log.json.gz", keep_all=keep_all):
        skipped += item.skipped
        if item.skipped:
            continue
        result = classify(item.record, location=item.location, account=item.account, region=item.region)
        if result.record is not None or result.error:
            results.append(result.to_dict())
    return results, skipped


def _log_file(entries: list[Any]) -> bytes:
    shuffled = list(entries)
    random.Random(7).shuffle(shuffled)
    return json.dumps({"Records": shuffled}).encode()


def test_fast_path_is_taken_and_agrees_with_the_general_path() -> None:
    data = _log_file(CANONICAL)
    assert _fast_log_file(data, "log.json.gz", msgspec) is not None
    fast, skipped = _outputs(gzip.compress(data), keep_all=False)
    general, _ = _outputs(gzip.compress(data), keep_all=True)  # keep_all reads every record with the general decoder
    assert fast == general
    assert len(fast) > 40
    assert skipped == 1  # the S3 event; ModifyInstanceAttribute is decoded, then classified NONE


def test_records_with_rewritten_key_case_make_the_fast_path_step_aside() -> None:
    """From the first record whose keys a pipeline rewrote, records are read key by key, as the general path reads
    them; what comes out is what the general path gives."""
    data = _log_file(ENTRIES)
    assert len(ENTRIES) > len(CANONICAL)
    assert _outputs(data, keep_all=False)[0] == _outputs(data, keep_all=True)[0]
    halfway = (
        CANONICAL[: len(CANONICAL) // 2] + [e for e in ENTRIES if e not in CANONICAL] + CANONICAL[len(CANONICAL) // 2 :]
    )
    mixed = json.dumps({"Records": halfway}).encode()
    assert _outputs(mixed, keep_all=False)[0] == _outputs(mixed, keep_all=True)[0]


def test_an_element_that_is_not_a_record_is_said_and_the_rest_still_read() -> None:
    data = json.dumps({"Records": [CANONICAL[0], "not a record", 7, CANONICAL[1]]}).encode()
    fast, _ = _outputs(data, keep_all=False)
    assert fast == _outputs(data, keep_all=True)[0]
    assert [result.get("error", "")[:30] for result in fast if "error" in result]


def test_a_big_log_file_is_read_record_by_record() -> None:
    """The records come out while the file is being read: the first before the last is decoded."""
    items = _fast_log_file(_log_file(CANONICAL * 50), "log.json", msgspec)
    assert items is not None and not isinstance(items, list)
    first = next(item for item in items if not item.skipped)
    assert first.location == "log.json:Records[0]" or first.location.startswith("log.json:Records[")


def test_prefilter_never_rejects_a_security_group_record() -> None:
    for sample in SAMPLES:
        for item in unwrap(sample, ""):
            if classify(item.record).record is not None:
                assert may_be_security_group(json.dumps(item.record).encode())


def test_without_msgspec_classify_says_it_reads_slowly_and_gives_the_same_results(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from sgwatch.operator import sources
    from sgwatch.operator.cli import main

    log = tmp_path / "log.json.gz"
    log.write_bytes(gzip.compress(_log_file(CANONICAL)))
    fast_out, fast_err = io.StringIO(), io.StringIO()
    main(["classify", str(log)], fast_out, fast_err)
    assert "msgspec is not installed" not in fast_err.getvalue()
    monkeypatch.setattr(sources, "_msgspec", lambda: None)
    slow_out, slow_err = io.StringIO(), io.StringIO()
    main(["classify", str(log)], slow_out, slow_err)
    assert slow_err.getvalue().startswith(f"sgwatch classify: {sources.SLOW_READER_NOTICE}\n")
    assert slow_out.getvalue() == fast_out.getvalue()
