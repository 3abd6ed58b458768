"""`sgwatch history`: CloudTrail LookupEvents for every monitored event name, classified by the Lambda's own core.

LookupEvents allows 2 requests per second per account and region: each region has its own limiter, regions run in
parallel, throttling is answered with exponential backoff, and every page is read.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sgwatch.core.classify import DEFAULT_SETTINGS, Classification, Settings, classify
from sgwatch.core.errors import error_code
from sgwatch.core.events import monitored_event_names
from sgwatch.core.text import clean

MAX_DAYS = 90  # what LookupEvents keeps
REQUESTS_PER_SECOND = 2.0
#: One worker per region (every commercial region at once): each waits on its own region's limit, not on the others.
MAX_REGION_WORKERS = 40
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})
_SINCE = re.compile(r"^(\d+)([dhm])$")


def parse_since(text: str, now: datetime) -> datetime:
    """ "7d", "12h", "30m" or an ISO date/time, within the 90 days LookupEvents keeps."""
    match = _SINCE.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        start = now - {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
    else:
        try:
            start = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--since {text!r}: expected 7d, 12h, 30m or an ISO date such as 2026-11-01") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if start < now - timedelta(days=MAX_DAYS):
        raise ValueError(f"--since {text!r}: CloudTrail keeps {MAX_DAYS} days of events; ask for less")
    if start > now:
        raise ValueError(f"--since {text!r} is in the future")
    return start


class RateLimiter:
    """At most `rate` calls per second: each call waits for its slot. Thread-safe; clock and sleep are injectable."""

    def __init__(
        self, rate: float = REQUESTS_PER_SECOND, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


@dataclass
class RegionResult:
    region: str
    records: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    error: str = ""


def lookup_region(
    client: Any,
    region: str,
    start: datetime,
    end: datetime,
    limiter: RateLimiter,
    *,
    names: Sequence[str] | None = None,
    max_attempts: int = 8,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str, int], None] | None = None,
) -> RegionResult:
    """Every record LookupEvents pages out for the monitored names in one region."""
    result = RegionResult(region)
    for name in names or monitored_event_names():
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": start,
                "EndTime": end,
                "MaxResults": 50,
            }
            if token:
                request["NextToken"] = token
            for attempt in range(max_attempts):
                limiter.wait()
                result.requests += 1
                try:
                    page = client.lookup_events(**request)
                    break
                except Exception as error:
                    code = error_code(error)
                    if code not in THROTTLING_CODES or attempt == max_attempts - 1:
                        result.error = (
                            f"{region}: LookupEvents for {name} failed: {code or type(error).__name__}: {error}"
                        )
                        return result
                    result.throttled += 1
                    sleep(min(backoff * 2**attempt, 20.0))
            for event in page.get("Events", []):
                try:
                    result.records.append(json.loads(event["CloudTrailEvent"]))
                except (KeyError, TypeError, ValueError, RecursionError):  # kept, and classified as unreadable
                    result.records.append(
                        {"eventName": name, "eventID": event.get("EventId", ""), "_unreadable": event}
                    )
            if progress:
                progress(region, len(result.records))
            token = page.get("NextToken")
            if not token:
                break
    return result


def run_history(
    regions: Sequence[str],
    client_for: Callable[[str], Any],
    start: datetime,
    end: datetime,
    *,
    settings: Settings | None = None,
    limiter_for: Callable[[str], RateLimiter] = lambda _region: RateLimiter(),
    workers: int = MAX_REGION_WORKERS,
    progress: Callable[[str, int], None] | None = None,
    **lookup: Any,
) -> tuple[list[Classification], list[RegionResult]]:
    """All regions in parallel; every record classified, most severe first, then newest first."""

    def one(region: str) -> RegionResult:
        return lookup_region(client_for(region), region, start, end, limiter_for(region), progress=progress, **lookup)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(regions)))) as pool:
        region_results = list(pool.map(one, regions))
    classified = []
    for region_result in region_results:
        for index, record in enumerate(region_result.records):
            location = f"{region_result.region}:LookupEvents[{index}]"
            classified.append(
                classify(record, location=location, region=region_result.region, settings=settings or DEFAULT_SETTINGS)
            )
    classified.sort(key=lambda result: (result.severity, result.event_time), reverse=True)
    return classified, region_results


def render_table(results: Sequence[Classification]) -> str:
    """The table `sgwatch history` prints: one line per result, every field from a record or AWS made inert."""
    lines = [f"{'SEVERITY':<9} {'TIME':<20} {'REGION':<14} {'EVENT':<32} {'ACTOR':<36} WHY"]
    for result in results:
        why = result.error or (result.verdicts[0].summary if result.verdicts else "")
        severity = "ERROR" if result.error else result.severity.name
        lines.append(
            f"{severity:<9} {clean(result.event_time, 40):<20} {clean(result.region, 40):<14}"
            f" {clean(result.event_name, 64):<32} {clean(result.actor, 36):<36} {clean(why, 300)}"
        )
    return "\n".join(lines) + "\n"
