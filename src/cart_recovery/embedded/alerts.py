"""The embedded runtime's alert check: ``AlertMonitor.check`` every minute of the clock, in a
worker thread, as a background task of ``serve`` (the mail-failing threshold is noticed
within a minute of being passed)."""

from __future__ import annotations

import logging
from datetime import timedelta

from cart_recovery.domain.alerts import Alert
from cart_recovery.embedded.periodic import Periodic
from cart_recovery.ports import Clock
from cart_recovery.service.alerts import AlertMonitor

log = logging.getLogger("cart_recovery.alerts")

EVERY = timedelta(minutes=1)


class AlertSchedule(Periodic[Alert]):
    """Runs ``monitor.check`` when due (at start-up, then ``every`` after the last run)."""

    def __init__(self, monitor: AlertMonitor, clock: Clock, every: timedelta = EVERY) -> None:
        super().__init__(monitor.check, clock, every, log=log, failed="the alert check failed")
        self.monitor = monitor
