"""`sgwatch demo` runs the whole pipeline on the bundled records, emulated, and prints what a person would see."""

from __future__ import annotations

import io
import os
import re

from sgwatch.cli import EXIT_OK, main


def test_demo_replays_the_bundled_records_through_the_pipeline() -> None:
    environment = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo"], out, err) == EXIT_OK
    text = out.getvalue()
    assert "rule:    27 of 33 records delivered to the buffer" in text
    assert "handler: 3 batches, 0 failed messages" in text
    inbox = re.search(r"Inbox: (\d+) alerts", text)
    assert inbox is not None
    alert_lines = [line for line in text.splitlines() if re.match(r"^ [ *] (CRITICAL|HIGH|MEDIUM|LOW|INFO): ", line)]
    assert len(alert_lines) == int(inbox.group(1))
    assert " * CRITICAL: add 22/tcp from 0.0.0.0/0 on sg-" in text
    assert all(line.startswith(" *") for line in alert_lines if re.match(r"^ . (CRITICAL|HIGH|MEDIUM):", line))
    assert not any(line.startswith(" *") for line in alert_lines if re.match(r"^ . (LOW|INFO):", line))
    assert "SecurityGroupChanges            CRITICAL 5, HIGH 1, MEDIUM 1, LOW 11, INFO 9" in text
    assert f"AlertsPublished                 {len(alert_lines)}" in text
    assert "The most severe alert, as its email reads" in text and "What to do: Revoke the rule now" in text
    assert '{"level"' not in text  # the function's logs are counted, not mixed into the report
    assert dict(os.environ) == environment
