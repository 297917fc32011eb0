"""The embedded timer loop: fires due wake-ups in (due, cart_id) order, then sleeps until the
next one is due or an intake sets an earlier one. No polling, no table scans: one indexed query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.domain.calendar import next_monthly, next_nightly
from cart_recovery.domain.model import CartEvent
from cart_recovery.embedded.clock import Clock
from cart_recovery.ports import GroupCommit, WakeQueue
from cart_recovery.service import Happening, Service
from cart_recovery.service.reports import Reports

log = logging.getLogger("cart_recovery.timers")

MAX_SLEEP = timedelta(seconds=60)  # a safety net against wall-clock jumps, not a poll
CATCH_UP = timedelta(days=7)  # a monthly summary missed by less than this runs at start-up


class TimerLoop:
    def __init__(
        self, service: Service, queue: WakeQueue, clock: Clock, *, batch: int = 200
    ) -> None:
        self.service = service
        self.queue = queue
        self.clock = clock
        self.batch = batch
        self._poke = asyncio.Event()
        self._limiter = CapacityLimiter(1)  # one sender at a time: wake-ups in order
        self._loop: asyncio.AbstractEventLoop | None = None
        self.fired = 0
        self.on_wakeup: Callable[[], None] | None = None
        self.on_error: Callable[[], None] | None = None
        self.cycles = 0  # loop iterations started (tests wait on it)
        self.idle = False

    def poke(self) -> None:
        """Something may be due earlier than the loop thinks: look again now. Callable from
        any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._poke.set()
        else:
            loop.call_soon_threadsafe(self._poke.set)

    def run_due(self, now: datetime) -> list[Happening]:
        """Fire everything due at ``now`` (synchronous; also used by demo and tests), a batch
        at a time through ``Service.wake_many``: two commits per batch, every claim durable
        before its email leaves. A batch whose wake-ups raised is finished, then the first
        error is raised (the loop logs it and backs off)."""
        out: list[Happening] = []
        group = getattr(self.queue, "group", None) or contextlib.nullcontext
        while True:
            timers = self.queue.due(now, self.batch)
            if not timers:
                return out
            # each batch sees the time it actually runs at (the one before can take a while)
            at = max(now, self.clock.now())
            result = self.service.wake_many([t.cart_id for t in timers], at, group)
            out.extend(result.happenings)
            self.fired += len(result.fired)
            if self.on_wakeup is not None:
                for _ in result.fired:
                    self.on_wakeup()
            for cart_id, error in result.errors:
                log.error(
                    "wake-up failed",
                    extra={"cart_id": cart_id},
                    exc_info=(type(error), error, error.__traceback__),
                )
                if self.on_error is not None:
                    self.on_error()
            if result.errors:
                raise result.errors[0][1]
            if not result.fired:  # cannot happen (a batch always fires its first cart)
                return out

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        await anyio.to_thread.run_sync(
            self.service.recover, self.clock.now(), limiter=self._limiter
        )
        while not stop.is_set():
            self._poke.clear()
            self.idle = False
            self.cycles += 1
            now = self.clock.now()
            try:
                await anyio.to_thread.run_sync(self.run_due, now, limiter=self._limiter)
            except Exception:
                await asyncio.sleep(1)  # logged above; back off briefly and try again
                continue
            nxt = await anyio.to_thread.run_sync(self.queue.next_due, limiter=self._limiter)
            delay = MAX_SLEEP.total_seconds()
            if nxt is not None:
                delay = min(delay, max(0.0, (nxt - self.clock.now()).total_seconds()))
            speed = getattr(self.clock, "speed", 1.0)
            delay = delay / speed if speed else delay
            if delay <= 0:
                continue
            self.idle = True
            waiters = [asyncio.ensure_future(self._poke.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()


class ReportSchedule:
    """Runs the nightly export (02:00 store time, for the day before) and the monthly summary
    (first Monday, 09:00 store time, for the month before). A run missed while the service was
    down is caught up at start-up; the files written are the record of what ran."""

    def __init__(self, reports: Reports, clock: Clock, folder: Path) -> None:
        self.reports = reports
        self.clock = clock
        self.folder = folder
        self._limiter = CapacityLimiter(1)
        self.runs: list[str] = []

    def summary_file(self, year: int, month: int) -> Path:
        return self.folder / f"summary-{year}-{month:02d}.txt"

    def export_done(self, day: date) -> bool:
        return (self.folder / f"carts-{day.isoformat()}.xlsx").exists()

    def run_export(self, day: date) -> None:
        self.reports.export_day(day)
        self.runs.append(f"export {day.isoformat()}")

    def run_summary(self, year: int, month: int, now: datetime) -> None:
        summary = self.reports.summarise(year, month)
        self.reports.send_summary(summary, now)
        path = self.summary_file(year, month)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(summary.text, encoding="utf-8")
        self.runs.append(f"summary {year}-{month:02d}")

    def catch_up(self, now: datetime) -> None:
        zone = self.reports.zone()
        last_nightly, day = next_nightly(now - timedelta(days=1), zone)
        if last_nightly <= now and not self.export_done(day):
            self.run_export(day)
        last_run, (year, month) = next_monthly(now - CATCH_UP, zone)
        while last_run <= now:
            if not self.summary_file(year, month).exists():
                self.run_summary(year, month, now)
            last_run, (year, month) = next_monthly(last_run, zone)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await anyio.to_thread.run_sync(self.catch_up, self.clock.now(), limiter=self._limiter)
        except Exception:
            log.exception("report catch-up failed")
        while not stop.is_set():
            now = self.clock.now()
            zone = self.reports.zone()
            nightly_at, day = next_nightly(now, zone)
            monthly_at, (year, month) = next_monthly(now, zone)
            target = min(nightly_at, monthly_at)
            speed = getattr(self.clock, "speed", 1.0) or 1.0
            delay = min((target - now).total_seconds() / speed, MAX_SLEEP.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))
            if stop.is_set() or self.clock.now() < target:
                continue
            try:
                if target == nightly_at:
                    await anyio.to_thread.run_sync(self.run_export, day, limiter=self._limiter)
                else:
                    await anyio.to_thread.run_sync(
                        self.run_summary, year, month, self.clock.now(), limiter=self._limiter
                    )
            except Exception:
                log.exception("report failed", extra={"at": target.isoformat()})


class IngestQueue:
    """Group commit for the webhook: concurrent requests' events are applied by one writer
    thread in batches, each batch one transaction; every request is answered after the commit
    that holds its event. A failing event fails only its own request."""

    def __init__(self, service: Service, store: GroupCommit, *, max_batch: int = 256) -> None:
        self.service = service
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self.batches = 0
        self.events = 0

    def start(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    async def ingest(self, event: CartEvent, now: datetime) -> bool:
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put(_Item(event, now, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            results: list[tuple[_Item, bool | BaseException]] = []
            try:
                with self.store.group():
                    for item in batch:
                        try:
                            results.append((item, self.service.ingest(item.event, item.now)))
                        except Exception as e:  # this event only: its writes were rolled back
                            results.append((item, e))
            except Exception as e:  # the commit itself failed: nobody was accepted
                log.exception("group commit failed")
                results = [(item, e) for item in batch]
            self.batches += 1
            self.events += len(batch)
            # one wake-up of each waiting event loop per batch, not one per request
            answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
            for item, result in results:
                answers.setdefault(item.loop, []).append((item.future, result))
            for loop, pairs in answers.items():
                # a closed loop raises RuntimeError: nobody is waiting there any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, pairs)


@dataclass
class _Item:
    event: CartEvent
    now: datetime
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]


_Answer = tuple[asyncio.Future[bool], bool | BaseException]


def _resolve(answers: list[_Answer]) -> None:
    for future, result in answers:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
