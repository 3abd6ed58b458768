"""`sgwatch history` survives what LookupEvents returns: a CloudTrailEvent too deep to decode is an unreadable record
that the table shows as ERROR, not an exception that ends the command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sgwatch.operator import history

DEEP = 100_000


class _OnePage:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        return {"Events": self.events}


def test_cloudtrail_event_too_deep_to_decode_is_an_unreadable_record() -> None:
    deep = {"EventId": "e-deep", "CloudTrailEvent": "[" * DEEP + "]" * DEEP}
    end = datetime(2026, 11, 20, tzinfo=UTC)
    results, per_region = history.run_history(
        ["eu-west-1"],
        lambda region: _OnePage([deep]),
        end - timedelta(days=1),
        end,
        limiter_for=lambda region: history.RateLimiter(rate=1e9),
        names=["AuthorizeSecurityGroupIngress"],
    )
    assert per_region[0].error == ""
    [result] = results
    assert result.error and result.event_id == "e-deep"
    assert history.render_table(results).splitlines()[1].startswith("ERROR")
