"""Run every benchmark next to its baseline, ``--runs`` times, and print medians and ratios.

    python -m bench.run [--quick] [--runs 3] [--only NAME ...] [--json FILE]

1. ingest: signed events over HTTP into the real service vs a bare ASGI app (bench/ingest.py)
2. wakeups: due wake-ups through the real path vs APScheduler vs raw SQLite (bench/wakeups.py)
3. simulate: ``cart-recovery simulate`` over a generated month (bench/simulate.py)
4. pending: 1,000,000 waiting carts, service RSS and lateness under ingest (bench/pending.py)
5. burst: webhook ingest latency while 50,000 due wake-ups fire, beside ingest alone
   (bench/burst.py)

Each run measures every benchmark once, each figure beside its baseline; ratios are computed
within each run and then summarised. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import burst, ingest, pending, simulate, wakeups

BENCHMARKS = ("ingest", "wakeups", "simulate", "pending", "burst")
QUICK_N = 2_000
FULL_N = 100_000
SIM_QUICK = simulate.QUICK_N
SIM_FULL = 1_000_000
PENDING_QUICK = pending.QUICK_N
PENDING_FULL = pending.FULL_N

RATIOS = {
    **ingest.RATIOS,
    **wakeups.RATIOS,
    **simulate.RATIOS,
    **pending.RATIOS,
    **burst.RATIOS,
}

# What the table shows besides the rate, per figure (key, label, format).
EXTRAS = (
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("p99_vs_alone", "p99 / alone", "{:.2f}"),
    ("wakeups_rate", "wake-ups/s", "{:.0f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("lateness_p50_ms", "late p50 ms", "{:.0f}"),
    ("lateness_p99_ms", "late p99 ms", "{:.0f}"),
    ("seconds", "seconds", "{:.1f}"),
)


def summarise(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def collect(runs: list[dict[str, dict[str, Any]]], ratios: dict[str, tuple[str, str]]) -> dict:
    names = sorted({name for run in runs for name in run})
    figures: dict[str, Any] = {}
    for name in names:
        rates = [run[name]["rate"] for run in runs if name in run]
        figure: dict[str, Any] = {**summarise(rates), "runs": rates}
        for key, _, _ in EXTRAS:
            values = [run[name][key] for run in runs if name in run and key in run[name]]
            if values and key != "seconds":
                figure[key] = summarise([float(v) for v in values])
        figures[name] = figure
    ratio_out = {}
    for label, (top, bottom) in ratios.items():
        per_run = [
            run[top]["rate"] / run[bottom]["rate"] for run in runs if top in run and bottom in run
        ]
        if per_run:
            ratio_out[label] = {**summarise(per_run), "runs": per_run}
    return {"figures": figures, "ratios": ratio_out}


def table(result: dict[str, Any]) -> str:
    sizes = "  ".join(f"{k}={v:,}" for k, v in result["sizes"].items())
    lines = [
        f"cpus={result['cpu_count']}  runs={result['runs']}  {sizes}"
        f"  python={result['python']}  {result['started']}",
        "",
        f"{'figure (per second)':<30}{'min':>13}{'median':>13}{'max':>13}",
    ]
    for name, f in result["figures"].items():
        lines.append(f"{name:<30}{f['min']:>13,.1f}{f['median']:>13,.1f}{f['max']:>13,.1f}")
        for key, label, fmt in EXTRAS:
            if key in f:
                s = f[key]
                cells = "".join(f"{fmt.format(s[k]):>13}" for k in ("min", "median", "max"))
                lines.append(f"{'  ' + label:<30}{cells}")
    lines.append("")
    lines.append(f"{'ratio (per run)':<44}{'min':>10}{'median':>10}{'max':>10}")
    for name, r in result["ratios"].items():
        lines.append(f"{name:<44}{r['min']:>10.4f}{r['median']:>10.4f}{r['max']:>10.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, short windows")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--wakeups", type=int, default=None, help="wake-ups per run")
    parser.add_argument("--carts", type=int, default=None, help="carts in the simulated month")
    parser.add_argument("--pending", type=int, default=None, help="carts waiting at once")
    parser.add_argument("--burst", type=int, default=None, help="wake-ups due in the burst")
    parser.add_argument(
        "--no-normal", action="store_true", help="skip the real path at synchronous=NORMAL"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    n_wake = args.wakeups or (QUICK_N if args.quick else FULL_N)
    n_sim = args.carts or (SIM_QUICK if args.quick else SIM_FULL)
    n_pending = args.pending or (PENDING_QUICK if args.quick else PENDING_FULL)
    n_burst = args.burst or (burst.QUICK_N if args.quick else burst.FULL_N)
    sizes = {
        "wakeups": n_wake,
        "simulate_carts": n_sim,
        "pending_carts": n_pending,
        "burst_carts": n_burst,
    }
    sizes = {k: v for k, v in sizes.items() if k.split("_")[0] in args.only}

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        seeded: Path | None = None
        if "pending" in args.only:  # one seeded database, copied for each run
            seeded = Path(tmp) / "pending-seed.sqlite3"
            note(f"pending: seeding {n_pending:,} waiting carts ...")
            seeding = pending.seed(
                seeded, pending.make_plan(n_pending, args.quick, None, None, None)
            )
            note(f"pending: seeded in {seeding['seconds']:.0f} s")
        steps: dict[str, Callable[[], dict[str, dict[str, Any]]]] = {
            "ingest": lambda: ingest.run_once(quick=args.quick),
            "wakeups": lambda: wakeups.run_once(n_wake, normal=not args.no_normal),
            "simulate": lambda: simulate.run_once(n_sim, quick=args.quick),
            "pending": lambda: pending.run_once(n_pending, args.quick, seeded=seeded),
            "burst": lambda: burst.run_once(n_burst, quick=args.quick),
        }
        for i in range(args.runs):
            run: dict[str, dict[str, Any]] = {}
            for name in BENCHMARKS:
                if name in args.only:
                    note(f"run {i + 1}/{args.runs}: {name} ...")
                    run.update(steps[name]())
            runs.append(run)
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - t0,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "runs": args.runs,
        "quick": args.quick,
        "sizes": sizes,
        **collect(runs, RATIOS),
        "raw": runs,
    }
    bad = [
        name
        for name, f in {**result["figures"], **result["ratios"]}.items()
        if not (math.isfinite(f["median"]) and f["median"] > 0)
    ]
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if bad:
        print(f"not a positive finite figure: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
