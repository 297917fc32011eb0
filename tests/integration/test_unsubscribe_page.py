"""The shopper's unsubscribe link: a GET (which mail scanners prefetch) shows a confirm form and
changes nothing; the form's POST, or the RFC 8058 one-click POST, unsubscribes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cart_recovery.adapters.storefronts.generic import sign
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.embedded.clock import VirtualClock

START = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
SECRET = "unsub-secret-0123456789abcdef"
EMAIL = "maya@example.com"
TABLES = ("carts", "events", "sends", "audit", "unsubscribes", "timers", "clicks")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Embedded, TestClient]]:
    """A running service that holds one open cart of ``EMAIL``."""
    init_data_dir(tmp_path)
    (tmp_path / "config.toml").write_text(
        f'webhook_secrets = ["{SECRET}"]\n'
        'signing_key = "unsub-signing-key-0123456789"\n'
        'admin_token = "unsub-admin-token-0123456789"\n',
        encoding="utf-8",
    )
    rt = embedded(load_settings(tmp_path, {}), clock=VirtualClock(START), run_timers=False)
    client = TestClient(rt.app, base_url="http://testserver")
    body = json.dumps(
        {
            "event_id": "e1",
            "type": "cart.updated",
            "cart_id": "c1",
            "occurred_at": "2026-05-12T13:59:00Z",
            "email": EMAIL,
            "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "120.00"}],
            "currency": "USD",
        }
    ).encode()
    headers = {"Content-Type": "application/json", **sign(body, SECRET, int(START.timestamp()))}
    assert client.post("/webhooks/cart", content=body, headers=headers).status_code == 200
    try:
        yield rt, client
    finally:
        rt.close()


def counts(rt: Embedded) -> dict[str, int]:
    return {table: rt.store.count(table) for table in TABLES}


def test_get_shows_a_confirm_form_and_changes_nothing(shop: tuple[Embedded, TestClient]) -> None:
    rt, client = shop
    token = rt.tokens.unsubscribe_key(EMAIL, "c1")
    before = counts(rt)
    # When the link is opened (twice: a mail scanner, then the shopper)
    pages = [client.get(f"/u/{token}") for _ in range(2)]
    # Then each shows a form that posts back to the same link
    for page in pages:
        assert page.status_code == 200
        form = re.search(r'<form method="post" action="([^"]+)">', page.text)
        assert form is not None and form.group(1) == f"/u/{token}"
    # And the page names nobody: "this address" at most, never the shopper's
    assert all(EMAIL not in page.text for page in pages)
    # And nothing changed: the address is still subscribed, no row was written
    assert not rt.store.is_unsubscribed(EMAIL)
    assert counts(rt) == before


def test_posting_the_form_unsubscribes(shop: tuple[Embedded, TestClient]) -> None:
    rt, client = shop
    token = rt.tokens.unsubscribe_key(EMAIL, "c1")
    page = client.post(f"/u/{token}")
    assert page.status_code == 200
    assert "You're unsubscribed" in page.text
    assert rt.store.is_unsubscribed(EMAIL)
    assert rt.store.count("unsubscribes") == 1
    assert rt.store.audit("c1")[-1].action == "unsubscribed"


def test_one_click_post_unsubscribes_and_answers_json(shop: tuple[Embedded, TestClient]) -> None:
    rt, client = shop
    token = rt.tokens.unsubscribe_key(EMAIL, "c1")
    r = client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert r.json() == {"status": "unsubscribed"}
    assert rt.store.is_unsubscribed(EMAIL)


def test_a_link_of_the_first_kind_still_unsubscribes(shop: tuple[Embedded, TestClient]) -> None:
    # Given a link from an email sent before links named the address by its digest only
    rt, client = shop
    token = rt.tokens.unsubscribe(EMAIL)
    # When it is opened and confirmed
    assert client.get(f"/u/{token}").status_code == 200
    page = client.post(f"/u/{token}")
    # Then the address is unsubscribed and its cart has the audit row
    assert page.status_code == 200 and "You're unsubscribed" in page.text
    assert rt.store.is_unsubscribed(EMAIL)
    assert rt.store.audit("c1")[-1].action == "unsubscribed"


def test_a_link_whose_cart_changed_address_still_unsubscribes_its_recipient(
    shop: tuple[Embedded, TestClient],
) -> None:
    # Given a link to maya about a cart that now names nobody it can be checked against
    rt, client = shop
    token = rt.tokens.unsubscribe_key(EMAIL, "gone")
    # When it is confirmed with one click
    r = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click")
    # Then her address is on the list all the same
    assert r.json() == {"status": "unsubscribed"}
    assert rt.store.is_unsubscribed(EMAIL)
