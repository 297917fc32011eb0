"""What every mail provider's webhook shares: the provider contract (``MailEvents`` in
``ports``), JSON decoding that names the fault, the freshness check of a signed timestamp, and
one way to build a piece of feedback.

A provider is one file: it checks its own signature on the raw body (or on what the body
carries, for SNS) and turns what it posts into zero or more ``MailFeedback``. The web layer
runs every provider through the same flow: read the body (size-limited) → ``verify`` →
``read`` → ``Service.mail_feedback`` for each → answer 2xx after.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cart_recovery.adapters.storefronts.base import REPLAY_WINDOW_SECONDS, fresh_seconds
from cart_recovery.domain.address import AddressError, recipient_address
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.ports import MailEvents as MailEvents
from cart_recovery.ports import Reported as Reported
from cart_recovery.ports import RequestError as RequestError

# How far a signed timestamp may be from the app's clock (SendGrid, Mailgun).
TOLERANCE_SECONDS = REPLAY_WINDOW_SECONDS  # the storefronts' window, the one rule


def decode(body: bytes, what: str = "body") -> Any:
    """The JSON in ``body``; 400 naming ``what`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(400, "invalid_json", f"{what} is not valid JSON: {e}", what) from None


def fresh(raw: object, now: datetime, where: str) -> int:
    """The Unix-seconds timestamp ``raw`` (a string or a number), refused (401) when absent,
    malformed, or more than ``TOLERANCE_SECONDS`` from ``now`` (a replay)."""
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    return fresh_seconds(text, now, name=where, field=where, missing=f"missing {where}")


def text_of(value: object) -> str:
    """A provider's free-text field as one string (absent: empty)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def recipient(value: object, where: str) -> str:
    """The reported address at ``where``; 400 naming it (never the value) when it is absent or
    not an address."""
    try:
        if not isinstance(value, str):
            raise AddressError("not text")
        return recipient_address(value)
    except AddressError:
        raise RequestError(
            400, "invalid_event", f"{where} must be an email address", where
        ) from None


def feedback(
    kind: Feedback, email: str, provider: str, *reason: object, event_id: object = None
) -> MailFeedback:
    """One report; the reason is the provider's non-empty words, joined; ``event_id`` the
    provider's id of the report, if it gives one."""
    words = "; ".join(t for t in (text_of(r).strip() for r in reason) if t)
    return MailFeedback(kind, email, provider, words, text_of(event_id).strip()[:200])


def obj(value: object, where: str) -> dict[str, Any]:
    """``value`` as a JSON object; 400 naming ``where`` when it is not one."""
    if not isinstance(value, dict):
        raise RequestError(400, "invalid_event", f"{where} must be an object", where)
    return value


def items(value: object, where: str) -> list[Any]:
    """``value`` as a JSON array; 400 naming ``where`` when it is not one."""
    if not isinstance(value, list):
        raise RequestError(400, "invalid_event", f"{where} must be a list", where)
    return value
