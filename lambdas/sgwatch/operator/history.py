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
#: A region's event names read side by side behind its one limiter: a slow answer does not leave the limit unused.
NAME_WORKERS = 4
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


class _Progress:
    """The records a region has found so far, told to `progress` after each page, from whichever chain read it."""

    def __init__(self, region: str, progress: Callable[[str, int], None] | None) -> None:
        self.region, self.progress = region, progress
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        with self._lock:
            self.total += count
            total = self.total
        if self.progress:
            self.progress(self.region, total)


@dataclass
class _Chain:
    """One event name's pages in one region."""

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
    name_workers: int = 1,
    max_attempts: int = 8,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str, int], None] | None = None,
) -> RegionResult:
    """Every record LookupEvents pages out for the monitored names in one region. With `name_workers` > 1, the names'
    page chains run side by side behind the region's one limiter, so a slow answer does not leave the limit unused;
    the records come out in the names' order either way."""
    result = RegionResult(region)
    found = _Progress(region, progress)

    chain = _Lookup(client, region, start, end, limiter, max_attempts, backoff, sleep, found).chain

    ordered = list(names or monitored_event_names())
    if name_workers > 1:
        with ThreadPoolExecutor(max_workers=min(name_workers, len(ordered)) or 1) as pool:
            chains = list(pool.map(chain, ordered))
    else:
        chains = []
        for name in ordered:
            chains.append(chain(name))
            if chains[-1].error:  # one after another: a name that failed ends the region's lookup
                break
    for done in chains:
        result.records += done.records
        result.requests += done.requests
        result.throttled += done.throttled
        result.error = result.error or done.error
    return result


@dataclass(frozen=True)
class _Lookup:
    """What every page chain of one region shares: the client, the window, the region's one limiter, the retries."""

    client: Any
    region: str
    start: datetime
    end: datetime
    limiter: RateLimiter
    max_attempts: int
    backoff: float
    sleep: Callable[[float], None]
    found: _Progress

    def chain(self, name: str) -> _Chain:
        """Every page of one event name, each request in its slot of the region's limit; throttling is retried."""
        chain = _Chain()
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": self.start,
                "EndTime": self.end,
                "MaxResults": 50,
            }
            if token:
                request["NextToken"] = token
            for attempt in range(self.max_attempts):
                self.limiter.wait()
                chain.requests += 1
                try:
                    page = self.client.lookup_events(**request)
                    break
                except Exception as error:
                    code = error_code(error)
                    if code not in THROTTLING_CODES or attempt == self.max_attempts - 1:
                        chain.error = (
                            f"{self.region}: LookupEvents for {name} failed: {code or type(error).__name__}: {error}"
                        )
                        return chain
                    chain.throttled += 1
                    self.sleep(min(self.backoff * 2**attempt, 20.0))
            events = page.get("Events", [])
            for event in events:
                try:
                    chain.records.append(json.loads(event["CloudTrailEvent"]))
                except (KeyError, TypeError, ValueError, RecursionError):  # kept, and classified as unreadable
                    chain.records.append({"eventName": name, "eventID": event.get("EventId", ""), "_unreadable": event})
            self.found(len(events))
            token = page.get("NextToken")
            if not token:
                return chain


def run_history(
    regions: Sequence[str],
    client_for: Callable[[str], Any],
    start: datetime,
    end: datetime,
    *,
    settings: Settings | None = None,
    limiter_for: Callable[[str], RateLimiter] = lambda _region: RateLimiter(),
    workers: int = MAX_REGION_WORKERS,
    name_workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    **lookup: Any,
) -> tuple[list[Classification], list[RegionResult]]:
    """All regions in parallel, each region's names side by side (NAME_WORKERS unless given); every record
    classified, most severe first, then newest first."""
    side_by_side = NAME_WORKERS if name_workers is None else name_workers

    def one(region: str) -> RegionResult:
        return lookup_region(
            client_for(region), region, start, end, limiter_for(region), progress=progress,
            name_workers=side_by_side, **lookup,
        )  # fmt: skip

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
