"""Load and soak: signed events at a fixed rate for a bounded time against the real service
process while its wake-ups fire, then check that every event answered 2xx is in the store and
the counts match exactly. Latency is measured from each request's scheduled send time (so a
stalled server cannot hide its queue).

    python -m reliability.load --rate 400 --seconds 60 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .service import AcceleratedClock, Inbox, ServiceProcess, signed


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def drive(
    url: str, clock: AcceleratedClock, rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    accepted: set[tuple[str, str]] = set()
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    sem = asyncio.Semaphore(connections * 4)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(i: int, due: float) -> None:
            async with sem:
                body = {
                    "event_id": f"load-{i}",
                    "type": "cart.updated",
                    "cart_id": f"load-cart-{i % 50_000}",
                    "occurred_at": clock.now().isoformat(),
                    "email": f"load{i % 50_000}@example.com",
                    "items": [{"title": "Candle", "quantity": 2, "unit_price": "18.00"}],
                    "currency": "USD",
                    # reminders fall due while the load runs (1 virtual minute = 1 s here)
                    "wait_override": ["2 minutes", "10 minutes"],
                }
                raw, headers = signed(body, clock)
                try:
                    r = await client.post("/webhooks/cart", content=raw, headers=headers)
                    key = str(r.status_code)
                    if r.status_code == 200:
                        accepted.add((body["cart_id"], body["event_id"]))
                except httpx.HTTPError as e:
                    key = type(e).__name__
                latencies.append(time.perf_counter() - due)
                if key != "200":
                    errors[key] = errors.get(key, 0) + 1

        start = time.perf_counter()
        tasks = []
        i = 0
        while True:
            due = start + i / rate
            if due - start >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
            i += 1
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {
        "sent": i,
        "accepted": accepted,
        "errors": errors,
        "latencies": latencies,
        "elapsed": elapsed,
    }


def run(
    rate: float, seconds: float, connections: int, work: Path, synchronous: str = "FULL"
) -> dict[str, Any]:
    start = datetime(2026, 5, 12, 12, 0, tzinfo=UTC)
    clock = AcceleratedClock(start, 60.0)  # wake-ups fall due during the run
    inbox = Inbox()
    svc = ServiceProcess(work / "data", clock, inbox, synchronous=synchronous)
    svc.start()
    try:
        out = asyncio.run(drive(svc.url, clock, rate, seconds, connections))
    finally:
        svc.stop()
    con = sqlite3.connect(work / "data" / "cart-recovery.sqlite3")
    stored = {
        (c, e)
        for c, e in con.execute("SELECT cart_id, event_id FROM events WHERE event_id LIKE 'load-%'")
    }
    sends = con.execute("SELECT count(*) FROM sends WHERE outcome = 'sent'").fetchone()[0]
    con.close()
    lat = out["latencies"]
    accepted = out["accepted"]
    return {
        "target_rate": rate,
        "seconds": seconds,
        "sent": out["sent"],
        "accepted": len(accepted),
        "stored": len(accepted & stored),
        "stored_without_2xx": len(stored - accepted),
        "sustained_rate": round(len(accepted) / out["elapsed"], 1),
        "latency_ms": {f"p{p}": round(percentile(lat, p) * 1000, 1) for p in (50, 90, 99, 99.9)},
        "errors": out["errors"],
        "reminders_sent_meanwhile": sends,
        "emails_received": len(inbox.got),
        "virtual_hours": round(seconds * clock.speed / 3600, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=400.0, help="events per second to send")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--synchronous", default="FULL")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cart-recovery-load-") as tmp:
        result = run(args.rate, args.seconds, args.connections, Path(tmp), args.synchronous)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = result["accepted"] == result["stored"] and result["stored_without_2xx"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
