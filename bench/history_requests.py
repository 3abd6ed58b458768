"""`sgwatch history`: LookupEvents requests and the wall time the 2 requests/s limit per region allows, modelled from
the code's own constants (the watched names, the limit, the workers), for 17 regions x 50 changes a day, at two
LookupEvents latencies.

Run: `make bench` (or `.venv/bin/python -m bench.history_requests`).
"""

from __future__ import annotations

import math

from sgwatch.core.events import monitored_event_names
from sgwatch.operator.history import MAX_REGION_WORKERS, NAME_WORKERS, REQUESTS_PER_SECOND

PAGE = 50  # LookupEvents' MaxResults
REGIONS = 17
CHANGES_PER_DAY = 50  # per region, spread over the watched names
LATENCIES = (0.3, 0.8)  # seconds per LookupEvents answer: a quick one, and a slow one


def requests_per_region(days: int, names: int) -> int:
    """One request per watched name at least, and one more per page of changes."""
    return names + math.ceil(CHANGES_PER_DAY * days / PAGE)


def region_seconds(requests: int, latency: float, name_workers: int) -> float:
    """One region: the limit sets the pace, unless answers are slower than it and too few are in flight."""
    return max(requests / REQUESTS_PER_SECOND, requests * latency / name_workers)


def wall_seconds(requests: int, latency: float, region_workers: int, name_workers: int) -> float:
    """Regions in waves of `region_workers`."""
    return math.ceil(REGIONS / region_workers) * region_seconds(requests, latency, name_workers)


def main() -> None:
    names = len(monitored_event_names())
    print(
        f"{REGIONS} regions x {CHANGES_PER_DAY} changes a day, {names} watched names, {REQUESTS_PER_SECOND:g} requests/s"
    )
    print(
        f"{'days':>5}{'requests':>10}{'latency':>9}{'before (8 x 1)':>16}{f'now ({MAX_REGION_WORKERS} x {NAME_WORKERS})':>14}"
    )
    for days in (7, 90):
        per_region = requests_per_region(days, names)
        for latency in LATENCIES:
            before = wall_seconds(per_region, latency, 8, 1)
            now = wall_seconds(per_region, latency, MAX_REGION_WORKERS, NAME_WORKERS)
            print(f"{days:>5}{per_region * REGIONS:>10,}{latency:>8.1f}s{before:>15,.0f}s{now:>13,.0f}s")


if __name__ == "__main__":
    main()
