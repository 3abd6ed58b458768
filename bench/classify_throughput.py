"""Classification throughput on a production-like CloudTrail log file, beside zcat (the floor) and jq (filter only).

Run: `make bench` (or `.venv/bin/python bench/classify_throughput.py --runs 5`). Prints medians; compare ratios.
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

from sgwatch.core.classify import classify
from sgwatch.operator.sources import read_paths

from bench.cloudtrail_mix import generate

DATA = Path(__file__).resolve().parent / "data"
SGWATCH = str(Path(sys.executable).parent / "sgwatch")


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)


def cli_peak(path: Path) -> float:
    """The CLI's own peak RSS in MiB: its VmHWM, read by the CLI's process itself at the end of the run (ru_maxrss
    of a child would carry over the parent's, and this process holds the file)."""
    program = (
        "import io, re, sys\n"
        "from sgwatch.operator.cli import main\n"
        "main(['classify', sys.argv[1]], io.StringIO(), io.StringIO())\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))\n"
    )
    output = subprocess.run([sys.executable, "-c", program, str(path)], check=True, capture_output=True, text=True)
    return int(output.stdout.strip()) / 1024


def in_process(path: Path) -> Callable[[], object]:
    def run() -> int:
        found = 0
        for item in read_paths([str(path)]):
            if not item.skipped and classify(item.record, location=item.location).record is not None:
                found += 1
        return found

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = DATA / f"cloudtrail-mix-{args.records}.json.gz"
    if not path.exists():
        print(f"generating {path.name} ({args.records:,} records, ~1% security-group calls)...", file=sys.stderr)
        generate(path, args.records)
    raw_size = len(gzip.decompress(path.read_bytes()))
    found = in_process(path)()
    print(
        f"file: {path.name}: {path.stat().st_size / 1e6:.1f} MB gzip, {raw_size / 1e6:.1f} MB JSON,"
        f" {args.records:,} records, {found:,} security-group records; median of {args.runs} runs"
    )

    measured: dict[str, float] = {}
    cases: list[tuple[str, Callable[[], object]]] = [
        ("zcat FILE > /dev/null", shell(f"zcat {path} > /dev/null")),
        ("sgwatch classify FILE (CLI)", shell(f"{SGWATCH} classify {path} 2>/dev/null > /dev/null")),
        ("classify in process", in_process(path)),
        ("python json.load(gzip) only", lambda: json.loads(gzip.decompress(path.read_bytes()))),
    ]
    if shutil.which("jq"):
        cases.append(
            ("zcat FILE | jq select(ec2)", shell(
                f"zcat {path} | jq -c '.Records[] | select(.eventSource==\"ec2.amazonaws.com\")' > /dev/null"
            ))
        )  # fmt: skip
    print(f"{'what':<32}{'median s':>10}{'records/s':>14}")
    for name, action in cases:
        seconds = median_seconds(action, args.runs)
        measured[name] = seconds
        print(f"{name:<32}{seconds:>10.2f}{args.records / seconds:>14,.0f}")
    cli_peak_mb = cli_peak(path)
    print(f"CLI peak memory (max RSS of the sgwatch process): {cli_peak_mb:.0f} MB,"
          f" {cli_peak_mb * 2**20 / raw_size:.2f}x the {raw_size / 2**20:.0f} MB decompressed file")  # fmt: skip
    cli = measured["sgwatch classify FILE (CLI)"]
    print(f"CLI / zcat: {cli / measured['zcat FILE > /dev/null']:.2f}x (target <= 3x)")
    if "zcat FILE | jq select(ec2)" in measured:
        print(f"jq / CLI:   {measured['zcat FILE | jq select(ec2)'] / cli:.2f}x (target >= 4x)")


if __name__ == "__main__":
    main()
