"""Keyed digests of addresses, and what erasing a shopper leaves behind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cart_recovery.domain.model import AuditEntry, Outcome, SendRecord, cart_snapshot
from cart_recovery.domain.privacy import (
    UNKEYED,
    EmailKey,
    anonymise_audit,
    anonymise_cart,
    anonymise_event,
    shopper_export,
)
from tests.conftest import T0, make_cart, make_event

KEY = EmailKey.from_signing_key("unit-signing-key-0123456789")


def test_the_digest_is_keyed_and_ignores_case_and_spaces() -> None:
    assert KEY.digest(" Maya@Example.COM ") == KEY.digest("maya@example.com")
    assert KEY.digest("maya@example.com").startswith("h1:")
    assert KEY.digest("maya@example.com") != UNKEYED.digest("maya@example.com")
    assert KEY.digest("maya@example.com") != KEY.digest("maya@example.org")
    assert "maya" not in KEY.digest("maya@example.com")


def test_the_key_is_derived_and_never_shown() -> None:
    assert KEY.secret != b"unit-signing-key-0123456789"
    assert "unit-signing-key" not in repr(KEY)
    assert KEY.check == EmailKey.from_signing_key("unit-signing-key-0123456789").check
    with pytest.raises(ValueError, match="at least 16"):
        EmailKey.from_signing_key("short")


def test_anonymous_cart_keeps_counts_and_times() -> None:
    cart = make_cart(version=3)
    anon = anonymise_cart(cart)
    assert (anon.email, anon.name, anon.items, anon.return_url) == (None, None, (), None)
    assert (anon.total, anon.currency, anon.status, anon.created_at, anon.version) == (
        cart.total,
        cart.currency,
        cart.status,
        cart.created_at,
        3,
    )


def test_anonymous_event_and_audit_rows() -> None:
    event = anonymise_event(make_event(total=None))
    assert (event.email, event.name, event.items, event.return_url) == (None, None, None, None)
    assert event.event_id == "e1" and event.occurred_at == T0
    snap = cart_snapshot(make_cart())
    row = anonymise_audit(
        AuditEntry(cart_id="c1", at=T0, by="system", action="created", before=None, after=snap)
    )
    assert row.before is None and row.after is not None
    assert row.after["email"] is None and row.after["items"] == []
    assert snap is not None and row.after["total"] == snap["total"]


def test_shopper_export_is_json_ready() -> None:
    cart = make_cart()
    sent = SendRecord(
        cart_id="c1", step=1, outcome=Outcome.SENT, at=T0 + timedelta(hours=2), recipient="m@x.y"
    )
    data = shopper_export(
        "Maya@Example.com",
        unsubscribed=True,
        carts=[("c1", cart), ("gone", None)],
        events={"c1": [(make_event(), T0)]},
        sends={"c1": [sent]},
        clicks={"c1": [(1, T0 + timedelta(hours=3))]},
        audit={"c1": [AuditEntry(cart_id="c1", at=T0, by="system", action="created")]},
        now=T0,
    )
    assert data["email"] == "maya@example.com" and data["unsubscribed"] is True
    first, second = data["carts"]
    assert first["cart_id"] == "c1" and first["total"] == "120.00" and "version" not in first
    assert first["reminders"][0]["at"] == "2026-05-12T16:00:00Z"
    assert first["clicks"] == [{"step": 1, "at": "2026-05-12T17:00:00Z"}]
    assert first["events"][0]["event_id"] == "e1"
    assert first["history"] == [
        {"at": "2026-05-12T14:00:00Z", "by": "system", "action": "created", "detail": None}
    ]
    assert second == {"cart_id": "gone", "events": [], "reminders": [], "clicks": [], "history": []}
