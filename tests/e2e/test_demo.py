"""`sgwatch demo` runs the whole pipeline on the bundled records, emulated, and prints what a person would see."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from sgwatch.operator.cli import EXIT_OK, main


def test_demo_replays_the_bundled_records_through_the_pipeline() -> None:
    environment = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo"], out, err) == EXIT_OK
    text = out.getvalue()
    # 35 real records, the canary's call and the prefix-list edit made on the emulated account; the groupSet and
    # launch records are not delivered by moto (they name their groups inside lists)
    assert "rule:    30 of 37 records delivered to the buffer" in text
    # the home region's canary call arrives as a heartbeat; the silent region's alarm fires
    assert "           eu-west-1    1 arrived (counted, not alerted): OK" in text
    assert "us-east-1    none arrived: ALARM, 'no sgwatch heartbeat from us-east-1 for 75 minutes'" in text
    assert "handler: 3 batches, 0 failed messages" in text
    inbox = re.search(r"Inbox: (\d+) alerts", text)
    assert inbox is not None
    alert_lines = [line for line in text.splitlines() if re.match(r"^ [ *] (CRITICAL|HIGH|MEDIUM|LOW|INFO): ", line)]
    assert len(alert_lines) == int(inbox.group(1))
    assert " * CRITICAL: add 22/tcp from 0.0.0.0/0 on sg-" in text
    assert all(line.startswith(" *") for line in alert_lines if re.match(r"^ . (CRITICAL|HIGH|MEDIUM):", line))
    assert not any(line.startswith(" *") for line in alert_lines if re.match(r"^ . (LOW|INFO):", line))
    assert "SecurityGroupChanges            CRITICAL 6, HIGH 1, MEDIUM 1, LOW 11, INFO 9" in text
    assert "SecurityGroupChangesByRegion    eu-west-1 28" in text  # the demo account's groups are in eu-west-1
    assert f"AlertsPublished                 {len(alert_lines)}" in text
    assert "The most severe alert, as its email reads" in text and "What to do: Revoke the rule now" in text
    assert '{"level"' not in text  # the function's logs are counted, not mixed into the report
    # The bundled StopLogging (a real detonation log) takes the guard rule's path to an emailed alert.
    assert " * CRITICAL: StopLogging on CloudTrail trail stratus-red-team-ct-stop-trail-buykxbqejv" in text
    assert "Someone blinds the monitor" in text and "Undo: aws cloudtrail start-logging --name" in text
    assert "TamperEvents                    1" in text
    # A prefix list that a group's SSH rule references gains the world: the call names no group; the alert does.
    edit = re.search(r" \* CRITICAL: (pl-[0-9a-f]+) opens 22/tcp from 0\.0\.0\.0/0 on (sg-[0-9a-f]+)\n", text)
    assert edit is not None
    assert "A prefix list opens a group" in text
    assert (
        f"SSH (22/tcp) opened to the whole internet (0.0.0.0/0, added to prefix list {edit.group(1)} (office)) on"
        f" {edit.group(2)} through rule sgr-" in text
    )
    assert dict(os.environ) == environment


def _counted_changes(text: str) -> int:
    line = next(line for line in text.splitlines() if line.strip().startswith("SecurityGroupChanges"))
    return sum(int(count) for count in re.findall(r"[A-Z]+ (\d+)", line))


def test_demo_with_the_example_policy_alerts_less_and_loses_nothing() -> None:
    example = str(Path(__file__).resolve().parents[2] / "examples" / "policy.toml")
    plain, tuned = io.StringIO(), io.StringIO()
    assert main(["demo"], plain, io.StringIO()) == EXIT_OK
    assert main(["demo", "--policy", example], tuned, io.StringIO()) == EXIT_OK
    alerts = [int(re.search(r"Inbox: (\d+) alerts", out.getvalue()).group(1)) for out in (plain, tuned)]  # type: ignore[union-attr]
    assert alerts[1] < alerts[0]
    assert _counted_changes(tuned.getvalue()) == _counted_changes(plain.getvalue())  # every change still counted
    lowered = re.search(r"LoweredByPolicy\s+(\d+)", tuned.getvalue())
    assert lowered is not None and int(lowered.group(1)) > 0


def test_demo_shows_each_output_a_deployment_can_enable() -> None:
    out = io.StringIO()
    assert main(["demo"], out, io.StringIO()) == EXIT_OK
    text = out.getvalue()
    findings = re.search(r"Security Hub: (\d+) findings \(changes from MEDIUM up\)", text)
    assert findings is not None
    listed = [line for line in text.splitlines() if re.match(r"^  (CRITICAL|HIGH|MEDIUM) +\S+ +\S", line)]
    assert len(listed) == int(findings.group(1)) >= 5
    assert not [line for line in listed if line.startswith(("  LOW", "  INFO"))]
    chat = re.search(r"Chat \(Slack or Teams\): (\d+) cards \(alerts from HIGH up\); the most severe reads:", text)
    assert chat is not None and 0 < int(chat.group(1)) < int(findings.group(1))
    assert "  | CRITICAL: " in text and "  | *Who:* `" in text and "  | Next steps:" in text
    queued = text.split("What a queue, function or HTTPS subscriber receives instead of the text", 1)
    assert len(queued) == 2  # the document a queue gets, as JSON, after the emails as text
    shown = queued[1].split("\n")
    assert shown[2] == "{" and shown[3] == '  "schemaVersion": 2,' and '      "ocsf": {' in shown


def test_demo_remediate_revokes_the_world_ssh_rule_by_its_id_and_says_so() -> None:
    out = io.StringIO()
    assert main(["demo", "--remediate"], out, io.StringIO()) == EXIT_OK
    text = out.getvalue().split("\nRemediation (-c remediate=CRITICAL -c remediateMode=enforce): ", 1)[1]
    rule = re.search(r"the function revoked rule (sgr-\w+) by its id", text)
    assert rule is not None
    assert (
        f"  revoked {rule.group(1)} on sg-" in text
        and "To restore it: aws ec2 authorize-security-group-ingress" in text
    )
    assert text.rstrip().endswith(f"rule {rule.group(1)} is gone from the group; the group's other rules are untouched")
