"""The owner's dashboard in real headless Chromium, against the embedded service on 127.0.0.1.

Screenshots of each page (desktop and phone) go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn

from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.model import CHECKED_OUT, Item, Status
from cart_recovery.embedded.clock import VirtualClock
from tests.browser.conftest import phone, shot
from tests.conftest import make_event

pytestmark = pytest.mark.browser

NY = ZoneInfo("America/New_York")
DAY = datetime(2026, 5, 12, 0, 0, tzinfo=NY)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def item(title: str, price: str, quantity: int = 1) -> Item:
    return Item(title=title, quantity=quantity, unit_price=Decimal(price))


class Shop:
    """The embedded service on 127.0.0.1 with a day of carts behind it (virtual clock)."""

    def __init__(self, data_dir: Path) -> None:
        init_data_dir(data_dir)
        self.port = free_port()
        self.settings = load_settings(
            data_dir, {"CART_RECOVERY_BASE_URL": f"http://127.0.0.1:{self.port}"}
        )
        self.clock = VirtualClock(at(7))
        self.rt: Embedded = embedded(self.settings, clock=self.clock, run_timers=False)
        self.base = f"http://127.0.0.1:{self.port}"

    def event(self, when: datetime, **over: Any) -> None:
        self.advance(when)
        fields: dict[str, Any] = {"occurred_at": when, "timezone": "America/New_York"}
        fields.update(over)
        self.rt.service.ingest(make_event(**fields), when)

    def advance(self, to: datetime) -> None:
        """Fire every wake-up on the way, each at its own time."""
        while (due := self.rt.store.next_due()) is not None and due <= to:
            self.clock.set(max(due, self.clock.now()))
            self.rt.loop.run_due(self.clock.now())
        self.clock.set(max(to, self.clock.now()))

    def click(self, cart_id: str, when: datetime) -> None:
        self.advance(when)
        self.rt.service.follow_return_link(cart_id, 1, when)

    def checkout(self, when: datetime, cart_id: str, email: str) -> None:
        self.event(
            when,
            event_id="paid",
            type=CHECKED_OUT,
            cart_id=cart_id,
            email=email,
            name=None,
            items=None,
            return_url=None,
        )

    def seed(self) -> None:
        """Six carts of one Tuesday: one clicked then bought, one bought after a reminder,
        one bought before any, two still open, one without an address."""
        self.event(
            at(8, 5),
            cart_id="A-1041",
            email="maya@example.com",
            name="Maya Lind",
            items=(item("Linen shirt", "68.00"), item("Beeswax candle", "18.00", 2)),
            return_url="https://shop.example/cart/A-1041",
        )
        self.event(
            at(8, 40),
            cart_id="A-1042",
            email="jo.park@example.com",
            name="Jo Park",
            items=(item("Ceramic mug", "14.00", 2),),
        )
        self.event(
            at(9, 15),
            cart_id="A-1043",
            email="sam@example.net",
            name="Sam Okafor",
            items=(item("Wool throw", "189.00"), item("Tea towel set", "24.00")),
        )
        self.checkout(at(9, 50), "A-1043", "sam@example.net")
        self.event(
            at(10, 0),
            cart_id="A-1044",
            email="priya.n@example.org",
            name="Priya Nair",
            items=(item("Oak serving board", "72.00"),),
        )
        self.click("A-1041", at(11, 10))
        self.checkout(at(11, 30), "A-1041", "maya@example.com")
        self.event(
            at(13, 20),
            cart_id="A-1045",
            email="lee@example.com",
            name="Lee",
            items=(item("Brass candle holder", "36.00"),),
        )
        self.event(
            at(14, 5),
            cart_id="A-1046",
            email=None,
            name=None,
            items=(item("Linen napkins", "32.00"),),
        )
        self.checkout(at(14, 10), "A-1042", "jo.park@example.com")
        self.advance(at(15, 45))

    def start(self) -> None:
        config = uvicorn.Config(self.rt.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.rt.close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(tmp_path / "data")
    s.seed()
    s.start()
    yield s
    s.close()


def log_in(page: Any, shop: Shop) -> None:
    page.goto(f"{shop.base}/admin/")
    page.fill("#token", shop.settings.admin_token)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{shop.base}/admin/")


def test_the_owner_finds_a_cart_suppresses_it_and_sees_the_audit(shop: Shop, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Given a logged-out visitor: every dashboard page sends them to the login form
    page.goto(f"{shop.base}/admin/carts/A-1044")
    assert page.url == f"{shop.base}/admin/login?next=%2Fadmin%2Fcarts%2FA-1044"
    assert page.locator("h1").inner_text() == "Cart recovery dashboard"
    shot(page, "login")
    api = context.request.get(f"{shop.base}/admin/api/carts")
    assert api.status == 401 and api.json()["error"] == "login_required"
    # and a forged action link is refused, changing nothing
    forged = page.goto(f"{shop.base}/a/WyJzdXBwcmVzcyIsIkEtMTA0NCJd.forged.signature")
    assert forged is not None and forged.status == 404
    assert "This link doesn't work" in page.inner_text("main")
    assert page.locator("form").count() == 0

    # When the owner logs in with the admin token (and lands where they were going)
    page.goto(f"{shop.base}/admin/carts/A-1044")
    page.fill("#token", "not the token")
    page.click("button:has-text('Log in')")
    assert "That token doesn't match" in page.inner_text("main")
    page.fill("#token", shop.settings.admin_token)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{shop.base}/admin/carts/A-1044")

    # Then today's carts are listed with what happened to them
    page.click("a:has-text('Carts')")
    rows = page.locator(".list tbody tr")
    assert rows.count() == 6
    listing = page.inner_text(".list")
    assert "Recovered · clicked" in listing and "Recovered · no click" in listing
    assert "Came back on their own" in listing and "no email yet" in listing
    shot(page, "carts-today")

    # When they search by email and open the cart
    page.fill("input[name=q]", "PRIYA.N@")
    page.click("button:has-text('Search')")
    assert page.locator(".list tbody tr").count() == 1
    page.click("a.cart:has-text('A-1044')")
    assert page.locator("#status").inner_text() == "Open"
    shot(page, "cart-open")

    # and suppress it, through the confirmation
    page.click("a:has-text('Suppress this cart')")
    assert "Suppress cart A-1044?" in page.inner_text("h1")
    shot(page, "confirm-suppress")
    page.click("button:has-text('Suppress cart')")

    # Then the cart shows closed, with the owner's audit row
    page.wait_for_url(f"{shop.base}/admin/carts/A-1044")
    assert "Cart A-1044 is suppressed" in page.inner_text(".flash")
    assert page.locator("#status").inner_text() == "Closed · suppressed"
    audit = page.locator("#audit tr.audit-row").last
    assert audit.locator(".l-who").inner_text() == "owner"
    assert audit.locator(".l-what").inner_text().startswith("suppressed")
    assert "status: open → closed" in audit.inner_text()
    cart, _ = shop.rt.store.load("A-1044")
    assert cart is not None and cart.status is Status.CLOSED and cart.close_reason == "suppressed"
    shot(page, "cart-suppressed")

    # The other pages, for the record
    page.click("a:has-text('Rules & voice')")
    assert "reads fine" in page.inner_text("main")
    shot(page, "docs")
    page.click("a:has-text('Privacy')")
    shot(page, "privacy")
    page.goto(f"{shop.base}/admin/carts/A-1041")
    shot(page, "cart-recovered")
    context.close()


def test_the_dashboard_on_a_phone(shop: Shop, chromium: Any) -> None:
    context = phone(chromium)
    page = context.new_page()
    log_in(page, shop)
    # Nothing is wider than the screen, and the buttons are big enough to tap
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    box = page.locator("button:has-text('Search')").bounding_box()
    assert box is not None and box["height"] >= 44
    shot(page, "phone-carts")
    page.goto(f"{shop.base}/admin/carts/A-1041")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-cart")
    page.goto(f"{shop.base}/admin/docs")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-docs")
    page.goto(f"{shop.base}/admin/privacy")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-privacy")
    context.close()
