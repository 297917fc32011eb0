"""Benchmark 2: due wake-ups through the real path vs APScheduler 3 vs raw SQLite.

* ``real``: N open carts in a ``SqliteStore`` whose first reminder is due; time
  ``TimerLoop.run_due(now)`` (load cart and sends, decide, gates, compose, claim, record the
  send, reschedule) with a mailer that discards the message. Every wake-up must end in a
  ``Sent``, or the run fails.
* ``apscheduler``: N one-off ``date`` jobs, all due, in APScheduler 3's ``SQLAlchemyJobStore``
  on SQLite (WAL); time from the first ``add_job`` to the last job having run.
* ``raw_sqlite``: N rows ``(due, id)`` with an index on ``due``; pop them in batches of 500
  (select by the index, delete, one transaction per batch).

Each returns a rate (items per second of wall time); seeding is not timed for ``real`` and
``raw_sqlite`` (APScheduler's figure includes adding, as the job store has no bulk insert).
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cart_recovery.adapters.mail.wire import to_wire
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.compose import OutgoingEmail
from cart_recovery.domain.model import UPDATED, CartEvent, Item
from cart_recovery.domain.timers import CancelTimers, SetWake
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.embedded.timers import TimerLoop
from cart_recovery.service import Sent, Service

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # 10:00 in New York: outside quiet hours
NOW = T0 + timedelta(hours=3)  # a $120 cart's first reminder (2 hours) is due
DUE = T0 + timedelta(hours=2, seconds=1)  # when that reminder falls due
BATCH = 500


class DiscardMailer:
    """Writes each reminder for the wire, as every mailer does, and keeps nothing."""

    def send(self, message: Any) -> None:
        if isinstance(message, OutgoingEmail):
            to_wire(message)

    def close(self) -> None:
        return None


def _event(i: int) -> CartEvent:
    return CartEvent(
        event_id=f"e{i}",
        type=UPDATED,
        cart_id=f"cart-{i:07d}",
        occurred_at=T0 + timedelta(microseconds=i),
        email=f"shopper{i}@example.com",
        name="Maya",
        items=(Item(title="Linen shirt", quantity=1, unit_price=Decimal("120.00")),),
        currency="USD",
        return_url=f"https://shop.example/cart/{i}",
        timezone="America/New_York",
    )


def _service(store: SqliteStore) -> Service:
    return in_memory(
        store=store, mailer=DiscardMailer(), signing_key="bench-signing-key-0123456789"
    )


def real_path(
    n: int, *, synchronous: str = "FULL", profile: str | None = None, schedule: bool = False
) -> dict[str, Any]:
    """N due wake-ups through ``TimerLoop.run_due``; returns the rate and what happened.

    ``schedule``: the timed part also writes each cart's wake-up (the timer rows are removed
    after seeding, then written again inside the clock, in group commits of 256 as the intake
    writes them), so it covers what APScheduler's add-and-fire figure covers."""
    with tempfile.TemporaryDirectory(prefix="bench-wakeups-") as tmp:
        store = SqliteStore(Path(tmp) / "db.sqlite3", synchronous=synchronous)
        try:
            service = _service(store)
            started = time.perf_counter()
            # Seed through the real intake (validate, apply, next wake), in one transaction.
            with store.group():
                for i in range(n):
                    service.ingest(_event(i), T0 + timedelta(seconds=1))
            seed_s = time.perf_counter() - started
            if store.pending() != n or store.next_due() is None:
                raise RuntimeError("seeding did not leave one due wake-up per cart")
            wakes: list[tuple[str, int]] = []
            if schedule:
                with store.group():
                    for i in range(n):
                        cart_id = _event(i).cart_id
                        cart, _ = store.load(cart_id)
                        assert cart is not None
                        wakes.append((cart_id, cart.version))
                        store.set_timer(cart_id, CancelTimers(), expected_version=cart.version)
                if store.pending() != 0:
                    raise RuntimeError("the timers were not removed")
            loop = TimerLoop(service, store, VirtualClock(NOW))
            if profile:
                import cProfile

                prof = cProfile.Profile()
                started = time.perf_counter()
                prof.runcall(loop.run_due, NOW)
                elapsed = time.perf_counter() - started
                prof.dump_stats(profile)
                out: list[Any] = []
                fired = loop.fired
            else:
                started = time.perf_counter()
                for at in range(0, len(wakes), 256):
                    with store.group():
                        for cart_id, version in wakes[at : at + 256]:
                            store.set_timer(cart_id, SetWake(DUE), expected_version=version)
                out = loop.run_due(NOW)
                elapsed = time.perf_counter() - started
                fired = loop.fired
            kinds = Counter(type(h).__name__ for h in out)
            if not profile and (fired != n or kinds[Sent.__name__] != n):
                raise RuntimeError(f"expected {n} reminders sent, got {dict(kinds)}")
            return {
                "rate": fired / elapsed,
                "seconds": elapsed,
                "scheduled_in_clock": schedule,
                "seed_seconds": seed_s,
                "fired": fired,
                "outcomes": dict(kinds),
                "synchronous": synchronous,
                "pending_after": store.pending(),
            }
        finally:
            store.close()


_fired = 0
_fired_lock = threading.Lock()
_all_fired = threading.Event()
_target = 0


def _job() -> None:
    global _fired
    with _fired_lock:
        _fired += 1
        if _fired >= _target:
            _all_fired.set()


def apscheduler(n: int, *, timeout: float = 1800.0) -> dict[str, Any]:
    """N one-off ``date`` jobs, all due, added to and fired from the SQLAlchemy job store."""
    global _fired, _target
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from sqlalchemy import create_engine, event

    with tempfile.TemporaryDirectory(prefix="bench-aps-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'jobs.sqlite3'}")

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.close()

        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine)},
            job_defaults={"misfire_grace_time": None, "coalesce": False},
            timezone=UTC,
        )
        with _fired_lock:
            _fired = 0
            _target = n
            _all_fired.clear()
        scheduler.start(paused=True)
        try:
            due = datetime.now(UTC) - timedelta(seconds=1)
            started = time.perf_counter()
            for i in range(n):
                scheduler.add_job(_job, "date", run_date=due, id=f"j{i}")
            added_s = time.perf_counter() - started
            scheduler.resume()
            if not _all_fired.wait(timeout):
                raise RuntimeError(f"APScheduler fired {_fired} of {n} jobs in {timeout} s")
            elapsed = time.perf_counter() - started
        finally:
            scheduler.shutdown(wait=True)
            engine.dispose()
        return {
            "rate": n / elapsed,
            "seconds": elapsed,
            "add_seconds": added_s,
            "fire_seconds": elapsed - added_s,
            "fired": _fired,
            "synchronous": "FULL",
        }


def raw_sqlite(n: int, *, synchronous: str = "FULL") -> dict[str, Any]:
    """Pop N rows from a due-time index in batches of 500, one transaction per batch."""
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "q.sqlite3", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("CREATE TABLE q (due INTEGER NOT NULL, id TEXT NOT NULL)")
            conn.execute("CREATE INDEX q_due ON q (due)")
            base = 1_000_000
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO q (due, id) VALUES (?, ?)",
                ((base + i, f"cart-{i:07d}") for i in range(n)),
            )
            conn.execute("COMMIT")
            now = base + n
            popped = 0
            started = time.perf_counter()
            while True:
                conn.execute("BEGIN IMMEDIATE")
                rows = conn.execute(
                    "SELECT rowid, id FROM q WHERE due <= ? ORDER BY due LIMIT ?", (now, BATCH)
                ).fetchall()
                if not rows:
                    conn.execute("COMMIT")
                    break
                conn.executemany("DELETE FROM q WHERE rowid = ?", ((r[0],) for r in rows))
                conn.execute("COMMIT")
                popped += len(rows)
            elapsed = time.perf_counter() - started
        finally:
            conn.close()
        if popped != n:
            raise RuntimeError(f"popped {popped} of {n} rows")
        return {"rate": n / elapsed, "seconds": elapsed, "synchronous": synchronous}


def run_once(n: int, *, normal: bool = True) -> dict[str, dict[str, Any]]:
    """One run of every figure of this benchmark, side by side."""
    aps = apscheduler(n)
    out = {
        "wakeups.real_full": real_path(n, synchronous="FULL"),
        "wakeups.real_scheduled": real_path(n, synchronous="FULL", schedule=True),
        "wakeups.apscheduler": aps,
        # the same run of APScheduler, its firing alone (from resume to the last job run)
        "wakeups.apscheduler_fire": {
            "rate": n / aps["fire_seconds"],
            "seconds": aps["fire_seconds"],
            "fired": aps["fired"],
        },
        "wakeups.raw_sqlite": raw_sqlite(n),
    }
    if normal:
        out["wakeups.real_normal"] = real_path(n, synchronous="NORMAL")
    return out


RATIOS = {
    # like for like: firing alone on both sides (neither side's scheduling is timed)
    "wakeups real/apscheduler (fire)": ("wakeups.real_full", "wakeups.apscheduler_fire"),
    # like for like: writing the wake-up, then firing it, on both sides
    "wakeups real/apscheduler (schedule+fire)": (
        "wakeups.real_scheduled",
        "wakeups.apscheduler",
    ),
    "wakeups real/raw_sqlite": ("wakeups.real_full", "wakeups.raw_sqlite"),
}


if __name__ == "__main__":
    import json
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run_once(size), indent=2))
