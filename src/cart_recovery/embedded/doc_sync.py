"""The embedded runtime's Google Docs sync: ``DocSync.run`` at start-up and then every few
minutes of the clock, in a worker thread, as a background task of ``serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.embedded.timers import MAX_SLEEP
from cart_recovery.ports import Clock, FastClock
from cart_recovery.service.doc_sync import DocSync, Synced

log = logging.getLogger("cart_recovery.docs")

EVERY = timedelta(minutes=5)


class DocSyncSchedule:
    """Runs ``sync`` when due (at start-up, then ``every`` after the last run)."""

    def __init__(self, sync: DocSync, clock: Clock, every: timedelta = EVERY) -> None:
        self.sync = sync
        self.clock = clock
        self.every = every
        self.next_at: datetime | None = None  # None: due now
        self._limiter = CapacityLimiter(1)

    def tick(self, now: datetime) -> list[Synced]:
        """Sync if due at ``now``; the outcomes (none when not due)."""
        if self.next_at is not None and now < self.next_at:
            return []
        self.next_at = now + self.every
        try:
            done = self.sync.run(now)
        except Exception:
            log.exception("docs sync failed")
            return []
        for synced in done:
            if synced.outcome == "failed":
                log.warning(
                    "docs sync could not read a Google Doc",
                    extra={"doc": synced.doc, "error": synced.error},
                )
            elif synced.outcome != "unchanged":
                log.info(
                    f"docs sync: {synced.doc} {synced.outcome}",
                    extra={"doc": synced.doc, "revision": synced.revision},
                )
        return done

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
