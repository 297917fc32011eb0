"""The embedded timer loop: fires due wake-ups in (due, cart_id) order, then sleeps until the
next one is due or an intake sets an earlier one. No polling, no table scans: one indexed query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.ports import Clock, FastClock, GroupCommit, WakeQueue
from cart_recovery.service import Happening, Service

log = logging.getLogger("cart_recovery.timers")

MAX_SLEEP = timedelta(seconds=60)  # a safety net against wall-clock jumps, not a poll


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
        at a time through ``Service.wake_many``: one commit per chunk of the batch, every claim
        durable before its email leaves. A batch whose wake-ups raised is finished, then the first
        error is raised (the loop logs it and backs off)."""
        out: list[Happening] = []
        group = self.queue.group if isinstance(self.queue, GroupCommit) else contextlib.nullcontext
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
            speed = self.clock.speed if isinstance(self.clock, FastClock) else 1.0
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
