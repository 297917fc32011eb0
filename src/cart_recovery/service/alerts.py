"""Telling the owner when something goes wrong: the alert monitor.

The rules (thresholds, windows, the throttle, the words) are ``domain.alerts``; this module
gathers what they need and carries out their answer. The monitor

* observes the service's happenings (``observe``, given to ``Service.on_happening``): a
  ``Sent`` or a ``MailFailed`` updates what the mail did lately, in memory; nothing else is
  done on the sender's thread (a ``Bounced`` is the recipient's refusal and is not counted);
* is checked periodically by the runtime (``check(now)``: mail failing, the complaint rate);
* is told directly of a refused doc version (``Service.save_doc``) and of the steps a restart
  found uncertain (``Service.recover``).

An alert is first kept in the alert log (the ``AlertLog`` port; it refuses a second alert of a
kind within the throttle, so a restart repeats nothing), then logged as one structured line,
then emailed to the owners through the service's own mailer. When that mail fails (it may be
the very thing the alert is about) the alert is still in the log line and on the dashboard.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from cart_recovery.domain.alerts import (
    COMPLAINT_WINDOW,
    MAIL_DAY,
    THROTTLE,
    Alert,
    AlertKind,
    MailAttempts,
    complaint_alert,
    doc_refused_alert,
    mail_alert,
    recent_since,
    throttled_since,
    uncertain_alert,
)
from cart_recovery.domain.feedback import COMPLAINT
from cart_recovery.domain.model import SendRecord
from cart_recovery.ports import AlertLog, CartStore, Mailer, MailError
from cart_recovery.service.happenings import Happening, MailFailed, Sent

log = logging.getLogger("cart_recovery.alerts")

ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
EDITED_VIA = {
    "dashboard": "the dashboard",
    "restore": "the dashboard (a restored version)",
    "drive": "the Google Doc",
}
TICK = timedelta(microseconds=1)


def without_addresses(text: str) -> str:
    """A mail server's answer with any email address in it replaced (a shopper's address never
    reaches an alert, a log line or the dashboard)."""
    return ADDRESS.sub("<address>", text)


class AlertMonitor:
    """Raises the owner's alerts (see the module's docstring). Safe to share between
    threads."""

    def __init__(
        self,
        alert_log: AlertLog,
        store: CartStore,
        mailer: Mailer,
        *,
        owners: Sequence[str],
        sender: str,
    ) -> None:
        self.log = alert_log
        self.store = store
        self.mailer = mailer
        self.owners = tuple(owners)
        self.sender = sender
        self._lock = threading.Lock()
        self._failing_since: datetime | None = None
        self._last_error = ""
        self._attempts: deque[tuple[datetime, bool]] = deque()  # (at, sent), oldest first
        self._quiet_until: dict[str, datetime] = {}  # kind → no new alert before this

    # ---- what happened -------------------------------------------------------------------
    def observe(self, happening: Happening) -> None:
        """Note a send or a mail failure (in memory only: this runs on the sender's thread)."""
        with self._lock:
            if isinstance(happening, Sent):
                self._failing_since = None
                self._attempts.append((happening.at, True))
            elif isinstance(happening, MailFailed):
                if self._failing_since is None:
                    self._failing_since = happening.at
                self._last_error = without_addresses(happening.error)
                self._attempts.append((happening.at, False))

    def mail_attempts(self, now: datetime) -> MailAttempts:
        """What the mail did lately, as of ``now`` (attempts older than a day are dropped)."""
        with self._lock:
            while self._attempts and self._attempts[0][0] <= now - MAIL_DAY:
                self._attempts.popleft()
            sent = sum(1 for _, ok in self._attempts if ok)
            return MailAttempts(
                failing_since=self._failing_since,
                last_error=self._last_error,
                sent=sent,
                failed=len(self._attempts) - sent,
            )

    def check(self, now: datetime) -> list[Alert]:
        """The periodic check: mail failing, then the complaint rate. Returns the alerts it
        raised (none while their kind is throttled)."""
        raised = []
        for alert in (self._mail(now), self._complaints(now)):
            if alert is not None:
                kept = self.raise_alert(alert)
                if kept is not None:
                    raised.append(kept)
        return raised

    def _mail(self, now: datetime) -> Alert | None:
        if self._quiet(AlertKind.MAIL_FAILING, now):
            return None
        return mail_alert(self.mail_attempts(now), now)

    def _complaints(self, now: datetime) -> Alert | None:
        if self._quiet(AlertKind.COMPLAINT_RATE, now):
            return None
        start, end = now - COMPLAINT_WINDOW, now + TICK  # up to and including now
        complaints = self.store.suppressions_between(start, end).get(COMPLAINT, 0)
        if complaints == 0:  # the usual answer: no count of the sends needed
            return None
        return complaint_alert(complaints, self.store.sent_between(start, end), now)

    def doc_refused(
        self, doc: str, problems: Sequence[str], source: str, now: datetime
    ) -> Alert | None:
        """A ``doc`` version from ``source`` (``dashboard``, ``restore``, ``drive``) was refused
        for ``problems``. A Google Doc's refusal is emailed by the docs sync itself (once per
        revision, with the Doc's link), so its alert is not mailed a second time."""
        via = EDITED_VIA.get(source, source)
        alert = doc_refused_alert(doc, problems, via, now)
        return self.raise_alert(alert, mail=source != "drive")

    def uncertain(self, records: Sequence[SendRecord], now: datetime) -> Alert | None:
        """A restart found ``records`` claimed but never finished."""
        alert = uncertain_alert([(r.cart_id, r.step) for r in records], now)
        return None if alert is None else self.raise_alert(alert)

    # ---- the dashboard's reads -----------------------------------------------------------
    def recent(self, now: datetime) -> list[Alert]:
        """The alerts the dashboard lists: not dismissed, from the last ``RECENT``."""
        return self.log.recent_alerts(recent_since(now))

    def dismiss(self, alert_id: int) -> bool:
        return self.log.dismiss_alert(alert_id)

    # ---- raising one ---------------------------------------------------------------------
    def _quiet(self, kind: str, now: datetime) -> bool:
        with self._lock:
            until = self._quiet_until.get(kind)
        return until is not None and now < until

    def raise_alert(self, alert: Alert, *, mail: bool = True) -> Alert | None:
        """Keep, log and mail ``alert``, unless one of its kind was raised within THROTTLE
        (then None, nothing done)."""
        kept = self.log.record_alert(alert, unless_since=throttled_since(alert.at))
        if kept is None:
            last = self.log.last_alert(alert.kind)
            if last is not None:
                with self._lock:
                    self._quiet_until[alert.kind] = last.at + THROTTLE
            return None
        with self._lock:
            self._quiet_until[alert.kind] = kept.at + THROTTLE
        mailed = "mailed to the owners"
        if not self.owners:
            mailed = "not mailed: no owner_emails in config.toml"
        elif not mail:
            mailed = "mailed to the owners on its own (the docs sync)"
        else:
            try:
                self.mailer.send(self._message(kept))
            except MailError as e:
                mailed = f"not mailed: {without_addresses(str(e))}"
        log.warning(
            f"owner alert: {kept.title}",
            extra={"alert": kept.kind, "alert_id": kept.id, "mail": mailed, "detail": kept.body},
        )
        return kept

    def _message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.owners)
        msg["Subject"] = f"Cart recovery: {alert.title}"
        msg["Message-ID"] = make_msgid(f"alert.{alert.kind}")
        msg.set_content(
            f"{alert.body}\n\n"
            f"({alert.at:%Y-%m-%d %H:%M} UTC. The dashboard lists this alert until you dismiss "
            f"it; another of this kind is sent at most every {THROTTLE // timedelta(hours=1)} "
            "hours.)\n"
        )
        return msg


__all__ = ["AlertMonitor", "without_addresses"]
