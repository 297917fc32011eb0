"""The audit rows that the stores write on their own: a claim found uncertain at start-up, an
unsubscribe, an erasure. Built here once, so every store persists the same rows. Pure."""

from __future__ import annotations

from datetime import datetime

import msgspec

from cart_recovery.domain.model import AuditEntry, Cart, SendRecord, cart_snapshot
from cart_recovery.domain.privacy import anonymise_snapshot

UNCERTAIN = "uncertain"
UNSUBSCRIBED = "unsubscribed"
RESUBSCRIBED = "resubscribed"
FORGOTTEN = "forgotten"
ERASED = "the shopper's personal data was erased"


def uncertain(record: SendRecord, now: datetime, by: str) -> AuditEntry:
    """A step that was claimed before a crash and is never resent: it is marked uncertain."""
    return AuditEntry(
        cart_id=record.cart_id,
        at=now,
        by=by,
        action=UNCERTAIN,
        detail=f"step {record.step}: claimed before a crash; not resent",
    )


def unsubscribed(cart: Cart, at: datetime, source: str, reason: str | None = None) -> AuditEntry:
    """One row per cart of an address that unsubscribed (or was suppressed by a bounce or a
    complaint: ``source``, with the provider's ``reason``); the cart itself does not change,
    so ``before`` and ``after`` are the same snapshot."""
    snapshot = cart_snapshot(cart)
    return AuditEntry(
        cart_id=cart.cart_id,
        at=at,
        by=source,
        action=UNSUBSCRIBED,
        before=snapshot,
        after=snapshot,
        detail=reason,
    )


def resubscribed(cart: Cart, at: datetime, by: str) -> AuditEntry:
    """One row per cart of an address taken off the unsubscribe list by the shopper's link."""
    snapshot = cart_snapshot(cart)
    return AuditEntry(
        cart_id=cart.cart_id,
        at=at,
        by=by,
        action=RESUBSCRIBED,
        before=snapshot,
        after=snapshot,
        detail="asked for reminders again",
    )


def newest_cart(carts: list[Cart]) -> str | None:
    """The id of the most recently created of an address's carts (the list row names it)."""
    if not carts:
        return None
    return max(carts, key=lambda c: (c.created_at, c.cart_id)).cart_id


def forgotten(cart: Cart, erased: Cart, at: datetime, by: str) -> AuditEntry:
    """The erasure of ``cart`` (as stored) into ``erased``: ``before`` names nobody either, and
    ``after`` is the erased cart at the version it is stored with, one past ``cart``'s."""
    return AuditEntry(
        cart_id=cart.cart_id,
        at=at,
        by=by,
        action=FORGOTTEN,
        before=anonymise_snapshot(cart_snapshot(cart)),
        after=cart_snapshot(msgspec.structs.replace(erased, version=cart.version + 1)),
        detail=ERASED,
    )
