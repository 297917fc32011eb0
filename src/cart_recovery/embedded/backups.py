"""The nightly backup of ``serve``: a checked copy of the database into ``<data>/backups/`` at
the nightly hour (02:00 store time, with the export), keeping the last ``backup_keep``; one
missed while the service was down is made at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio.to_thread
from anyio import CapacityLimiter

from cart_recovery.domain.calendar import next_nightly
from cart_recovery.embedded.periodic import sleep_until
from cart_recovery.ports import Clock

log = logging.getLogger("cart_recovery.timers")

PATTERN = "cart-recovery-*.sqlite3"
STAMP = "%Y%m%dT%H%M%SZ"


def backup_name(now: datetime) -> str:
    """A backup's file name: the UTC time it was made, so the names sort by time."""
    return f"cart-recovery-{now.astimezone(UTC).strftime(STAMP)}.sqlite3"


def made_at(path: Path) -> datetime | None:
    """The time in a backup's name (None: not a name ``backup_name`` gives)."""
    stamp = path.name.removeprefix("cart-recovery-").removesuffix(".sqlite3")
    try:
        return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


class BackupSchedule:
    """``copy(path)`` writes one checked backup at ``path`` (in ``folder``)."""

    def __init__(
        self,
        copy: Callable[[Path], object],
        clock: Clock,
        folder: Path,
        keep: int,
        zone: Callable[[], ZoneInfo],
    ) -> None:
        self.copy = copy
        self.clock = clock
        self.folder = folder
        self.keep = keep
        self.zone = zone
        self._limiter = CapacityLimiter(1)
        self.runs: list[Path] = []

    def backups(self) -> list[Path]:
        found = self.folder.glob(PATTERN) if self.folder.is_dir() else ()
        return sorted(p for p in found if made_at(p) is not None)

    def run_backup(self, now: datetime) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / backup_name(now)
        self.copy(path)
        self.runs.append(path)
        for old in self.backups()[: -self.keep]:
            old.unlink(missing_ok=True)
        log.info("backup written", extra={"path": str(path), "kept": self.keep})

    def catch_up(self, now: datetime) -> None:
        """A copy now when none was made since the last nightly hour."""
        last_nightly, _day = next_nightly(now - timedelta(days=1), self.zone())
        made = [made_at(p) for p in self.backups()]
        latest = max((t for t in made if t is not None), default=None)
        if last_nightly <= now and (latest is None or latest < last_nightly):
            self.run_backup(now)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await anyio.to_thread.run_sync(self.catch_up, self.clock.now(), limiter=self._limiter)
        except Exception:
            log.exception("backup catch-up failed")
        while not stop.is_set():
            now = self.clock.now()
            target, _day = next_nightly(now, self.zone())
            if not await sleep_until(self.clock, target, stop):
                continue
            try:
                await anyio.to_thread.run_sync(
                    self.run_backup, self.clock.now(), limiter=self._limiter
                )
            except Exception:
                log.exception("backup failed", extra={"at": target.isoformat()})
