"""Mailgun webhooks (``failed`` and ``complained``).

Mailgun signs inside the body: ``signature.signature`` is the hex HMAC-SHA256, under the
domain's HTTP webhook signing key, of ``signature.timestamp`` followed by ``signature.token``.
A timestamp more than five minutes from the clock is refused (a replay), and so is a token
already seen within that time: the signature does not cover the rest of the body, so a captured
signature sent again with another body is caught by its token.

``event-data.event`` ``failed`` with ``severity`` ``permanent`` → a hard bounce, ``temporary``
→ a soft bounce (counted); ``complained`` → a complaint. The other events are not used.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cart_recovery.adapters.mail_events.base import (
    TOLERANCE_SECONDS,
    Reported,
    RequestError,
    decode,
    feedback,
    fresh,
    obj,
    recipient,
    text_of,
)
from cart_recovery.domain.feedback import Feedback

PROVIDER = "mailgun"
SEVERITY = {"permanent": Feedback.HARD_BOUNCE, "temporary": Feedback.SOFT_BOUNCE}


def signature(key: str, timestamp: str, token: str) -> str:
    """The hex signature Mailgun sends for this timestamp and token."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def sign(payload: dict[str, Any], key: str, timestamp: int, token: str) -> dict[str, Any]:
    """``payload`` with the ``signature`` object Mailgun adds."""
    stamp = str(timestamp)
    mark = {"timestamp": stamp, "token": token, "signature": signature(key, stamp, token)}
    return {"signature": mark, **payload}


@dataclass
class Tokens:
    """The tokens of the deliveries accepted within the replay window (at most ``size``)."""

    size: int = 100_000
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use(self, token: str, now: datetime) -> bool:
        """Remember ``token``; False when it was seen within the window already."""
        at = now.timestamp()
        with self._lock:
            for old, seen_at in list(self._seen.items()):
                if seen_at >= at - TOLERANCE_SECONDS and len(self._seen) < self.size:
                    break
                del self._seen[old]
            if token in self._seen:
                return False
            self._seen[token] = at
            return True


def verify(body: bytes, key: str, now: datetime, tokens: Tokens | None = None) -> None:
    """Raises RequestError(401) unless ``key`` signed this delivery just now (and, given
    ``tokens``, its token is new)."""
    mark = obj(decode(body), "body").get("signature")
    if not isinstance(mark, dict):
        raise RequestError(401, "unsigned", "missing the signature object", "signature")
    stamp, token = text_of(mark.get("timestamp")), text_of(mark.get("token"))
    offered = text_of(mark.get("signature")).strip().lower()
    if not offered or not token:
        raise RequestError(401, "unsigned", "missing signature.signature or .token", "signature")
    fresh(stamp, now, "signature.timestamp")
    expected = signature(key, stamp, token)
    if not hmac.compare_digest(expected.encode(), offered.encode("utf-8", "surrogateescape")):
        raise RequestError(401, "bad_signature", "signature does not match", "signature.signature")
    if tokens is not None and not tokens.first_use(token, now):
        raise RequestError(
            401, "replayed", "signature.token was used already (replay refused)", "signature.token"
        )


def read(body: bytes) -> Reported:
    """The feedback in one Mailgun webhook delivery."""
    data = obj(obj(decode(body), "body").get("event-data"), "event-data")
    event = text_of(data.get("event"))
    if event == "complained":
        kind = Feedback.COMPLAINT
    elif event == "failed":
        severity = text_of(data.get("severity"))
        if severity not in SEVERITY:
            raise RequestError(
                400,
                "invalid_event",
                "a failure's severity must be permanent or temporary",
                "event-data.severity",
            )
        kind = SEVERITY[severity]
    else:
        return Reported((), ignored=f"event {event!r} is not used")
    email = recipient(data.get("recipient"), "event-data.recipient")
    status = data.get("delivery-status")
    said: list[object] = [data.get("reason")]
    if isinstance(status, dict):
        said += [status.get("code"), status.get("description") or status.get("message")]
    return Reported((feedback(kind, email, PROVIDER, *said, event_id=data.get("id")),))


@dataclass(frozen=True)
class MailgunEvents:
    """``POST /webhooks/mail-events/mailgun``."""

    signing_key: str = field(repr=False)
    name: str = PROVIDER
    tokens: Tokens = field(default_factory=Tokens, repr=False)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify(body, self.signing_key, now, self.tokens)

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Reported:
        return read(body)
