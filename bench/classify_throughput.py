"""`sgwatch classify` beside its peers on production-like CloudTrail logs: zcat (the floor), jq and DuckDB each
selecting the watched calls' records with an exact filter. Three corpora: one big file with 1% security-group calls,
one with 30% (a Terraform-heavy account), and a tree of 2,000 small files. The commands take turns, round after round,
so that a noisy moment of a shared machine falls on all of them; medians are printed, compare ratios.

Run: `make bench` (or `.venv/bin/python -m bench.classify_throughput --runs 3`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sgwatch.core.events import monitored_event_names

from bench.cloudtrail_mix import generate

DATA = Path(__file__).resolve().parent / "data"
SGWATCH = str(Path(sys.executable).parent / "sgwatch")
#: jq's and DuckDB's exact filter: the watched calls by name (the groupSet condition aside), from EC2.
NAMES = monitored_event_names()
JQ_FILTER = (
    '.Records[] | select(.eventSource == "ec2.amazonaws.com" and (.eventName | IN('
    + ", ".join(json.dumps(name) for name in NAMES)
    + ")))"
)


def corpora() -> list[tuple[str, list[Path], int, list[Path]]]:
    """(label, files, records, what sgwatch is given): generated once, kept under bench/data (not in git)."""
    one = DATA / "cloudtrail-mix-200000.json.gz"
    thirty = DATA / "cloudtrail-mix-50000-30pct.json.gz"
    tree = DATA / "tree-2000"
    if not one.exists():
        generate(one, 200_000)
    if not thirty.exists():
        generate(thirty, 50_000, security_group_share=0.30)
    if not tree.exists():
        for index in range(2000):
            generate(tree / f"{index // 100:02d}" / f"log-{index:04d}.json.gz", 100, seed=index)
    return [
        ("1% of 200,000, one file", [one], 200_000, [one]),
        ("30% of 50,000, one file", [thirty], 50_000, [thirty]),
        ("1% of 200,000, 2,000 files", sorted(tree.rglob("*.json.gz")), 200_000, [tree]),
    ]


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)


def duckdb_filter(files: list[Path]) -> Callable[[], object]:
    import duckdb

    listed = ", ".join(f"'{path}'" for path in files)
    names = ", ".join(f"'{name}'" for name in NAMES)
    query = (
        f"SELECT count(*) FROM (SELECT unnest(Records) AS r FROM read_json([{listed}],"
        " columns={'Records': 'JSON[]'}, maximum_object_size=1000000000))"
        " WHERE json_extract_string(r, '$.eventSource') = 'ec2.amazonaws.com'"
        f" AND json_extract_string(r, '$.eventName') IN ({names})"
    )

    def run() -> object:
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        return connection.sql(query).fetchall()

    return run


def cli_peak(paths: list[Path]) -> float:
    """The CLI's own peak RSS in MiB: its VmHWM, read by the CLI's process itself at the end of the run (ru_maxrss
    of a child would carry over the parent's)."""
    program = (
        "import io, os, re, sys\n"
        "from sgwatch.operator.cli import main\n"
        "main(['classify', *sys.argv[1:]], open(os.devnull, 'w'), io.StringIO())\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", program, *map(str, paths)], check=True, capture_output=True, text=True
    )
    return int(output.stdout.strip()) / 1024


def interleaved(cases: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, action in cases.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def verdict(target: str, met: bool) -> None:
    """A target of the performance issue, met or not; where the time goes is in docs/benchmarks.md."""
    print(f"\n  target {target}: {'met' if met else 'NOT met (the cause: docs/benchmarks.md)'}", end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    try:
        import duckdb  # noqa: F401
    except ImportError:
        has_duckdb = False
    else:
        has_duckdb = True
    for label, files, records, given in corpora():
        listed = " ".join(map(str, files))
        cases: dict[str, Callable[[], object]] = {
            "zcat": shell(f"zcat {listed} > /dev/null"),
            "sgwatch classify": shell(f"{SGWATCH} classify {' '.join(map(str, given))} 2>/dev/null > /dev/null"),
        }
        if shutil.which("jq"):
            cases["jq (exact filter)"] = shell(f"zcat {listed} | jq -c '{JQ_FILTER}' > /dev/null")
        if has_duckdb:
            cases["DuckDB read_json (exact filter)"] = duckdb_filter(files)
        measured = interleaved(cases, args.runs)
        print(f"\n{label}: {len(files)} file(s); median of {args.runs} interleaved runs")
        for name, seconds in measured.items():
            print(f"  {name:<34}{seconds:>8.2f} s{records / seconds:>12,.0f} records/s")
        cli = measured["sgwatch classify"]
        print(f"  sgwatch / zcat: {cli / measured['zcat']:.2f}x", end="")
        for peer in ("jq (exact filter)", "DuckDB read_json (exact filter)"):
            if peer in measured:
                print(f"; {peer.split(' ')[0]} / sgwatch: {measured[peer] / cli:.2f}x", end="")
        if label.startswith("1%") and len(files) == 1:
            verdict(f"sgwatch <= 1.0x zcat: {cli / measured['zcat']:.2f}x", cli <= measured["zcat"])
        if label.startswith("30%") and "jq (exact filter)" in measured:
            ratio = measured["jq (exact filter)"] / cli
            verdict(f"sgwatch 3x faster than jq: {ratio:.2f}x", ratio >= 3)
        peak = cli_peak(given)
        largest = max(len(gzip.decompress(path.read_bytes())) for path in files)
        print(
            f"\n  sgwatch peak memory: {peak:.0f} MiB; largest decompressed file {largest / 2**20:.1f} MiB"
            + (
                f" ({peak * 2**20 / largest:.2f}x)"
                if largest >= 50 * 2**20
                else " (the interpreter's own size dominates)"
            )
        )
        if largest >= 50 * 2**20:
            verdict(f"peak <= 1.2x the file: {peak * 2**20 / largest:.2f}x", peak * 2**20 <= 1.2 * largest)
            print()


if __name__ == "__main__":
    main()
