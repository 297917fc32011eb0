"""The embedded runtime's alert check: ``AlertMonitor.check`` every minute of the clock, in a
worker thread, as a background task of ``serve`` (the mail-failing threshold is noticed
within a minute of being passed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.domain.alerts import Alert
from cart_recovery.embedded.timers import MAX_SLEEP
from cart_recovery.ports import Clock, FastClock
from cart_recovery.service.alerts import AlertMonitor

log = logging.getLogger("cart_recovery.alerts")

EVERY = timedelta(minutes=1)


class AlertSchedule:
    """Runs ``monitor.check`` when due (at start-up, then ``every`` after the last run)."""

    def __init__(self, monitor: AlertMonitor, clock: Clock, every: timedelta = EVERY) -> None:
        self.monitor = monitor
        self.clock = clock
        self.every = every
        self.next_at: datetime | None = None  # None: due now
        self._limiter = CapacityLimiter(1)

    def tick(self, now: datetime) -> list[Alert]:
        """Check if due at ``now``; the alerts raised (none when not due)."""
        if self.next_at is not None and now < self.next_at:
            return []
        self.next_at = now + self.every
        try:
            return self.monitor.check(now)
        except Exception:
            log.exception("the alert check failed")
            return []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await anyio.to_thread.run_sync(self.tick, self.clock.now(), limiter=self._limiter)
            assert self.next_at is not None
            speed = (self.clock.speed if isinstance(self.clock, FastClock) else 1.0) or 1.0
            delay = (self.next_at - self.clock.now()).total_seconds() / speed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), timeout=max(0.0, min(delay, MAX_SLEEP.total_seconds()))
                )
