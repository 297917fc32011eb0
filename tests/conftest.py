"""Shared builders for tests: carts, events and rules on a fixed virtual timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest

from cart_recovery.domain.model import UPDATED, Cart, CartEvent, Item, Outcome, SendRecord
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, parse_rules
from tests.aws.services import dynamodb_local, moto_server  # noqa: F401  (session fixtures)
from tests.fakes.drive_fixtures import drive, drive_key, drive_server  # noqa: F401  (fixtures)

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # 10:00 in New York: outside quiet hours


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


@pytest.fixture
def rules() -> Rules:
    return parse_rules(DEFAULT_RULES_TEXT)


def body_text(message: EmailMessage, kind: str = "plain") -> str:
    """The content of the message's ``kind`` part (``plain`` or ``html``); it must have one."""
    part = message.get_body((kind,))
    assert part is not None, f"the message has no {kind} part"
    return str(part.get_content())


def make_cart(**over: Any) -> Cart:
    base: dict[str, Any] = {
        "cart_id": "c1",
        "email": "maya@example.com",
        "name": "Maya",
        "items": (Item(title="Linen shirt", quantity=1, unit_price=Decimal("120.00")),),
        "total": Decimal("120.00"),
        "currency": "USD",
        "return_url": "https://shop.example/cart/c1",
        "created_at": T0,
        "abandoned_at": T0,
        "last_event_at": T0,
    }
    base.update(over)
    return Cart(**base)


def make_event(**over: Any) -> CartEvent:
    base: dict[str, Any] = {
        "event_id": "e1",
        "type": UPDATED,
        "cart_id": "c1",
        "occurred_at": T0,
        "email": "maya@example.com",
        "name": "Maya",
        "items": (Item(title="Linen shirt", quantity=1, unit_price=Decimal("120.00")),),
        "currency": "USD",
        "return_url": "https://shop.example/cart/c1",
    }
    base.update(over)
    return CartEvent(**base)


def sent(
    step: int,
    when: datetime,
    cart_id: str = "c1",
    to: str = "maya@example.com",
    outcome: Outcome = Outcome.SENT,
    reason: str | None = None,
) -> SendRecord:
    return SendRecord(
        cart_id=cart_id, step=step, outcome=outcome, at=when, recipient=to, reason=reason
    )
