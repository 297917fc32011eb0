"""A job that ``serve`` runs at start-up and then every so often of the clock, in a worker
thread, one run at a time (the docs sync, the alert check): ``tick(now)`` runs it when due;
``run(stop)`` is the background task that ticks until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.embedded.timers import MAX_SLEEP
from cart_recovery.ports import Clock, FastClock

T = TypeVar("T")


async def sleep_until(clock: Clock, target: datetime, stop: asyncio.Event) -> bool:
    """Sleep until ``target`` on ``clock`` (scaled for a fast clock), at most ``MAX_SLEEP`` at a
    time, or until ``stop``. True when ``target`` was reached and nothing asked to stop."""
    speed = (clock.speed if isinstance(clock, FastClock) else 1.0) or 1.0
    delay = min((target - clock.now()).total_seconds() / speed, MAX_SLEEP.total_seconds())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))
    return not stop.is_set() and clock.now() >= target


class Periodic(Generic[T]):
    """Runs ``job(now)`` when due (at start-up, then ``every`` after the last run). A job that
    raises is logged (``failed``, on ``log``) and tried again at the next turn."""

    def __init__(
        self,
        job: Callable[[datetime], list[T]],
        clock: Clock,
        every: timedelta,
        *,
        log: logging.Logger,
        failed: str,
    ) -> None:
        self.job = job
        self.clock = clock
        self.every = every
        self.log = log
        self.failed = failed
        self.next_at: datetime | None = None  # None: due now
        self._limiter = CapacityLimiter(1)

    def tick(self, now: datetime) -> list[T]:
        """Run if due at ``now``; what the job gave (nothing when not due)."""
        if self.next_at is not None and now < self.next_at:
            return []
        self.next_at = now + self.every
        try:
            return self.job(now)
        except Exception:
            self.log.exception(self.failed)
            return []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await anyio.to_thread.run_sync(self.tick, self.clock.now(), limiter=self._limiter)
            assert self.next_at is not None
            await sleep_until(self.clock, self.next_at, stop)
