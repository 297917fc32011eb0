"""The owner's alerts: when something has gone wrong that the owner must act on, what to tell
them, and how often. Pure: every answer comes from its arguments, ``now`` included.

The kinds match the AWS runtime's alarms (infra/template.yaml):

* ``mail_failing``: no reminder has left for ``MAIL_DOWN_AFTER`` since the first mail error
  (30 minutes), or more than ``FAILURE_RATE`` (1%) of the mail attempts of the last day
  failed, counting only from ``MIN_FAILURES`` (5) failed attempts: one failure in three
  attempts is a blip, not a 33% failure rate. A recipient the server refuses for good (a
  bounce) is the address's fault, not the mail's, and does not count.
* ``doc_refused``: a new rules or voice version was refused (it does not read fine); the last
  good version keeps serving.
* ``complaint_rate``: complaints over the reminders sent in the last ``COMPLAINT_WINDOW``
  (30 days) above ``COMPLAINT_RATE_LIMIT`` (0.1%, the level mail providers ask senders to stay
  under). There is no minimum: a complaint is rare and serious, and at a small volume one
  is already too many.
* ``uncertain_steps``: a restart found reminders claimed but never finished (a crash fell
  between the claim and the send): they are never sent twice, so some may not have left.

At most one alert of a kind per ``THROTTLE`` (6 hours); the dashboard lists the alerts not
dismissed from the last ``RECENT`` (48 hours).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cart_recovery.domain.feedback import COMPLAINT_RATE_LIMIT


class AlertKind(enum.StrEnum):
    MAIL_FAILING = "mail_failing"
    DOC_REFUSED = "doc_refused"
    COMPLAINT_RATE = "complaint_rate"
    UNCERTAIN_STEPS = "uncertain_steps"


THROTTLE = timedelta(hours=6)
RECENT = timedelta(hours=48)
MAIL_DOWN_AFTER = timedelta(minutes=30)
MAIL_DAY = timedelta(days=1)
FAILURE_RATE = 0.01
MIN_FAILURES = 5
COMPLAINT_WINDOW = timedelta(days=30)
LISTED = 10  # uncertain steps named in one alert at most


@dataclass(frozen=True)
class Alert:
    """One alert: its kind, when it was raised, a one-line ``title`` and a ``body`` saying what
    happened and what to do. ``id`` is the alert log's (0 until it is recorded)."""

    kind: str
    at: datetime
    title: str
    body: str
    id: int = 0
    dismissed: bool = False


def throttled_since(now: datetime) -> datetime:
    """An alert of a kind raised after this time holds back another of that kind (so the
    next may come exactly THROTTLE after the last)."""
    return now - THROTTLE


def recent_since(now: datetime) -> datetime:
    """The dashboard lists the alerts not dismissed from this time on."""
    return now - RECENT


@dataclass(frozen=True)
class MailAttempts:
    """What the mail did lately: ``failing_since`` the first mail error after the last
    successful send (None: the last attempt worked), the newest error, and the attempts of
    the last day (``sent``, ``failed``)."""

    failing_since: datetime | None
    last_error: str
    sent: int
    failed: int


def _fix(error: str) -> str:
    text = error.lower()
    if "logging in" in text or "535" in text or "auth" in text:
        return (
            "The mail server refused the login: check the SMTP user name and password "
            "(smtp_url in config.toml) and restart cart recovery."
        )
    if "refused" in text or "timed out" in text or "connect" in text or "resolve" in text:
        return (
            "The mail server could not be reached: check that it is running and that the "
            "host and port in smtp_url (config.toml) are right."
        )
    return (
        "Check the SMTP settings in config.toml (smtp_url: host, port, user name, password) "
        "and your mail provider's status page."
    )


def mail_alert(attempts: MailAttempts, now: datetime) -> Alert | None:
    """The ``mail_failing`` alert when mail has failed for MAIL_DOWN_AFTER, or for more than
    FAILURE_RATE of the last day's attempts (from MIN_FAILURES failures); else None."""
    total = attempts.sent + attempts.failed
    since = attempts.failing_since
    if since is not None and now - since >= MAIL_DOWN_AFTER:
        minutes = int((now - since).total_seconds() // 60)
        what = (
            f"No reminder email could be sent for {minutes} minutes: every attempt since "
            f"{since:%Y-%m-%d %H:%M} UTC failed."
        )
    elif attempts.failed >= MIN_FAILURES and attempts.failed > FAILURE_RATE * total:
        what = (
            f"{attempts.failed} of the last day's {total} attempts to send a reminder failed "
            f"({100 * attempts.failed / total:.1f}%, more than {100 * FAILURE_RATE:g}%)."
        )
    else:
        return None
    body = (
        f"{what}\n"
        f"The mail server's last answer: {attempts.last_error or 'none'}\n"
        "Reminders that could not leave are tried again a few times, then skipped.\n"
        f"What to do: {_fix(attempts.last_error)}"
    )
    return Alert(AlertKind.MAIL_FAILING, now, "Reminder emails are not going out", body)


def doc_refused_alert(doc: str, problems: Sequence[str], via: str, now: datetime) -> Alert:
    """The ``doc_refused`` alert for a refused ``doc`` version (``via``: where the edit came
    from, e.g. "the dashboard", "the Google Doc")."""
    listed = "\n".join(f"  {p}" for p in problems[:LISTED])
    more = f"\n  ... and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
    body = (
        f"A new version of the {doc} doc, from {via}, was refused because it does not read "
        f"fine ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n"
        f"{listed}{more}\n"
        f"Reminders keep using the last good version of the {doc} until it is fixed.\n"
        f"What to do: fix the lines named above in {via} and save again; the dashboard's "
        "Rules & voice page checks a draft before you save it."
    )
    return Alert(AlertKind.DOC_REFUSED, now, f"Your {doc} doc was not applied", body)


def complaint_alert(complaints: int, sent: int, now: datetime) -> Alert | None:
    """The ``complaint_rate`` alert when complaints over the last COMPLAINT_WINDOW's sent
    reminders pass COMPLAINT_RATE_LIMIT (any complaint with nothing sent passes it); else None."""
    if complaints <= 0 or complaints <= COMPLAINT_RATE_LIMIT * sent:
        return None
    rate = f"{100 * complaints / sent:.2f}%" if sent else "every reminder"
    days = COMPLAINT_WINDOW.days
    body = (
        f"{complaints} shopper{'s' if complaints != 1 else ''} marked a reminder as spam in "
        f"the last {days} days, out of {sent} reminders sent ({rate}). Mail providers start "
        f"blocking senders above {100 * COMPLAINT_RATE_LIMIT:g}%.\n"
        "Those addresses get no more reminders.\n"
        "What to do: make reminders easy to recognise and wanted: name the store clearly in "
        "the voice doc, send fewer (the rules doc: one reminder instead of two, or only for "
        "larger carts), and make sure shoppers agreed to hear from you."
    )
    return Alert(AlertKind.COMPLAINT_RATE, now, "Too many shoppers marked reminders as spam", body)


def uncertain_alert(steps: Sequence[tuple[str, int]], now: datetime) -> Alert | None:
    """The ``uncertain_steps`` alert for the ``(cart_id, step)`` pairs a restart found
    claimed but never finished; None when there are none."""
    if not steps:
        return None
    listed = "\n".join(f"  cart {c}, reminder {s}" for c, s in steps[:LISTED])
    more = f"\n  ... and {len(steps) - LISTED} more" if len(steps) > LISTED else ""
    n = len(steps)
    body = (
        f"Cart recovery stopped while {n} reminder{'s were' if n != 1 else ' was'} being "
        "sent, and cannot tell whether it left. It is never sent twice, so the shopper may "
        f"have missed it:\n{listed}{more}\n"
        "What to do: look these carts up on the dashboard; if the stop was not a planned "
        "restart, check the machine's disk space and memory and the service's log."
    )
    return Alert(AlertKind.UNCERTAIN_STEPS, now, "Some reminders may not have been sent", body)


__all__ = [
    "Alert",
    "AlertKind",
    "MailAttempts",
    "complaint_alert",
    "doc_refused_alert",
    "mail_alert",
    "recent_since",
    "throttled_since",
    "uncertain_alert",
]
