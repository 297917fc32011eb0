"""The embedded report schedule: the nightly export and the monthly summary, at their store
times, with a catch-up at start-up."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.domain.calendar import next_monthly, next_nightly
from cart_recovery.embedded.periodic import sleep_until
from cart_recovery.ports import Clock
from cart_recovery.service.reports import Reports

log = logging.getLogger("cart_recovery.timers")

CATCH_UP = timedelta(days=7)  # a monthly summary missed by less than this runs at start-up


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
        """At start-up: the last nightly export if its file is missing, and the monthly
        summaries of the last week whose files are missing."""
        zone = self.reports.zone()
        last_nightly, day = next_nightly(now - timedelta(days=1), zone)
        if last_nightly <= now and not self.export_done(day):
            self.run_export(day)
        last_run, (year, month) = next_monthly(now - CATCH_UP, zone)
        while last_run <= now:
            if not self.summary_file(year, month).exists():
                self.run_summary(year, month, now)
            last_run, (year, month) = next_monthly(last_run, zone)

    def next_at(self, now: datetime) -> datetime:
        """When the next report is due after ``now``."""
        zone = self.reports.zone()
        return min(next_nightly(now, zone)[0], next_monthly(now, zone)[0])

    def fire(self, at: datetime, now: datetime) -> None:
        """Run the reports due at ``at`` (a time ``next_at`` gave), at ``now``."""
        zone = self.reports.zone()
        before = at - timedelta(microseconds=1)
        nightly_at, day = next_nightly(before, zone)
        if nightly_at == at:
            self.run_export(day)
        monthly_at, (year, month) = next_monthly(before, zone)
        if monthly_at == at:
            self.run_summary(year, month, now)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await anyio.to_thread.run_sync(self.catch_up, self.clock.now(), limiter=self._limiter)
        except Exception:
            log.exception("report catch-up failed")
        while not stop.is_set():
            now = self.clock.now()
            target = self.next_at(now)
            if not await sleep_until(self.clock, target, stop):
                continue
            try:
                await anyio.to_thread.run_sync(
                    self.fire, target, self.clock.now(), limiter=self._limiter
                )
            except Exception:
                log.exception("report failed", extra={"at": target.isoformat()})
