"""The embedded runtime's Google Docs sync: ``DocSync.run`` at start-up and then every few
minutes of the clock, in a worker thread, as a background task of ``serve``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cart_recovery.embedded.periodic import Periodic
from cart_recovery.ports import Clock
from cart_recovery.service.doc_sync import DocSync, Synced

log = logging.getLogger("cart_recovery.docs")

EVERY = timedelta(minutes=5)


class DocSyncSchedule(Periodic[Synced]):
    """Runs ``sync`` when due (at start-up, then ``every`` after the last run)."""

    def __init__(self, sync: DocSync, clock: Clock, every: timedelta = EVERY) -> None:
        super().__init__(self._sync, clock, every, log=log, failed="docs sync failed")
        self.sync = sync

    def _sync(self, now: datetime) -> list[Synced]:
        done = self.sync.run(now)
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
