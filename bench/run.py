"""Run every benchmark next to its baseline, ``--runs`` times, and print medians and ratios.

    python -m bench.run [--quick] [--runs 3] [--wakeups N] [--no-normal] [--json FILE]

Ratios are computed within each run (both sides measured minutes apart on the same machine)
and then summarised; nothing here asserts a time. Benchmarks so far: wake-ups (2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import wakeups

QUICK_N = 2_000
FULL_N = 100_000


def summarise(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def collect(runs: list[dict[str, dict[str, Any]]], ratios: dict[str, tuple[str, str]]) -> dict:
    names = sorted({name for run in runs for name in run})
    figures = {}
    for name in names:
        rates = [run[name]["rate"] for run in runs if name in run]
        figures[name] = {**summarise(rates), "runs": rates}
    ratio_out = {}
    for label, (top, bottom) in ratios.items():
        per_run = [
            run[top]["rate"] / run[bottom]["rate"] for run in runs if top in run and bottom in run
        ]
        if per_run:
            ratio_out[label] = {**summarise(per_run), "runs": per_run}
    return {"figures": figures, "ratios": ratio_out}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"cpus={result['cpu_count']}  runs={result['runs']}  wakeups N={result['sizes']['wakeups']}"
        f"  python={result['python']}  {result['started']}",
        "",
        f"{'figure':<28}{'min':>14}{'median':>14}{'max':>14}  unit",
    ]
    for name, f in result["figures"].items():
        lines.append(f"{name:<28}{f['min']:>14,.1f}{f['median']:>14,.1f}{f['max']:>14,.1f}  per s")
    lines.append("")
    lines.append(f"{'ratio (per run)':<28}{'min':>14}{'median':>14}{'max':>14}")
    for name, r in result["ratios"].items():
        lines.append(f"{name:<28}{r['min']:>14.4f}{r['median']:>14.4f}{r['max']:>14.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"small sizes (N={QUICK_N:,})")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wakeups", type=int, default=None, help="wake-ups per run")
    parser.add_argument(
        "--no-normal", action="store_true", help="skip the real path at synchronous=NORMAL"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    n = args.wakeups or (QUICK_N if args.quick else FULL_N)

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    runs: list[dict[str, dict[str, Any]]] = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}: wake-ups N={n:,} ...", file=sys.stderr, flush=True)
        runs.append(wakeups.run_once(n, normal=not args.no_normal))
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - t0,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "runs": args.runs,
        "quick": args.quick,
        "sizes": {"wakeups": n},
        **collect(runs, wakeups.RATIOS),
        "raw": runs,
    }
    bad = [
        name
        for name, f in {**result["figures"], **result["ratios"]}.items()
        if not (math.isfinite(f["median"]) and f["median"] > 0)
    ]
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if bad:
        print(f"not a positive finite figure: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
