"""Benchmark 4: a million pending wake-ups in the embedded store, under half-capacity ingest.

The real ``cart-recovery serve`` process (uvicorn + SQLite in WAL, ``synchronous=FULL``) is
started on a data folder whose database already holds ``n`` open carts, each with its timer
row, on a clock running at real speed (1×) from a fixed virtual start, and a real SMTP sink.

* **Seeding** goes through the store's own write path: ``Service.ingest`` for every cart,
  20,000 carts per ``SqliteStore.group()`` (one commit each), so the carts, processed event
  ids, audit rows and timers are exactly what the webhook would have written. Nothing is
  hand-built. A sample is checked afterwards with the store's own ``load()``, ``due()``,
  ``next_due()`` and ``pending()``. The file is seeded once and copied for each run.
* Most carts are small ($18: first reminder 4 hours after they were left), due one to four
  hours after the window. ``due_rate × window`` $120 carts (2 hours) fall due one after
  another at a steady rate during the measured window, all at 12:00 in New York (no quiet
  hours), each with its own address.
* **Capacity**: once the service is up, a closed-loop burst of signed webhook events from many
  concurrent connections measures how many events a second it accepts; during the window an
  open-loop generator offers half that (or ``ingest_rate``), new small carts whose reminders
  are hours away. Every answered event must be in the store and nothing else.
* **Lateness** of a wake-up: the time its reminder was claimed (the ``at`` of the step-1 row
  in ``sends``: the clock reading the wake-up ran with) minus the due time seeded. The time the
  SMTP sink got the message minus the due time is reported beside it (``delivered_*``). At 1×
  a virtual second is a real second.
* **Peak RSS**: ``VmHWM`` of the service process from ``/proc/PID/status``, read just before
  it is stopped; ``VmRSS`` is sampled every half second as well.

    python -m bench.pending [--n 1000000] [--quick] [--runs 1] [--due-rate 100] [--window 60]
                            [--ingest-rate R] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.wakeups import DiscardMailer
from cart_recovery.adapters.sqlite import SqliteStore, to_us
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import UPDATED, CartEvent, Item
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.domain.timers import TimerKind
from reliability.service import AcceleratedClock, Inbox, ServiceProcess, signed

# The service's clock reads START when it is started. 12:00 in New York: far from quiet hours.
START = datetime(2026, 5, 12, 16, 0, tzinfo=UTC)
ZONE = "America/New_York"
SIGNING_KEY = "reliability-signing-key-0123456789"  # what reliability.service writes in config
DB_NAME = "cart-recovery.sqlite3"
SEED_GROUP = 20_000
SMALL = Decimal("18.00")  # under $40: first reminder after 4 hours
MEDIUM = Decimal("120.00")  # the middle tier: first reminder after 2 hours
MEDIUM_WAIT = timedelta(hours=2)

FULL_N = 1_000_000
QUICK_N = 20_000


@dataclass(frozen=True)
class Plan:
    """What is seeded: ``n`` carts in all, of which ``due_count`` fall due during the window,
    one every ``1 / due_rate`` seconds from ``START + warmup``."""

    n: int
    due_rate: float
    window: float
    warmup: float

    @property
    def due_count(self) -> int:
        return round(self.due_rate * self.window)

    @property
    def window_start(self) -> datetime:
        return START + timedelta(seconds=self.warmup)

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(seconds=self.window)

    def due_at(self, j: int) -> datetime:
        return self.window_start + timedelta(seconds=j / self.due_rate)

    @property
    def key(self) -> str:
        return f"n={self.n} due_rate={self.due_rate} window={self.window} warmup={self.warmup}"


def due_id(j: int) -> str:
    return f"due-{j:07d}"


def _due_event(plan: Plan, j: int) -> CartEvent:
    return CartEvent(
        event_id=f"seed-due-{j}",
        type=UPDATED,
        cart_id=due_id(j),
        occurred_at=plan.due_at(j) - MEDIUM_WAIT,
        email=f"due{j}@example.com",
        name="Maya",
        items=(Item(title="Linen shirt", quantity=1, unit_price=MEDIUM),),
        currency="USD",
        return_url=f"https://shop.example/cart/due-{j}",
        timezone=ZONE,
    )


def _background_event(plan: Plan, i: int, count: int) -> CartEvent:
    # left between 3 hours and 10 minutes before START: due 1 to 4 hours after it
    span = timedelta(hours=3) - timedelta(minutes=10)
    return CartEvent(
        event_id=f"seed-{i}",
        type=UPDATED,
        cart_id=f"bg-{i:07d}",
        occurred_at=START - timedelta(hours=3) + span * (i / max(1, count)),
        email=f"bg{i}@example.com",
        name="Sam",
        items=(Item(title="Candle", quantity=1, unit_price=SMALL),),
        currency="USD",
        return_url=f"https://shop.example/cart/bg-{i}",
        timezone=ZONE,
    )


def _events(plan: Plan) -> Any:
    """Every seeded event, the due carts spread evenly among the others."""
    background = plan.n - plan.due_count
    every = max(1, plan.n // max(1, plan.due_count))
    i = j = 0
    for k in range(plan.n):
        if j < plan.due_count and (k % every == every - 1 or background - i <= 0):
            yield _due_event(plan, j)
            j += 1
        else:
            yield _background_event(plan, i, background)
            i += 1


def seed(path: Path, plan: Plan) -> dict[str, Any]:
    """Write ``plan.n`` carts through ``Service.ingest`` (in groups) and check a sample."""
    if plan.due_count > plan.n:
        raise ValueError("more due carts than carts")
    store = SqliteStore(
        path, synchronous="OFF", email_key=EmailKey.from_signing_key(SIGNING_KEY)
    )  # synchronous only changes when pages reach the disk, never what is written
    try:
        service = in_memory(store=store, mailer=DiscardMailer(), signing_key=SIGNING_KEY)
        started = time.perf_counter()
        events = _events(plan)
        done = 0
        while done < plan.n:
            with store.group():
                for _ in range(min(SEED_GROUP, plan.n - done)):
                    event = next(events)
                    if not service.ingest(event, event.occurred_at + timedelta(seconds=1)):
                        raise RuntimeError(f"{event.event_id} was not applied")
                    done += 1
        seconds = time.perf_counter() - started
        _check_seed(store, plan)
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        rows = {t: store.count(t) for t in ("carts", "events", "audit", "timers", "sends")}
    finally:
        store.close()
    return {"seconds": seconds, "rate": plan.n / seconds, "rows": rows}


def _check_seed(store: SqliteStore, plan: Plan) -> None:
    if store.pending() != plan.n or store.count("carts") != plan.n:
        raise RuntimeError(f"seeding left {store.pending()} timers for {plan.n} carts")
    first = store.next_due()
    if plan.due_count and first != plan.due_at(0):
        raise RuntimeError(f"the first wake-up is due at {first}, not {plan.due_at(0)}")
    due = store.due(plan.window_end, plan.due_count + 1)
    want = [(due_id(j), plan.due_at(j)) for j in range(plan.due_count)]
    got = [(t.cart_id, t.due) for t in due]
    if sorted(got) != sorted(want) or any(t.kind is not TimerKind.WAKE for t in due):
        raise RuntimeError("the timers due in the window are not the seeded due carts")
    later = store.due(plan.window_end + timedelta(minutes=50), plan.due_count + 1)
    if len(later) != plan.due_count:
        raise RuntimeError("a background cart falls due within the hour after the window")
    background = plan.n - plan.due_count
    sample = [due_id(0), due_id(plan.due_count - 1)] if plan.due_count else []
    sample += [f"bg-{i:07d}" for i in {0, background // 2, background - 1} if 0 <= i < background]
    for cart_id in sample:
        cart, sends = store.load(cart_id)
        if cart is None or sends or str(cart.status) != "open" or cart.version != 0:
            raise RuntimeError(f"{cart_id} was not stored as a fresh open cart")


# ---- the service and its load ---------------------------------------------------------------
@dataclass
class Sink(Inbox):
    """An SMTP sink that only notes who got a message and when (``time.time()``)."""

    arrivals: list[tuple[str, float]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrivals.append((rcpt, now))
        return "250 OK"


def _status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])  # kB
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                self.samples.append((time.time(), _status(self.pid)["VmRSS"]))
            except (OSError, KeyError):
                return


def _body(event_id: str, cart_id: str, clock: AcceleratedClock) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "cart.updated",
        "cart_id": cart_id,
        "occurred_at": clock.now().isoformat(),
        "email": f"{cart_id}@example.com",
        "items": [{"title": "Candle", "quantity": 1, "unit_price": "18.00"}],
        "currency": "USD",
        "timezone": ZONE,
    }


class Connection:
    """One keep-alive HTTP/1.1 connection that posts a body and reads the status. Far lighter
    than a general client: at dozens of connections the load generator must not be what
    limits the rate (it shares the machine with the service)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, raw: bytes, headers: dict[str, str]) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        try:
            await self.writer.drain()
            status_line = await self.reader.readuntil(b"\r\n")
            length = 0
            close = False
            while True:
                line = await self.reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
                elif name.strip().lower() == "connection" and "close" in value.lower():
                    close = True
            await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        if close:
            self.close()
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _post(conn: Connection, body: dict[str, Any], clock: AcceleratedClock) -> str:
    raw, headers = signed(body, clock)
    try:
        return str(await conn.post("/webhooks/cart", raw, headers))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        return type(e).__name__


async def capacity(
    host: str, port: int, clock: AcceleratedClock, seconds: float, connections: int
) -> dict[str, Any]:
    """Closed loop: ``connections`` clients post signed events back to back for ``seconds``."""
    accepted: list[str] = []
    errors: Counter[str] = Counter()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                i = next(counter)
                body = _body(f"cap-{i}", f"cap-{i}", clock)
                key = await _post(conn, body, clock)
                if key == "200":
                    accepted.append(body["event_id"])
                else:
                    errors[key] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "rate": len(accepted) / elapsed,
        "accepted": accepted,
        "errors": dict(errors),
        "seconds": elapsed,
        "connections": connections,
    }


async def open_loop(
    host: str, port: int, clock: AcceleratedClock, rate: float, until: float, connections: int
) -> dict[str, Any]:
    """Open loop (as ``reliability.load``): request i is due at ``start + i / rate`` until the
    real time ``until``, whether or not earlier ones were answered; ``connections`` keep-alive
    connections take them in order. Latency runs from the due time, so queueing shows."""
    accepted: list[str] = []
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    todo: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            while (item := await todo.get()) is not None:
                i, due = item
                body = _body(f"ing-{i}", f"ing-{i}", clock)
                key = await _post(conn, body, clock)
                latencies.append(time.perf_counter() - due)
                if key == "200":
                    accepted.append(body["event_id"])
                else:
                    errors[key] += 1
        finally:
            conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    seconds = until - time.time()
    i = 0
    while True:
        due = start + i / rate
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        todo.put_nowait((i, due))
        i += 1
    for _ in workers:
        todo.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    return {
        "sent": i,
        "accepted": accepted,
        "errors": dict(errors),
        "latencies": latencies,
        "elapsed": elapsed,
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def _sleep_until(unix: float) -> None:
    delay = unix - time.time()
    if delay > 0:
        time.sleep(delay)


def measure(
    seeded: Path,
    plan: Plan,
    *,
    work: Path,
    ingest_rate: float | None = None,
    capacity_seconds: float = 10.0,
    connections: int = 64,
    drain_timeout: float = 300.0,
) -> dict[str, Any]:
    """Copy the seeded file into a data folder, start the service and measure one window."""
    data = work / "data"
    data.mkdir(parents=True)
    shutil.copyfile(seeded, data / DB_NAME)
    sink = Sink()
    clock = AcceleratedClock(START, 1.0)
    svc = ServiceProcess(data, clock, sink, synchronous="FULL")
    origin = clock.origin_unix

    def real(t: datetime) -> float:  # virtual → Unix seconds (speed 1)
        return origin + (t - START).total_seconds()

    t0 = time.perf_counter()
    svc.start()
    assert svc.proc is not None
    pid = svc.proc.pid
    start_s = time.perf_counter() - t0
    sampler = RssSampler(pid)
    sampler.start()
    try:
        rss_started = _status(pid)["VmRSS"]
        cap: dict[str, Any] = {"rate": None, "accepted": [], "errors": {}, "seconds": 0.0}
        if ingest_rate is None:
            cap = asyncio.run(capacity("127.0.0.1", svc.port, clock, capacity_seconds, connections))
            if cap["rate"] <= 0:
                raise RuntimeError(f"no event was accepted in the capacity burst: {cap['errors']}")
            offered = cap["rate"] / 2
        else:
            offered = ingest_rate
        if time.time() > real(plan.window_start) - 0.5:
            raise RuntimeError(
                f"start-up and the capacity burst took {time.time() - origin:.1f} s, more than "
                f"the {plan.warmup:.0f} s warm-up: raise warmup"
            )
        rss_before = _status(pid)["VmRSS"]
        _sleep_until(real(plan.window_start))
        cpu_before = _cpu_seconds(pid)
        load = asyncio.run(
            open_loop("127.0.0.1", svc.port, clock, offered, real(plan.window_end), connections)
        )
        cpu_window = (_cpu_seconds(pid) - cpu_before) / load["elapsed"]
        # wait for every due cart's reminder to arrive (the service may be behind)
        wanted = {f"due{j}@example.com" for j in range(plan.due_count)}
        deadline = time.time() + drain_timeout
        while time.time() < deadline:
            with sink.lock:
                got = {r for r, _ in sink.arrivals if r in wanted}
            if len(got) >= len(wanted):
                break
            time.sleep(0.2)
        time.sleep(0.5)  # let the last send's bookkeeping commit
        status = _status(pid)
    finally:
        sampler.halt.set()
        svc.stop()
    sampler.join()

    db = data / DB_NAME
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sends = {
            cart_id: (outcome, at)
            for cart_id, outcome, at in con.execute(
                "SELECT cart_id, outcome, at FROM sends WHERE step = 1 AND cart_id LIKE 'due-%'"
            )
        }
        other_sends = con.execute(
            "SELECT count(*) FROM sends WHERE cart_id NOT LIKE 'due-%'"
        ).fetchone()[0]
        stored = {
            r[0]
            for r in con.execute(
                "SELECT event_id FROM events WHERE event_id LIKE 'ing-%' OR event_id LIKE 'cap-%'"
            )
        }
        pending_after = con.execute("SELECT count(*) FROM timers").fetchone()[0]
    finally:
        con.close()
    db_bytes = sum(p.stat().st_size for p in data.glob(DB_NAME + "*"))

    lateness: list[float] = []
    fire_at: list[float] = []
    outcomes: Counter[str] = Counter()
    slices: dict[int, list[float]] = {}  # by tenth of the window the cart fell due in
    for j in range(plan.due_count):
        outcome, at = sends.get(due_id(j), ("missing", None))
        outcomes[outcome] += 1
        if outcome == "sent" and at is not None:
            late = (at - to_us(plan.due_at(j))) / 1000
            lateness.append(late)
            fire_at.append(at)
            slices.setdefault(j * 10 // max(1, plan.due_count), []).append(late)
    received = Counter(r for r, _ in sink.arrivals)
    delivered: list[float] = []
    first_arrival: dict[str, float] = {}
    for rcpt, t in sink.arrivals:
        first_arrival.setdefault(rcpt, t)
    for j in range(plan.due_count):
        arrived = first_arrival.get(f"due{j}@example.com")
        if arrived is not None:
            delivered.append((arrived - real(plan.due_at(j))) * 1000)
    duplicates = sum(1 for r, c in received.items() if c > 1)
    fired = outcomes["sent"]
    window_start_us = to_us(plan.window_start)
    window_end_us = to_us(plan.window_end)
    busy = max(plan.window, (max(fire_at, default=window_start_us) - window_start_us) / 1e6)
    ing_accepted = set(load["accepted"])
    cap_accepted = set(cap["accepted"])
    lat = load["latencies"]
    rss_mb = [kb / 1024 for _, kb in sampler.samples]
    return {
        "rate": fired / busy,
        "pending": plan.n,
        "due": plan.due_count,
        "due_rate": plan.due_rate,
        "window_seconds": plan.window,
        "fired": fired,
        "fired_in_window": sum(1 for a in fire_at if window_start_us <= a <= window_end_us),
        "outcomes": dict(outcomes),
        "emails_received": sum(received[f"due{j}@example.com"] for j in range(plan.due_count)),
        "duplicate_emails": duplicates,
        "other_sends": other_sends,
        "lateness_p50_ms": percentile(lateness, 50),
        "lateness_p99_ms": percentile(lateness, 99),
        "lateness_max_ms": max(lateness, default=math.nan),
        "lateness_p99_by_tenth_ms": [round(percentile(slices[k], 99), 1) for k in sorted(slices)],
        "delivered_p50_ms": percentile(delivered, 50),
        "delivered_p99_ms": percentile(delivered, 99),
        "peak_rss_mb": status["VmHWM"] / 1024,
        "rss_at_start_mb": rss_started / 1024,
        "rss_before_window_mb": rss_before / 1024,
        "rss_end_mb": status["VmRSS"] / 1024,
        "rss_sampled_max_mb": max(rss_mb, default=math.nan),
        "db_mb": db_bytes / 2**20,
        "start_seconds": start_s,
        "service_cpu_in_window": cpu_window,
        "capacity_rate": cap["rate"],
        "capacity_seconds": cap["seconds"],
        "capacity_errors": cap["errors"],
        "capacity_accepted": len(cap_accepted),
        "capacity_stored": len(cap_accepted & stored),
        "ingest_rate": offered,
        "ingest_sent": load["sent"],
        "ingest_accepted": len(ing_accepted),
        "ingest_stored": len(ing_accepted & stored),
        "stored_without_2xx": len(stored - ing_accepted - cap_accepted),
        "ingest_sustained_rate": len(ing_accepted) / load["elapsed"],
        "ingest_errors": load["errors"],
        "ingest_latency_p50_ms": percentile(lat, 50) * 1000,
        "ingest_latency_p99_ms": percentile(lat, 99) * 1000,
        "pending_after": pending_after,
    }


def make_plan(
    n: int, quick: bool, due_rate: float | None, window: float | None, warmup: float | None
) -> Plan:
    return Plan(
        n=n,
        due_rate=due_rate if due_rate is not None else (50.0 if quick else 100.0),
        window=window if window is not None else (5.0 if quick else 60.0),
        warmup=warmup if warmup is not None else (15.0 if quick else 40.0),
    )


def run_once(
    n: int = FULL_N,
    quick: bool = False,
    *,
    due_rate: float | None = None,
    window: float | None = None,
    warmup: float | None = None,
    ingest_rate: float | None = None,
    capacity_seconds: float | None = None,
    seeded: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """One run: seed (or copy ``seeded``, a file ``seed()`` wrote for the same plan), start the
    service, measure capacity, then the window. Temporary files are removed afterwards."""
    plan = make_plan(n, quick, due_rate, window, warmup)
    with tempfile.TemporaryDirectory(prefix="bench-pending-") as tmp:
        work = Path(tmp)
        seeding: dict[str, Any] = {}
        if seeded is None:
            seeded = work / "seed.sqlite3"
            seeding = seed(seeded, plan)
        out = measure(
            seeded,
            plan,
            work=work / "run",
            ingest_rate=ingest_rate,
            capacity_seconds=capacity_seconds or (3.0 if quick else 10.0),
        )
    if seeding:
        out["seed_seconds"] = seeding["seconds"]
        out["seed_rate"] = seeding["rate"]
    return {"pending.service": out}


RATIOS: dict[str, tuple[str, str]] = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pending", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"small sizes (n={QUICK_N:,})")
    parser.add_argument("--n", type=int, default=None, help="pending carts")
    parser.add_argument("--runs", type=int, default=1, help="runs on one seeded file")
    parser.add_argument("--due-rate", type=float, default=None, help="wake-ups due per second")
    parser.add_argument("--window", type=float, default=None, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the window")
    parser.add_argument("--ingest-rate", type=float, default=None, help="skip the burst")
    parser.add_argument("--capacity-seconds", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    n = args.n or (QUICK_N if args.quick else FULL_N)
    plan = make_plan(n, args.quick, args.due_rate, args.window, args.warmup)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-pending-seed-") as tmp:
        seeded = Path(tmp) / "seed.sqlite3"
        print(f"seeding {plan.key} ...", file=sys.stderr, flush=True)
        seeding = seed(seeded, plan)
        print(
            f"seeded in {seeding['seconds']:.1f} s ({seeding['rate']:,.0f} carts/s), "
            f"{seeded.stat().st_size / 2**20:,.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
            run = run_once(
                n,
                args.quick,
                due_rate=args.due_rate,
                window=args.window,
                warmup=args.warmup,
                ingest_rate=args.ingest_rate,
                capacity_seconds=args.capacity_seconds,
                seeded=seeded,
            )
            run["pending.service"]["seed_seconds"] = seeding["seconds"]
            run["pending.service"]["seed_rate"] = seeding["rate"]
            run["pending.service"]["seed_rows"] = seeding["rows"]
            runs.append(run)
            print(json.dumps(run, indent=2), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"plan": plan.key, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
