"""Postmark bounce and spam-complaint webhooks.

Postmark signs nothing: the webhook URL given to Postmark carries HTTP basic auth credentials
(``https://user:password@host/webhooks/mail-events/postmark``), and each delivery comes with
``Authorization: Basic ...``, compared in constant time with every configured ``user:password``
(two during a rotation).

- ``RecordType`` ``Bounce``: ``Type`` ``HardBounce`` or ``BadEmailAddress`` → a hard bounce;
  ``SoftBounce``, ``Transient`` or ``DnsError`` → a soft bounce (counted); ``SpamComplaint``
  → a complaint; the other types (auto-responders, challenge mails, ...) are not used;
- ``RecordType`` ``SpamComplaint`` → a complaint;
- deliveries, opens, clicks and subscription changes are not used.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cart_recovery.adapters.mail_events.base import (
    Reported,
    RequestError,
    decode,
    feedback,
    obj,
    recipient,
    text_of,
)
from cart_recovery.adapters.storefronts.base import any_match
from cart_recovery.domain.feedback import Feedback

PROVIDER = "postmark"
BOUNCE_KINDS = {
    "HardBounce": Feedback.HARD_BOUNCE,
    "BadEmailAddress": Feedback.HARD_BOUNCE,
    "SoftBounce": Feedback.SOFT_BOUNCE,
    "Transient": Feedback.SOFT_BOUNCE,
    "DnsError": Feedback.SOFT_BOUNCE,
    "SpamComplaint": Feedback.COMPLAINT,
}


def check_user(user: str) -> str:
    """``user`` if it is ``name:password`` with both parts; ValueError otherwise."""
    name, colon, password = user.partition(":")
    if not colon or not name or not password:
        raise ValueError("each entry must be 'user:password' (the credentials in the webhook URL)")
    return user


def authorization(user: str) -> dict[str, str]:
    """The header Postmark sends for a webhook URL with ``user:password`` in it."""
    return {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}


def verify(headers: Mapping[str, str], users: Sequence[str]) -> None:
    """Raises RequestError(401) unless the basic auth credentials are a configured user."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise RequestError(401, "unsigned", "missing basic auth credentials", "authorization")
    try:
        offered = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        raise RequestError(
            401, "bad_credentials", "credentials are not base64", "authorization"
        ) from None
    if not any_match([u.encode() for u in users], [offered]):
        raise RequestError(401, "bad_credentials", "credentials do not match", "authorization")


def read(body: bytes) -> Reported:
    """The feedback in one Postmark webhook delivery."""
    record = obj(decode(body), "body")
    record_type = text_of(record.get("RecordType"))
    if record_type not in {"Bounce", "SpamComplaint"}:
        return Reported((), ignored=f"RecordType {record_type!r} is not used")
    kind = (
        Feedback.COMPLAINT
        if record_type == "SpamComplaint"
        else BOUNCE_KINDS.get(text_of(record.get("Type")))
    )
    if kind is None:
        return Reported((), ignored=f"bounce type {record.get('Type')!r} is not used")
    email = recipient(record.get("Email"), "Email")
    said = (record.get("Type"), record.get("Description"), record.get("Details"))
    return Reported((feedback(kind, email, PROVIDER, *said, event_id=record.get("ID")),))


@dataclass(frozen=True)
class PostmarkEvents:
    """``POST /webhooks/mail-events/postmark``."""

    users: Sequence[str] = field(repr=False)
    name: str = PROVIDER

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify(headers, self.users)

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Reported:
        return read(body)
