"""Crash test: replay a generated workload against the real service process on an accelerated
clock, SIGKILL it at random moments and restart it, then check against the exact set of emails
a real SMTP server received:

- no duplicate (cart, step);
- no email after a checkout or an unsubscribe was accepted (answered 2xx);
- no email inside quiet hours (in the shopper's timezone, else the store's);
- every reminder that was due and allowed was sent, or recorded ``uncertain`` when a crash fell
  between claim and send (counted per kill, at most one chunk of a wake-up batch; never
  resent);
- every event that got a 2xx is in the store.

    python -m reliability.crash --carts 10000 --kills 25 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from .service import AcceleratedClock, Inbox, ServiceProcess, signed
from .workload import Delivery, generate

STORE_ZONE = ZoneInfo("America/New_York")
QUIET_START, QUIET_END = dtime(21, 0), dtime(8, 0)


class Driver:
    def __init__(self, svc: ServiceProcess, clock: AcceleratedClock, workers: int) -> None:
        self.svc = svc
        self.clock = clock
        self.pool = ThreadPoolExecutor(workers)
        self.client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=workers * 2))
        self.lock = threading.Lock()
        self.accepted: dict[tuple[str, str], str] = {}  # (cart, event_id) → status
        # when a checkout (by cart) or an unsubscribe (by address) got its 2xx: (real, virtual)
        self.stop_at: dict[str, tuple[float, datetime]] = {}
        self.unsub_at: dict[str, tuple[float, datetime]] = {}
        self.retries = 0
        self.refused: list[str] = []
        self.paused = threading.Event()
        self.paused.set()

    def post(self, d: Delivery) -> None:
        for _ in range(400):
            self.paused.wait()
            raw, headers = signed(d.body, self.clock)
            try:
                r = self.client.post(f"{self.svc.url}/webhooks/cart", content=raw, headers=headers)
            except httpx.TransportError:
                self.retries += 1
                time.sleep(0.02)
                continue
            if r.status_code == 200:
                now = (time.monotonic(), self.clock.now())
                with self.lock:
                    self.accepted[(d.cart_id, d.body["event_id"])] = r.json()["status"]
                    if d.kind == "cart.checked_out":
                        self.stop_at.setdefault(d.cart_id, now)
                return
            if r.status_code == 401 and r.json().get("error") == "stale_timestamp":
                self.retries += 1  # queued longer than the replay window: sign afresh
                continue
            if r.status_code >= 500:
                self.retries += 1
                time.sleep(0.02)
                continue
            with self.lock:
                self.refused.append(f"{d.cart_id} {r.status_code} {r.text[:200]}")
            return
        with self.lock:
            self.refused.append(f"{d.cart_id}: gave up after retries")

    def unsubscribe(self, url: str, address: str) -> None:
        path = url.split("/u/", 1)[1]
        for _ in range(400):
            self.paused.wait()
            try:
                r = self.client.post(
                    f"{self.svc.url}/u/{path}",
                    content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            if r.status_code == 200:
                with self.lock:
                    self.unsub_at.setdefault(address.lower(), (time.monotonic(), self.clock.now()))
                return
            time.sleep(0.02)


def run(
    carts: int, kills: int, speed: float, span_hours: float, seed: int, workers: int, work: Path
) -> dict[str, Any]:
    rnd = random.Random(seed)
    start = datetime(2026, 5, 12, 4, 0, tzinfo=UTC)
    workload = generate(carts, start, timedelta(hours=span_hours), seed)
    end = max(d.at for d in workload.deliveries) + timedelta(days=3, hours=12)
    clock = AcceleratedClock(start - timedelta(minutes=1), speed)
    inbox = Inbox()
    svc = ServiceProcess(work / "data", clock, inbox)
    svc.start()
    driver = Driver(svc, clock, workers)
    real_total = clock.real_seconds(end - clock.now())
    kill_at = sorted(time.monotonic() + rnd.uniform(0.05, 0.9) * real_total for _ in range(kills))
    pending = list(workload.deliveries)
    unsub_by_digest = {_digest(c): c for c in workload.unsubscribers}
    seen = 0
    claimed: list[int] = []  # per kill: claims the crash left, which the restart makes uncertain
    futures = []
    t0 = time.monotonic()
    while clock.now() < end:
        now = clock.now()
        while pending and pending[0].at <= now:
            futures.append(driver.pool.submit(driver.post, pending.pop(0)))
        # shoppers who unsubscribe do it from their first reminder
        with inbox.lock:
            fresh = inbox.got[seen:]
        seen += len(fresh)
        for rec in fresh:
            digest, step = _digest_step(str(rec.message["Message-ID"]))
            cart_id = unsub_by_digest.pop(digest, None) if step == 1 else None
            if cart_id is not None:
                url = str(rec.message["List-Unsubscribe"]).strip("<>")
                futures.append(driver.pool.submit(driver.unsubscribe, url, str(rec.message["To"])))
        if kill_at and time.monotonic() >= kill_at[0]:
            kill_at.pop(0)
            driver.paused.clear()
            svc.kill()
            claimed.append(_claimed(work / "data" / "cart-recovery.sqlite3"))
            svc.start()
            driver.paused.set()
        time.sleep(0.005)
    for f in futures:
        f.result()
    driver.pool.shutdown()
    driver.client.close()
    svc.stop()
    wall = time.monotonic() - t0
    result = check(
        work / "data" / "cart-recovery.sqlite3", inbox, driver, workload, svc.kills, wall
    )
    result["uncertain_per_kill"] = claimed
    result["max_uncertain_per_kill"] = max(claimed, default=0)
    if sum(claimed) != result["uncertain"]:
        result["problems"].append(
            f"{result['uncertain']} uncertain steps, but the kills left {sum(claimed)} claims"
        )
        result["problem_count"] += 1
    return result


def _claimed(db: Path) -> int:
    """Steps claimed and not recorded: what the restart will mark ``uncertain``."""
    con = sqlite3.connect(db)
    try:
        return int(
            con.execute("SELECT count(*) FROM sends WHERE outcome = 'claimed'").fetchone()[0]
        )
    finally:
        con.close()


def _digest(cart_id: str) -> str:
    return hashlib.sha256(cart_id.encode()).hexdigest()[:32]


def _digest_step(message_id: str) -> tuple[str, int]:
    """``<cr.{sha256(cart_id)[:32]}.{step}@domain>`` → (digest, step)."""
    _, digest, rest = message_id.strip("<>").split(".", 2)
    return digest, int(rest.split("@", 1)[0])


def check(
    db: Path, inbox: Inbox, driver: Driver, workload: Any, kills: int, wall: float
) -> dict[str, Any]:
    con = sqlite3.connect(db)
    carts = {cid: json.loads(data) for cid, data in con.execute("SELECT cart_id, data FROM carts")}
    by_hash = {_digest(c): c for c in carts}
    sends = {
        (c, s): (o, r)
        for c, s, o, r in con.execute("SELECT cart_id, step, outcome, reason FROM sends")
    }
    sent_at = {  # the clock reading the sender took just before it claimed the step
        (c, s): datetime.fromtimestamp(at / 1e6, UTC)
        for c, s, at in con.execute("SELECT cart_id, step, at FROM sends")
    }
    stored_events = {(c, e) for c, e in con.execute("SELECT cart_id, event_id FROM events")}
    timers = {
        c: (due, kind) for c, due, kind in con.execute("SELECT cart_id, due, kind FROM timers")
    }
    con.close()

    received = Counter()
    problems: list[str] = []
    after_stop = quiet = in_flight = 0
    for rec in inbox.got:
        mid = str(rec.message["Message-ID"])
        h, step = _digest_step(mid)
        cart_id = by_hash.get(h)
        if cart_id is None:
            problems.append(f"email for an unknown cart: {mid}")
            continue
        received[(cart_id, step)] += 1
        to = str(rec.message["To"]).lower()
        claimed = sent_at.get((cart_id, step))
        for mark, what in (
            (driver.stop_at.get(cart_id), "checkout"),
            (driver.unsub_at.get(to), "unsubscribe"),
        ):
            if mark is None or rec.real <= mark[0]:
                continue
            if claimed is not None and claimed < mark[1]:
                in_flight += 1  # claimed before the stop was committed, delivered just after
                continue
            after_stop += 1
            problems.append(
                f"{cart_id} step {step} claimed at {claimed} after its {what} was accepted at "
                f"{mark[1]} (received {1000 * (rec.real - mark[0]):.1f} ms after the 2xx)"
            )
        dated = rec.message["Date"].datetime
        zone = ZoneInfo(carts[cart_id].get("timezone") or "America/New_York")
        local = dated.astimezone(zone).time()
        if local >= QUIET_START or local < QUIET_END:
            quiet += 1
            problems.append(f"{cart_id} step {step} sent at {local} local: quiet hours")
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    uncertain = {k for k, (o, _) in sends.items() if o == "uncertain"}
    sent_rows = {k for k, (o, _) in sends.items() if o == "sent"}
    for k in sent_rows - set(received):
        problems.append(f"{k} marked sent but never received")
    for k in set(received) - sent_rows - uncertain:
        problems.append(f"{k} received but not recorded as sent or uncertain")
    still_open = [c for c, row in carts.items() if row["status"] == "open"]
    for c in still_open:
        timer = timers.get(c)
        due = datetime.fromtimestamp(timer[0] / 1e6, UTC).isoformat() if timer else None
        steps = {s: sends[(c, s)] for s in (1, 2) if (c, s) in sends}
        problems.append(f"{c} still open at the end: timer {due} {timer and timer[1]}, {steps}")
    for c, row in carts.items():
        if row["status"] == "closed" and row.get("close_reason") == "gave_up":
            for step in (1, 2):
                if sends.get((c, step), ("", ""))[0] not in ("sent", "skipped", "uncertain"):
                    problems.append(f"{c} gave up with step {step} not done")
    accepted = set(driver.accepted)
    missing = accepted - stored_events
    for k in missing:
        problems.append(f"accepted event {k} is not in the store")
    return {
        "carts": workload.carts,
        "deliveries": len(workload.deliveries),
        "kills": kills,
        "events_accepted": len(accepted),
        "events_stored": len(accepted & stored_events),
        "emails_received": sum(received.values()),
        "duplicates": duplicates,
        "sends_after_stop": after_stop,
        "in_flight_at_stop": in_flight,
        "quiet_hours_sends": quiet,
        "uncertain": len(uncertain),
        "uncertain_received": len(uncertain & set(received)),
        "skips": dict(Counter(r for (o, r) in sends.values() if o == "skipped")),
        "retries": driver.retries,
        "refused": driver.refused[:20],
        "wall_seconds": round(wall, 1),
        "problems": problems[:50],
        "problem_count": len(problems),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--carts", type=int, default=10_000)
    p.add_argument("--kills", type=int, default=25)
    p.add_argument("--speed", type=float, default=1200.0, help="virtual seconds per real second")
    p.add_argument(
        "--span-hours",
        type=float,
        default=36.0,
        help="carts are created over this many virtual hours",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--json", type=Path, default=None, help="write the figures here too")
    p.add_argument("--keep", type=Path, default=None, help="keep the data folder here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cart-recovery-crash-") as tmp:
        work = args.keep or Path(tmp)
        result = run(
            args.carts, args.kills, args.speed, args.span_hours, args.seed, args.workers, work
        )
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result["problem_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
