"""Storefronts end to end: Shopify-shaped checkout and order webhooks, Standard Webhooks and the
saved-link lane, posted to the running app (uvicorn on 127.0.0.1, a real SMTP server)."""

from __future__ import annotations

import json
import re
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
TOKEN = "b1946ac92492d2347c6235b4d2611184"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path / "data", START)
    yield service
    service.close()


def post_shopify(
    live: LiveService,
    topic: str,
    payload: dict[str, Any],
    webhook_id: str,
    *,
    secret: str = SHOPIFY_SECRET,
    tamper: bool = False,
) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify.sign(body, secret)["X-Shopify-Hmac-Sha256"],
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "harbor-goods.myshopify.com",
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Triggered-At": live.clock.now().isoformat(),
    }
    if tamper:
        body = body.replace(b'"120.00"', b'"1.00"').replace(b'"104.00"', b'"1.00"')
    return live.post_raw("/webhooks/shopify", body, headers)


def shopify_cart(live: LiveService) -> Any:
    cart, _ = live.rt.store.load(TOKEN)
    return cart


def test_shopify_checkouts_become_a_cart_and_an_order_stops_the_chase(live: LiveService) -> None:
    # Given Maya starts a Shopify checkout at 10:00 and adds a tote at 10:20
    created = post_shopify(live, "checkouts/create", fixture("checkouts_create"), "wh-1")
    assert created.status_code == 200, created.text
    assert created.json() == {"status": "accepted", "event_id": "wh-1", "cart_id": TOKEN}
    cart = shopify_cart(live)
    assert cart.email == "maya@example.com" and cart.name == "Maya"
    assert [(i.title, i.quantity, str(i.unit_price)) for i in cart.items] == [
        ("Linen shirt", 1, "68.00"),
        ("Beeswax candle", 2, "18.00"),
    ]
    assert str(cart.total) == "104.00" and cart.currency == "USD"
    assert cart.marketing_consent is True
    assert cart.return_url == fixture("checkouts_create")["abandoned_checkout_url"]

    live.advance(START + timedelta(minutes=20))
    updated = post_shopify(live, "checkouts/update", fixture("checkouts_update"), "wh-2")
    assert updated.json()["status"] == "accepted"
    cart = shopify_cart(live)
    assert len(cart.items) == 3 and str(cart.total) == "120.00"
    assert cart.abandoned_at == START + timedelta(minutes=20)

    # When the same delivery comes again (Shopify retries), nothing changes
    before = live.counts()
    again = post_shopify(live, "checkouts/update", fixture("checkouts_update"), "wh-2")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert live.counts() == before

    # Then the first reminder goes out two hours after the last change ($120: medium)
    live.advance(START + timedelta(hours=2, minutes=19))
    assert live.inbox.messages == []
    live.advance(START + timedelta(hours=2, minutes=20))
    [first] = live.inbox.messages
    text = body_text(first)
    for needle in ("Hi Maya", "Linen shirt", "Beeswax candle", "Canvas tote", "$120.00"):
        assert needle in text
    link = re.search(r"http://127\.0\.0\.1:\d+(/r/\S+)", text)
    assert link is not None
    back = live.http.get(link.group(1), follow_redirects=False)
    assert back.headers["location"] == fixture("checkouts_update")["abandoned_checkout_url"]

    # When she orders the next morning, before the second reminder (due 08:20)
    live.advance(datetime(2026, 5, 13, 8, 10, tzinfo=NY))
    order = post_shopify(live, "orders/create", fixture("orders_create"), "wh-3")
    assert order.json() == {"status": "accepted", "event_id": "wh-3", "cart_id": TOKEN}
    assert shopify_cart(live).status == "bought"
    # Then the chase has stopped: no second reminder, ever, and no timer is left
    live.advance(START + timedelta(days=10))
    assert len(live.inbox.messages) == 1
    assert live.http.get("/healthz").json()["pending_wakeups"] == 0
    # And a repeated order webhook is a no-op
    before = live.counts()
    assert (
        post_shopify(live, "orders/create", fixture("orders_create"), "wh-3").json()["status"]
        == "duplicate"
    )
    assert live.counts() == before


def test_shopify_wrong_or_missing_signature_is_refused_and_nothing_is_stored(
    live: LiveService,
) -> None:
    before = live.counts()
    wrong = post_shopify(
        live,
        "checkouts/create",
        fixture("checkouts_create"),
        "wh-1",
        secret="someone-elses-shopify-secret-0000",
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "bad_signature"
    assert wrong.json()["field"] == "x-shopify-hmac-sha256"
    tampered = post_shopify(
        live, "checkouts/create", fixture("checkouts_create"), "wh-1", tamper=True
    )
    assert tampered.status_code == 401
    body = json.dumps(fixture("orders_create")).encode()
    unsigned = live.post_raw(
        "/webhooks/shopify", body, {"X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "w"}
    )
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "unsigned"
    generic_signature = live.post_raw(  # another source's signature is no signature here
        "/webhooks/shopify",
        body,
        {"X-Shopify-Topic": "orders/create", "X-Cart-Signature": "sha256=00"},
    )
    assert generic_signature.status_code == 401
    assert live.counts() == before
    assert shopify_cart(live) is None
    # and the genuine delivery is still accepted afterwards (a refused id is not burnt)
    ok = post_shopify(live, "checkouts/create", fixture("checkouts_create"), "wh-1")
    assert ok.json()["status"] == "accepted"


def test_an_order_that_arrives_before_its_checkout_still_wins(live: LiveService) -> None:
    order = post_shopify(live, "orders/create", fixture("orders_create"), "wh-9")
    assert order.json()["status"] == "accepted"
    late = post_shopify(live, "checkouts/update", fixture("checkouts_update"), "wh-8")
    assert late.status_code == 200
    assert shopify_cart(live).status == "bought"
    live.advance(START + timedelta(days=10))
    assert live.inbox.messages == []


def test_shopify_topics_it_does_not_use_are_acknowledged_and_bad_payloads_named(
    live: LiveService,
) -> None:
    before = live.counts()
    other = post_shopify(live, "products/update", {"id": 1, "title": "Mug"}, "wh-p")
    assert other.status_code == 200 and other.json()["status"] == "ignored"
    pos_order = {**fixture("orders_create"), "checkout_token": None, "source_name": "pos"}
    pos = post_shopify(live, "orders/create", pos_order, "wh-pos")
    assert pos.status_code == 200 and pos.json()["status"] == "ignored"
    bad = fixture("checkouts_create")
    bad["line_items"][1]["quantity"] = 0
    refused = post_shopify(live, "checkouts/create", bad, "wh-bad")
    assert refused.status_code == 400
    assert refused.json()["field"] == "line_items[1].quantity"
    no_token = {k: v for k, v in fixture("checkouts_create").items() if k != "token"}
    assert post_shopify(live, "checkouts/create", no_token, "wh-nt").json()["field"] == "token"
    assert live.counts() == before


def standard_post(
    live: LiveService,
    payload: dict[str, Any],
    msg_id: str,
    *,
    secret: str = STANDARD_SECRET,
    at: datetime | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    ts = int((at or live.clock.now()).timestamp())
    headers = standard_webhooks.sign(body, secret, msg_id, ts)
    return live.post_raw("/webhooks/standard", body, headers)


def cart_event(cart: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "cart.updated",
        "cart_id": cart,
        "occurred_at": START.isoformat(),
        "email": "jordan@example.com",
        "name": "Jordan",
        "items": [{"title": "Stoneware mug", "quantity": 2, "unit_price": "24.00"}],
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart}",
    }
    body.update(extra)
    return body


def test_standard_webhooks_signed_events_are_accepted_once(live: LiveService) -> None:
    # Given a sender that signs with the Standard Webhooks scheme (the event id is the msg id)
    first = standard_post(live, cart_event("sw-1"), "msg_2pQ7")
    assert first.json() == {"status": "accepted", "event_id": "msg_2pQ7", "cart_id": "sw-1"}
    # the same message again is a no-op
    before = live.counts()
    assert standard_post(live, cart_event("sw-1"), "msg_2pQ7").json()["status"] == "duplicate"
    assert live.counts() == before
    # the envelope form ({type, timestamp, data}) works too
    envelope = {
        "type": "cart.checked_out",
        "timestamp": (START + timedelta(minutes=5)).isoformat(),
        "data": {"cart_id": "sw-1"},
    }
    paid = standard_post(live, envelope, "msg_3xY9")
    assert paid.json()["status"] == "accepted"
    cart, _ = live.rt.store.load("sw-1")
    assert cart is not None and cart.status == "bought"
    live.advance(START + timedelta(days=10))
    assert live.inbox.messages == []


def test_standard_webhooks_refuses_bad_signatures_and_replays(live: LiveService) -> None:
    before = live.counts()
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    assert standard_post(live, cart_event("sw-2"), "m1", secret=other).status_code == 401
    stale = standard_post(live, cart_event("sw-2"), "m2", at=START - timedelta(minutes=6))
    assert stale.status_code == 401 and stale.json()["error"] == "stale_timestamp"
    body = json.dumps(cart_event("sw-2")).encode()
    headers = standard_webhooks.sign(body, STANDARD_SECRET, "m3", int(START.timestamp()))
    headers["webhook-id"] = "m4"  # the id is signed too
    assert live.post_raw("/webhooks/standard", body, headers).status_code == 401
    bad = standard_post(live, cart_event("sw-2", items=[{"title": "x", "quantity": -1}]), "m5")
    assert bad.status_code == 400 and bad.json()["field"] == "items[0].quantity"
    bad_env = standard_post(live, {"type": "cart.updated", "data": {"cart_id": "x"}}, "m6")
    assert bad_env.status_code == 400 and bad_env.json()["field"] == "data.occurred_at"
    assert live.counts() == before


def test_the_saved_link_lane_changes_the_copy_not_the_timing(live: LiveService) -> None:
    # Given a cart that starts from a saved link (cart.saved), and an ordinary one
    saved = {
        "event_id": "s-1",
        "type": "cart.saved",
        "cart_id": "saved-1",
        "occurred_at": START.isoformat(),
        "email": "ana@example.com",
        "name": "Ana",
        "items": [{"title": "Wool throw", "quantity": 1, "unit_price": "90.00"}],
        "currency": "USD",
        "return_url": "https://shop.example/cart/saved-1",
    }
    assert live.post_event(saved).json()["status"] == "accepted"
    plain = {**saved, "event_id": "p-1", "type": "cart.updated", "cart_id": "plain-1"}
    plain["email"] = "ben@example.com"
    assert live.post_event(plain).json()["status"] == "accepted"
    # When two hours pass (the same medium-cart wait for both)
    live.advance(START + timedelta(hours=2))
    by_to = {str(m["To"]): body_text(m) for m in live.inbox.messages}
    assert len(by_to) == 2
    [ana] = [t for to, t in by_to.items() if "ana@" in to]
    [ben] = [t for to, t in by_to.items() if "ben@" in to]
    # Then the saved cart's reminder opens "Still saving these?"; the other does not
    assert "Still saving these?" in ana and "Still saving these?" not in ben
    # And a later update to a saved cart keeps the tag
    cart, _ = live.rt.store.load("saved-1")
    assert cart is not None and cart.saved_link


def test_a_source_that_is_not_configured_says_so(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from cart_recovery.bootstrap.embedded import embedded, init_data_dir
    from cart_recovery.config.settings import load_settings
    from cart_recovery.embedded.clock import VirtualClock

    init_data_dir(tmp_path)
    rt = embedded(load_settings(tmp_path, {}), clock=VirtualClock(START), run_timers=False)
    try:
        with TestClient(rt.app) as client:
            answer = client.post("/webhooks/shopify", content=b"{}")
            assert answer.status_code == 404
            assert "shopify_secrets" in answer.json()["message"]
    finally:
        rt.close()
