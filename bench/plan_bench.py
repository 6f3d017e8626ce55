"""Benchmark: wall time and peak memory of the offline plan of a stack, as a whole process.

Target (issue #2): the dev plan in at most 3 s and 400 MB on a 2-core machine.
Runs `python -m bankctl plan STACK --out <tmp>` after one warm-up, reports
min/median/max wall seconds and the peak resident memory of the runs, and
exits 1 when the median or the peak misses the target.

    .venv/bin/python bench/plan_bench.py [--stack dev] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0
TARGET_MB = 400


def one_run(stack: str, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one plan process."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.chdir(PROJECT_DIR)
        os.execv(sys.executable, [sys.executable, "-m", "bankctl", "plan", stack, "--out", str(out)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bankctl plan {stack} failed with exit {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.json"
        one_run(args.stack, out)  # warm-up: bytecode and page cache
        results = [one_run(args.stack, out) for _ in range(args.runs)]
        size_kb = out.stat().st_size / 1024
    walls = sorted(w for w, _ in results)
    peak = max(m for _, m in results)
    median = statistics.median(walls)
    print(f"offline plan of {args.stack}: {args.runs} runs on {os.cpu_count()} cores, plan file {size_kb:.0f} KiB")
    print(
        f"  wall seconds  min {walls[0]:.2f}  median {median:.2f}  max {walls[-1]:.2f}   (target <= {TARGET_SECONDS})"
    )
    print(f"  peak memory   {peak:.0f} MB   (target <= {TARGET_MB})")
    ok = median <= TARGET_SECONDS and peak <= TARGET_MB
    print("  within target" if ok else "  OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
