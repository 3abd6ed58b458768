"""`sgwatch history`: LookupEvents requests and the wall time the 2 requests/s limit per region allows, modelled from
the code's own constants (the watched names, the limit, the workers), for 17 regions x 50 changes a day.

Run: `make bench` (or `.venv/bin/python -m bench.history_requests`).
"""

from __future__ import annotations

import math

from sgwatch.core.events import monitored_event_names
from sgwatch.operator.history import MAX_REGION_WORKERS, REQUESTS_PER_SECOND

PAGE = 50  # LookupEvents' MaxResults
REGIONS = 17
CHANGES_PER_DAY = 50  # per region, spread over the watched names


def requests_per_region(days: int, names: int) -> int:
    """One request per watched name at least, and one more per page of changes."""
    changes = CHANGES_PER_DAY * days
    return names + math.ceil(changes / PAGE)


def wall_seconds(requests: int, regions: int, workers: int) -> float:
    """Regions in waves of `workers`; within a region, the limit sets the pace."""
    return math.ceil(regions / workers) * requests / REQUESTS_PER_SECOND


def main() -> None:
    names = len(monitored_event_names())
    print(
        f"{REGIONS} regions x {CHANGES_PER_DAY} changes a day, {names} watched names, {REQUESTS_PER_SECOND:g} requests/s"
    )
    print(f"{'days':>5}{'requests':>10}{'8 workers':>12}{f'{MAX_REGION_WORKERS} workers':>13}")
    for days in (7, 90):
        per_region = requests_per_region(days, names)
        old, new = (wall_seconds(per_region, REGIONS, workers) for workers in (8, MAX_REGION_WORKERS))
        print(f"{days:>5}{per_region * REGIONS:>10,}{old:>11,.0f}s{new:>12,.0f}s")


if __name__ == "__main__":
    main()
