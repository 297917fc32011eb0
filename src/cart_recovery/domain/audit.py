"""The audit rows that the stores write on their own: a claim found uncertain at start-up, an
unsubscribe, an erasure. Built here once, so every store persists the same rows; and ``fit``,
an audit row trimmed to what changed for a store whose items have a size limit. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


# ---- an audit row that fits a store's item limit ------------------------------------------

TRIMMED = "the before and after snapshots are trimmed to what changed (too large to keep whole)"


def _size(snapshot: dict[str, Any] | None) -> int:
    return 0 if snapshot is None else len(msgspec.json.encode(snapshot))


def _lines_changed(before: Sequence[Any], after: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The lines only in ``before`` and only in ``after`` (as multisets, in their order)."""
    left = [msgspec.json.encode(x) for x in before]
    right = [msgspec.json.encode(x) for x in after]
    unmatched = list(right)
    gone = []
    for raw, line in zip(left, before, strict=True):
        if raw in unmatched:
            unmatched.remove(raw)
        else:
            gone.append(line)
    kept_right = list(left)
    added = []
    for raw, line in zip(right, after, strict=True):
        if raw in kept_right:
            kept_right.remove(raw)
        else:
            added.append(line)
    return gone, added


def fit(entry: AuditEntry, limit: int) -> AuditEntry:
    """``entry`` whose ``before`` and ``after`` together encode to at most ``limit`` bytes: as
    it is when it fits; else each keeps only the fields that differ (a list of lines only the
    lines removed and added, with the count of lines); and a field still too large is replaced
    by a note of its size. The detail says the snapshots were trimmed."""
    before, after = entry.before, entry.after
    if _size(before) + _size(after) <= limit:
        return entry
    b, a = dict(before or {}), dict(after or {})
    changed = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
    small_b: dict[str, Any] = {"version": b["version"]} if "version" in b else {}
    small_a: dict[str, Any] = {"version": a["version"]} if "version" in a else {}
    for key in changed:
        old, new = b.get(key), a.get(key)
        if isinstance(old, list | tuple) and isinstance(new, list | tuple):
            gone, added = _lines_changed(old, new)
            old = {"lines": len(old), "removed": gone}
            new = {"lines": len(new), "added": added}
        if key in b:
            small_b[key] = old
        if key in a:
            small_a[key] = new
    share = limit // 2
    for side in (small_b, small_a):
        for key in sorted(side, key=lambda k: -_size({k: side[k]})):
            if _size(side) <= share:
                break
            side[key] = {"omitted": f"{_size({key: side[key]})} bytes"}
    detail = f"{entry.detail}; {TRIMMED}" if entry.detail else TRIMMED
    return msgspec.structs.replace(
        entry,
        before=None if before is None else small_b,
        after=None if after is None else small_a,
        detail=detail,
    )
