"""End to end: uvicorn on 127.0.0.1, a real SMTP server, signed events in, reminders out at the
right (virtual) times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import body_text
from tests.e2e.harness import OLD_SECRET, LiveService

pytestmark = pytest.mark.e2e

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path / "data", START)
    yield service
    service.close()


def event(
    n: int, cart: str = "c1", kind: str = "cart.updated", when: datetime = START, **extra: Any
) -> dict[str, Any]:
    body = {
        "event_id": f"{cart}-{n}",
        "type": kind,
        "cart_id": cart,
        "occurred_at": when.isoformat(),
        "email": "maya@example.com",
        "name": "Maya",
        "items": [
            {"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"},
            {"title": "Beeswax candle", "quantity": 2, "unit_price": 18},
            {"title": "Canvas tote", "quantity": 1, "unit_price": 16.0},
        ],
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart}",
    }
    body.update(extra)
    return body


def test_reminders_arrive_over_smtp_at_the_waits(live: LiveService) -> None:
    # Given a $120 cart left at 10:00 (medium: 2 hours, then 22)
    assert live.post_event(event(1)).json() == {"status": "accepted", "event_id": "c1-1"}
    # When the clock reaches 11:59 nothing has gone out
    live.advance(START + timedelta(hours=1, minutes=59))
    assert live.inbox.messages == []
    # Then at 12:00 the first reminder arrives
    live.advance(START + timedelta(hours=2))
    [first] = live.inbox.messages
    assert first["To"] == "Maya <maya@example.com>" or "maya@example.com" in str(first["To"])
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = body_text(first)
    assert "Linen shirt" in text and "$120.00" in text
    # And the second at 08:00 the next day, then nothing more
    live.advance(START + timedelta(hours=21, minutes=59))
    assert len(live.inbox.messages) == 1
    live.advance(START + timedelta(hours=22))
    assert len(live.inbox.messages) == 2
    live.advance(START + timedelta(days=10))
    assert len(live.inbox.messages) == 2
    assert live.http.get("/healthz").json()["pending_wakeups"] == 0
    metrics = live.http.get("/metrics").text
    assert 'cart_recovery_sends_total{step="1"} 1.0' in metrics
    assert 'cart_recovery_sends_total{step="2"} 1.0' in metrics
    assert 'cart_recovery_events_total{outcome="accepted"} 1.0' in metrics
    assert 'cart_recovery_closed_total{reason="gave_up"} 1.0' in metrics


def test_checkout_before_the_first_wait_means_no_email(live: LiveService) -> None:
    live.post_event(event(1))
    live.advance(START + timedelta(hours=1))
    paid = live.post_event(event(2, kind="cart.checked_out", when=START + timedelta(hours=1)))
    assert paid.status_code == 200
    live.advance(START + timedelta(days=10))
    assert live.inbox.messages == []


def test_unsubscribe_stops_every_cart_of_the_address(live: LiveService) -> None:
    live.post_event(event(1))
    live.advance(START + timedelta(hours=2))
    [first] = live.inbox.messages
    url = str(first["List-Unsubscribe"]).strip("<>")
    path = url.split(str(live.port), 1)[1]
    # A GET (a mail scanner prefetching) shows a page and changes nothing
    page = live.http.get(path)
    assert page.status_code == 200 and "<form" in page.text
    assert not live.rt.store.is_unsubscribed("maya@example.com")
    # The RFC 8058 one-click POST unsubscribes
    one_click = live.http.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    # A second cart of the same address (other case) is not reminded either
    live.post_event(event(1, cart="c2", email="MAYA@example.com", when=START + timedelta(hours=3)))
    live.advance(START + timedelta(hours=3))
    live.advance(START + timedelta(days=10))
    assert len(live.inbox.messages) == 1


def test_a_redelivered_event_changes_nothing(live: LiveService) -> None:
    assert live.post_event(event(1)).json()["status"] == "accepted"
    before = live.counts()
    again = live.post_event(event(1, name="Someone Else"))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert live.counts() == before
    cart, _ = live.rt.store.load("c1")
    assert cart is not None and cart.name == "Maya"


def test_the_old_secret_still_works_during_a_rotation(live: LiveService) -> None:
    assert live.post_event(event(1), secret=OLD_SECRET).status_code == 200


def test_unsigned_and_malformed_requests_store_nothing(live: LiveService) -> None:
    before = live.counts()
    unsigned = live.http.post("/webhooks/cart", json=event(1))
    assert unsigned.status_code == 401
    assert unsigned.json()["field"] == "x-cart-timestamp"
    wrong = live.post_event(event(1), secret="not-the-secret-at-all-000000")
    assert wrong.status_code == 401 and wrong.json()["error"] == "bad_signature"
    bad_time = live.post_event(event(1, occurred_at="yesterday"))
    assert bad_time.status_code == 400 and bad_time.json()["field"] == "occurred_at"
    bad_qty = live.post_event(event(1, items=[{"title": "x", "quantity": 0}]))
    assert bad_qty.status_code == 400 and bad_qty.json()["field"] == "items[0].quantity"
    missing = event(1)
    del missing["cart_id"]
    assert live.post_event(missing).json()["field"] == "cart_id"
    bad_zone = live.post_event(event(1, timezone="Nowhere/Special"))
    assert bad_zone.status_code == 400 and bad_zone.json()["field"] == "timezone"
    stale = live.http.post(
        "/webhooks/cart",
        content=b"{}",
        headers={
            "X-Cart-Timestamp": str(int((live.clock.now() - timedelta(minutes=6)).timestamp())),
            "X-Cart-Signature": "sha256=00",
        },
    )
    assert stale.status_code == 401 and stale.json()["error"] == "stale_timestamp"
    huge = live.post_event(event(1, name="x" * (300 * 1024)))
    assert huge.status_code == 413
    assert live.counts() == before


def test_return_link_redirects_only_to_the_stored_url(live: LiveService) -> None:
    live.post_event(event(1))
    live.advance(START + timedelta(hours=2))
    html = body_text(live.inbox.messages[0], "html")
    import re

    link = re.search(r'href="http://127\.0\.0\.1:\d+(/r/[^"]+)"', html)
    assert link is not None
    response = live.http.get(link.group(1) + "?next=https://evil.example", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "https://shop.example/cart/c1"
    forged = live.http.get("/r/forged-token", follow_redirects=False)
    assert forged.status_code == 404
