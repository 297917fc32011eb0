"""The statements the store's writes share, each run on the connection of a write
already under way (``SqliteStore._write``)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import msgspec

from cart_recovery.adapters.sqlite.codec import (
    SEND_COLS,
    cart_encoder,
    event_encoder,
    json_encoder,
    to_us,
)
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, SendRecord
from cart_recovery.domain.timers import TimerChange, timer_for
from cart_recovery.ports import StaleCart

ADD_EVENT = (
    "INSERT INTO events (cart_id, event_id, type, occurred_at, received_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def event_row(event: CartEvent, now: datetime) -> tuple[object, ...]:
    return (
        event.cart_id,
        event.event_id,
        event.type,
        to_us(event.occurred_at),
        to_us(now),
        event_encoder.encode(event),
    )


def check_version(c: sqlite3.Connection, cart_id: str, expected_version: int | None) -> None:
    row = c.execute("SELECT version FROM carts WHERE cart_id = ?", (cart_id,)).fetchone()
    if (None if row is None else row[0]) != expected_version:
        raise StaleCart(cart_id)


def put_cart(c: sqlite3.Connection, cart: Cart, expected_version: int | None) -> Cart:
    version = 0 if expected_version is None else expected_version + 1
    stored = msgspec.structs.replace(cart, version=version)
    c.execute(
        "INSERT INTO carts (cart_id, email_key, status, version, created_at, abandoned_at, "
        "data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cart_id) DO UPDATE SET "
        "email_key = excluded.email_key, status = excluded.status, version = "
        "excluded.version, abandoned_at = excluded.abandoned_at, data = excluded.data",
        (
            cart.cart_id,
            normalise_email(cart.email) if cart.email else None,
            str(cart.status),
            version,
            to_us(cart.created_at),
            to_us(cart.abandoned_at),
            cart_encoder.encode(stored),
        ),
    )
    return stored


ADD_AUDIT = (
    "INSERT INTO audit (cart_id, at, by, action, before, after, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def audit_row(entry: AuditEntry) -> tuple[object, ...]:
    return (
        entry.cart_id,
        to_us(entry.at),
        entry.by,
        entry.action,
        None if entry.before is None else json_encoder.encode(entry.before),
        None if entry.after is None else json_encoder.encode(entry.after),
        entry.detail,
    )


def add_audit(c: sqlite3.Connection, entry: AuditEntry | None) -> None:
    if entry is not None:
        c.execute(ADD_AUDIT, audit_row(entry))


def put_timer(c: sqlite3.Connection, cart_id: str, change: TimerChange | None) -> None:
    if change is None:
        return
    timer = timer_for(cart_id, change)
    if timer is None:
        c.execute(DELETE_TIMER, (cart_id,))
    else:
        c.execute(PUT_TIMER, (cart_id, to_us(timer.due), str(timer.kind), timer.step))


def put_send_timer(c: sqlite3.Connection, cart_id: str, change: TimerChange | None) -> None:
    """A send's timer change (``record_send``, ``finish_send``): a new timer only while the
    cart is open, checked inside the upsert; a cancel always applies."""
    timer = None if change is None else timer_for(cart_id, change)
    if timer is None:
        put_timer(c, cart_id, change)
        return
    c.execute(PUT_TIMER_IF_OPEN, (cart_id, to_us(timer.due), str(timer.kind), timer.step, cart_id))


PUT_TIMER_IF_OPEN = (
    "INSERT INTO timers (cart_id, due, kind, step) SELECT ?, ?, ?, ? "
    "WHERE (SELECT status FROM carts WHERE cart_id = ?) = 'open' "
    "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, kind = excluded.kind, "
    "step = excluded.step"
)
PUT_TIMER = (
    "INSERT INTO timers (cart_id, due, kind, step) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, kind = excluded.kind, "
    "step = excluded.step"
)
DELETE_TIMER = "DELETE FROM timers WHERE cart_id = ?"


def put_event_cart(c: sqlite3.Connection, cart: Cart, expected_version: int | None) -> None:
    """``_check`` then ``_put`` in one statement (the write path of every webhook event):
    a new cart is inserted only if none exists, a known one updated only at
    ``expected_version``; anything else is a StaleCart."""
    if expected_version is None:
        cur = c.execute(NEW_CART + " ON CONFLICT (cart_id) DO NOTHING", new_cart_row(cart))
    else:
        cur = c.execute(UPDATE_CART, cart_update_row(cart, expected_version))
    if cur.rowcount != 1:
        raise StaleCart(cart.cart_id)


NEW_CART = (
    "INSERT INTO carts (cart_id, email_key, status, version, created_at, abandoned_at, data) "
    "VALUES (?, ?, ?, 0, ?, ?, ?)"
)
UPDATE_CART = (
    "UPDATE carts SET email_key = ?, status = ?, version = ?, abandoned_at = ?, data = ? "
    "WHERE cart_id = ? AND version = ?"
)


def new_cart_row(cart: Cart) -> tuple[object, ...]:
    """``NEW_CART``'s parameters: ``cart`` at version 0."""
    return (
        cart.cart_id,
        normalise_email(cart.email) if cart.email else None,
        str(cart.status),
        to_us(cart.created_at),
        to_us(cart.abandoned_at),
        cart_encoder.encode(msgspec.structs.replace(cart, version=0)),
    )


def cart_update_row(cart: Cart, expected_version: int) -> tuple[object, ...]:
    """``UPDATE_CART``'s parameters: ``cart`` at ``expected_version + 1``."""
    version = expected_version + 1
    return (
        normalise_email(cart.email) if cart.email else None,
        str(cart.status),
        version,
        to_us(cart.abandoned_at),
        cart_encoder.encode(msgspec.structs.replace(cart, version=version)),
        cart.cart_id,
        expected_version,
    )


def upsert_send(c: sqlite3.Connection, r: SendRecord) -> None:
    c.execute(
        f"INSERT OR REPLACE INTO sends ({SEND_COLS}, recipient_key) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.cart_id,
            r.step,
            str(r.outcome),
            to_us(r.at),
            r.recipient,
            r.reason,
            None if r.due is None else to_us(r.due),
            r.message_id,
            r.attempts,
            normalise_email(r.recipient) if r.recipient else None,
        ),
    )


def linked(c: sqlite3.Connection, address: str) -> list[str]:
    rows = c.execute(
        "SELECT cart_id FROM carts WHERE email_key = ?1 "
        "UNION SELECT cart_id FROM sends WHERE recipient_key = ?1 "
        "UNION SELECT cart_id FROM events "
        "WHERE cr_address(json_extract(CAST(data AS TEXT), '$.email')) = ?1 "
        "ORDER BY cart_id",
        (address,),
    ).fetchall()
    return [r[0] for r in rows]
