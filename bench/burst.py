"""Benchmark 5: webhook ingest while a burst of wake-ups fires, beside ingest alone.

The wake-up loop and the webhook share one SQLite file and its write lock: while a chunk of
wake-ups is claimed (loaded, decided, composed, claimed, committed), an event waits. This
measures what that costs the storefront, in one run, on two seeded databases of the same size:

* ``burst.ingest_alone``: the real ``cart-recovery serve`` (``synchronous=FULL``, a real SMTP
  sink) on ``n`` waiting carts of which none falls due; an open-loop generator offers signed
  ``cart.updated`` events at ``rate`` a second through the real webhook for ``window``
  seconds (``bench/pending.py``'s generator and measurement: latency counts from each
  request's due time, so queueing shows).
* ``burst.ingest_during``: the same, but all ``n`` carts fall due within the window (``n /
  window`` a second, more than the loop fires), so the loop fires flat out the whole time.
  Every due cart must get exactly one email, every accepted event must be stored.

Each figure's rate is the events accepted per second; ``p50_ms`` / ``p99_ms`` the latency;
``burst.ingest_during`` also has ``p99_vs_alone`` (its p99 over the same run's p99 alone) and
``wakeups_rate`` (reminders fired per second during the burst).

    python -m bench.burst [--n 50000] [--window 10] [--rate 500] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import pending

FULL_N = 50_000
QUICK_N = 4_000
FULL_WINDOW = 10.0
QUICK_WINDOW = 3.0
RATE = 500.0  # events a second offered: a busy storefront, well under the webhook's capacity
WARMUP = 20.0  # seconds from start-up to the window (no capacity burst: the rate is given)
QUICK_WARMUP = 4.0  # enough for the quick run's few carts to be seeded and the service up


def _one(plan: pending.Plan, rate: float, work: Path) -> dict[str, Any]:
    seeded = work / "seed.sqlite3"
    pending.seed(seeded, plan)
    out = pending.measure(seeded, plan, work=work / "run", ingest_rate=rate)
    if out["ingest_accepted"] != out["ingest_stored"] or out["stored_without_2xx"]:
        raise RuntimeError(f"accepted events not stored as answered: {out}")
    if out["fired"] != plan.due_count or out["duplicate_emails"] or out["other_sends"]:
        raise RuntimeError(
            f"expected {plan.due_count} reminders, each once: fired {out['fired']}, "
            f"{out['duplicate_emails']} duplicated, {out['other_sends']} to other carts"
        )
    return {
        "rate": out["ingest_sustained_rate"],
        "p50_ms": out["ingest_latency_p50_ms"],
        "p99_ms": out["ingest_latency_p99_ms"],
        "offered": rate,
        "accepted": out["ingest_accepted"],
        "errors": out["ingest_errors"],
        "waiting_carts": plan.n,
        "due": plan.due_count,
        "wakeups_rate": out["rate"] if plan.due_count else 0.0,
        "wakeup_lateness_p99_ms": out["lateness_p99_ms"] if plan.due_count else None,
    }


def run_once(
    n: int = FULL_N, *, quick: bool = False, window: float | None = None, rate: float = RATE
) -> dict[str, dict[str, Any]]:
    """Ingest alone, then ingest during the burst, each on a freshly seeded database."""
    window = window or (QUICK_WINDOW if quick else FULL_WINDOW)
    warmup = QUICK_WARMUP if quick else WARMUP
    alone = pending.Plan(n=n, due_rate=0.0, window=window, warmup=warmup)
    burst = pending.Plan(n=n, due_rate=n / window, window=window, warmup=warmup)
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        (Path(tmp) / "alone").mkdir()
        (Path(tmp) / "burst").mkdir()
        out_alone = _one(alone, rate, Path(tmp) / "alone")
        out_burst = _one(burst, rate, Path(tmp) / "burst")
    out_burst["p99_vs_alone"] = out_burst["p99_ms"] / out_alone["p99_ms"]
    return {"burst.ingest_alone": out_alone, "burst.ingest_during": out_burst}


RATIOS = {"burst ingest during/alone (events/s)": ("burst.ingest_during", "burst.ingest_alone")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=None, help="carts, all due in the burst")
    parser.add_argument("--window", type=float, default=None, help="seconds measured")
    parser.add_argument("--rate", type=float, default=RATE, help="events offered a second")
    args = parser.parse_args(argv)
    n = args.n or (QUICK_N if args.quick else FULL_N)
    print(json.dumps(run_once(n, quick=args.quick, window=args.window, rate=args.rate), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
