"""The saved-link lane through every source that can say it, end to end on the running app:
a Shopify checkout carrying the ``saved_link`` cart attribute, and a Standard Webhooks
``cart.saved`` event. The reminder opens with the saved-cart line; the timing is the usual one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cart_recovery.adapters.storefronts import shopify, standard_webhooks
from tests.conftest import body_text
from tests.e2e.harness import SHOPIFY_SECRET, STANDARD_SECRET, LiveService

pytestmark = pytest.mark.e2e

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
SAVED_LINE = "Still saving these?"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path / "data", START)
    yield service
    service.close()


def opening_of(live: LiveService, address: str) -> str:
    [message] = [m for m in live.inbox.messages if address in str(m["To"])]
    text: str = body_text(message)
    return text


def test_a_shopify_checkout_with_the_saved_link_attribute_gets_the_saved_copy(
    live: LiveService,
) -> None:
    # Given two Shopify checkouts at 10:00, one carrying the theme's saved_link cart attribute
    base: dict[str, Any] = json.loads((FIXTURES / "checkouts_create.json").read_text())
    saved = {
        **base,
        "token": "saved-checkout",
        "email": "ana@example.com",
        "note_attributes": [{"name": "saved_link", "value": "true"}],
    }
    plain = {**base, "token": "plain-checkout", "email": "ben@example.com"}
    for n, payload in enumerate((saved, plain)):
        body = json.dumps(payload).encode()
        headers = {
            **shopify.sign(body, SHOPIFY_SECRET),
            "X-Shopify-Topic": "checkouts/create",
            "X-Shopify-Webhook-Id": f"wh-saved-{n}",
        }
        answer = live.post_raw("/webhooks/shopify", body, headers)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
    cart, _ = live.rt.store.load("saved-checkout")
    assert cart is not None and cart.saved_link
    # When the usual wait for their size passes ($104: medium, two hours)
    live.advance(START + timedelta(hours=1, minutes=59))
    assert live.inbox.messages == []
    live.advance(START + timedelta(hours=2))
    # Then both are reminded at the same time, and only the saved one opens with the saved line
    assert SAVED_LINE in opening_of(live, "ana@example.com")
    assert SAVED_LINE not in opening_of(live, "ben@example.com")


def test_a_standard_webhooks_cart_saved_event_gets_the_saved_copy(live: LiveService) -> None:
    # Given a sender on the Standard Webhooks scheme reporting a saved cart
    event = {
        "type": "cart.saved",
        "cart_id": "sw-saved",
        "occurred_at": START.isoformat(),
        "email": "cleo@example.com",
        "name": "Cleo",
        "items": [{"title": "Wool throw", "quantity": 1, "unit_price": "30.00"}],
        "currency": "USD",
        "return_url": "https://shop.example/cart/sw-saved",
    }
    body = json.dumps(event).encode()
    headers = standard_webhooks.sign(body, STANDARD_SECRET, "msg_saved", int(START.timestamp()))
    answer = live.post_raw("/webhooks/standard", body, headers)
    assert answer.json() == {"status": "accepted", "event_id": "msg_saved", "cart_id": "sw-saved"}
    # When the small-cart wait passes ($30: four hours)
    live.advance(START + timedelta(hours=3, minutes=59))
    assert live.inbox.messages == []
    live.advance(START + timedelta(hours=4))
    # Then the reminder opens with the saved-cart line
    assert SAVED_LINE in opening_of(live, "cleo@example.com")
