"""The service layer: intake, the waiter, the sender, stops and owner actions.

``core.Service`` is the one class every runtime calls; ``waking`` carries out the wake-up plan
of ``domain.wakeup``, ``owner`` the stops and owner actions, ``docs`` the owner's edits of the
rules and voice (versions, history, restore), ``reports`` the nightly export and the monthly
summary, ``alerts`` the owner's alerts (the rules are ``domain.alerts``).
"""

from cart_recovery.service.alerts import AlertMonitor
from cart_recovery.service.core import Service
from cart_recovery.service.docs import DocRefused, HistoryEntry
from cart_recovery.service.feedback import Heard, OptIn
from cart_recovery.service.happenings import (
    Bounced,
    Closed,
    Deferred,
    HandedOff,
    Happening,
    MailFailed,
    Sent,
    Skipped,
    Stopped,
    WakeBatch,
)
from cart_recovery.service.owner import ActionRefused, check_address
from cart_recovery.service.retry import RETRIES
from cart_recovery.service.waking import HANDOFF_SAFETY, MAIL_ATTEMPTS, MAIL_RETRY

__all__ = [
    "HANDOFF_SAFETY",
    "MAIL_ATTEMPTS",
    "MAIL_RETRY",
    "RETRIES",
    "ActionRefused",
    "AlertMonitor",
    "Bounced",
    "Closed",
    "Deferred",
    "DocRefused",
    "HandedOff",
    "Happening",
    "Heard",
    "HistoryEntry",
    "MailFailed",
    "OptIn",
    "Sent",
    "Service",
    "Skipped",
    "Stopped",
    "WakeBatch",
    "check_address",
]
