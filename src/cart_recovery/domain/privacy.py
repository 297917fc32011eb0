"""A shopper's personal data (SPEC §9): recognising an address without keeping it, erasing it
from the rows that hold it, and gathering it for an export. Pure.

The personal fields are the address, the name, the items and the return URL. What stays after
an erasure is anonymous: statuses, totals, currencies, times, steps and outcomes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.feedback import Suppression
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, SendRecord

PERSONAL_FIELDS = ("email", "name", "items", "return_url")
DIGEST_PREFIX = "h1:"  # marks a keyed digest (HMAC-SHA256, version 1) among stored keys


@dataclass(frozen=True)
class EmailKey:
    """A keyed hash of email addresses, so a store can recognise an address it does not keep.

    The unsubscribe list holds only these digests: after ``forget`` the address is gone from
    every table and is still refused. The secret is derived from the service's signing key, so
    the digests cannot be recomputed from a list of guessed addresses without it.
    """

    secret: bytes = field(repr=False)

    @classmethod
    def from_signing_key(cls, signing_key: str) -> EmailKey:
        if len(signing_key) < 16:
            raise ValueError("the signing key must be at least 16 characters")
        derived = hmac.new(
            signing_key.encode("utf-8"), b"cart-recovery.email-key", hashlib.sha256
        ).digest()
        return cls(derived)

    def digest(self, email: str) -> str:
        """``h1:`` and the hex HMAC-SHA256 of the normalised address."""
        mac = self._keyed.copy()
        mac.update(normalise_email(email).encode("utf-8", "surrogatepass"))
        return DIGEST_PREFIX + mac.hexdigest()

    @functools.cached_property
    def _keyed(self) -> hmac.HMAC:
        # keyed once, copied for each address
        return hmac.new(self.secret, digestmod=hashlib.sha256)

    @property
    def check(self) -> str:
        """A short fingerprint of the key, so a store can tell it was opened with another one."""
        return hmac.new(self.secret, b"cart-recovery.key-check", hashlib.sha256).hexdigest()[:16]


# For stores made without a signing key (tests, ``simulate``): a fixed, public key. A store
# that persists real addresses is given ``EmailKey.from_signing_key`` instead.
UNKEYED = EmailKey(b"cart-recovery.unkeyed-email-key")


def anonymise_cart(cart: Cart) -> Cart:
    """The cart without its personal fields; everything else (and the version) unchanged."""
    return msgspec.structs.replace(cart, email=None, name=None, items=(), return_url=None)


def anonymise_snapshot(snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An audit ``before``/``after`` picture without its personal fields."""
    if snapshot is None:
        return None
    out = dict(snapshot)
    for key in PERSONAL_FIELDS:
        if key in out:
            out[key] = [] if key == "items" else None
    return out


def anonymise_event(event: CartEvent) -> CartEvent:
    """A stored event without its personal fields (type, times and total stay)."""
    return msgspec.structs.replace(event, email=None, name=None, items=None, return_url=None)


def anonymise_audit(entry: AuditEntry) -> AuditEntry:
    return msgspec.structs.replace(
        entry, before=anonymise_snapshot(entry.before), after=anonymise_snapshot(entry.after)
    )


def anonymise_send(record: SendRecord) -> SendRecord:
    return msgspec.structs.replace(record, recipient=None)


def names_address(value: str | None, address: str) -> bool:
    """Whether ``value`` is the (already normalised) ``address``."""
    return value is not None and normalise_email(value) == address


@dataclass(frozen=True)
class Forgotten:
    """What ``forget`` erased: the carts it touched and how many rows of each kind changed."""

    cart_ids: tuple[str, ...] = ()
    events: int = 0
    sends: int = 0
    audit_rows: int = 0
    newly_unsubscribed: bool = False
    message_ids: tuple[str, ...] = ()  # of the reminders those carts were sent


def _time(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shopper_export(
    email: str,
    *,
    unsubscribed: bool,
    suppression: Suppression | None = None,
    carts: Sequence[tuple[str, Cart | None]],
    events: Mapping[str, Sequence[tuple[CartEvent, datetime]]],
    sends: Mapping[str, Sequence[SendRecord]],
    clicks: Mapping[str, Sequence[tuple[int, datetime]]],
    audit: Mapping[str, Iterable[AuditEntry]],
    now: datetime,
) -> dict[str, Any]:
    """Everything kept about one shopper, JSON-ready (times in UTC, RFC 3339)."""

    def builtins(value: object) -> Any:
        return msgspec.to_builtins(value)

    out_carts = []
    for cart_id, cart in carts:
        row: dict[str, Any] = {"cart_id": cart_id} if cart is None else builtins(cart)
        row.pop("version", None)
        row["events"] = [
            {**builtins(event), "received_at": _time(received)}
            for event, received in events.get(cart_id, ())
        ]
        row["reminders"] = [
            {
                "step": s.step,
                "outcome": str(s.outcome),
                "at": _time(s.at),
                "recipient": s.recipient,
                "reason": s.reason,
                "message_id": s.message_id,
                "failed_attempts": s.attempts,
            }
            for s in sends.get(cart_id, ())
        ]
        row["clicks"] = [{"step": step, "at": _time(at)} for step, at in clicks.get(cart_id, ())]
        row["history"] = [
            {"at": _time(a.at), "by": a.by, "action": a.action, "detail": a.detail}
            for a in audit.get(cart_id, ())
        ]
        out_carts.append(row)
    return {
        "email": normalise_email(email),
        "exported_at": _time(now),
        "unsubscribed": unsubscribed,
        "suppressed": None
        if suppression is None
        else {
            "source": suppression.source,
            "reason": suppression.reason,
            "at": _time(suppression.at),
        },
        "carts": out_carts,
    }
