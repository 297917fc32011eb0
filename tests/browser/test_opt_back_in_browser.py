"""A shopper unsubscribes and opts back in from their own reminder's link, in real headless
Chromium against the embedded service on 127.0.0.1; an address suppressed by a spam complaint
cannot be put back by its link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.domain.feedback import Feedback, MailFeedback
from tests.browser.conftest import shot
from tests.browser.test_dashboard_browser import Shop, at, item

pytestmark = pytest.mark.browser

MAYA = "maya@example.com"
JO = "jo.park@example.com"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(tmp_path / "data")
    s.start()
    yield s
    s.close()


def reminders_to(shop: Shop, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(shop.settings.outbox.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if str(message["To"]).endswith(f"<{address}>") or str(message["To"]) == address:
            found.append(message)
    return found


def unsubscribe_link(message: EmailMessage) -> str:
    """The footer link of the reminder, as the List-Unsubscribe header gives it."""
    links = [part.strip(" <>") for part in str(message["List-Unsubscribe"]).split(",")]
    [http] = [link for link in links if link.startswith("http")]
    return http


def test_a_shopper_unsubscribes_opts_back_in_and_is_reminded_again(
    shop: Shop, chromium: Any
) -> None:
    page = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    # Given Maya was reminded about her cart
    shop.event(at(8), cart_id="A-1", email=MAYA, name="Maya", items=(item("Linen shirt", "68"),))
    shop.advance(at(12))
    [first] = reminders_to(shop, MAYA)
    link = unsubscribe_link(first)
    assert MAYA not in link and "maya" not in link.lower()

    # When she follows the footer link and confirms
    page.goto(link)
    assert "Stop cart reminders" in page.inner_text("h1")
    page.click("button:has-text('Unsubscribe')")
    assert page.inner_text("h1") == "You're unsubscribed"
    assert shop.rt.store.is_unsubscribed(MAYA)
    shot(page, "unsubscribed-phone")

    # And changes her mind
    assert "Changed your mind?" in page.inner_text("main")
    page.click("button:has-text('Get reminders again')")
    assert page.inner_text("h1") == "Reminders are back on"
    shot(page, "opted-back-in-phone")
    assert not shop.rt.store.is_unsubscribed(MAYA)
    audit = [(row.action, row.by) for row in shop.rt.store.audit("A-1")]
    assert audit[-2:] == [("unsubscribed", "shopper"), ("resubscribed", "shopper")]

    # Then a later cart of hers (after the do-not-disturb window) is reminded again
    later = at(13) + timedelta(days=5)
    shop.event(later, cart_id="A-2", email=MAYA, name="Maya", items=(item("Candle", "18"),))
    shop.advance(later + timedelta(hours=6))
    # (her first cart's second reminder went out too, once she was back on)
    assert [s.outcome for s in shop.rt.store.load("A-1")[1]] == ["sent", "sent"]
    assert len(reminders_to(shop, MAYA)) == 3
    sends = shop.rt.store.load("A-2")[1]
    assert [(s.step, str(s.outcome)) for s in sends] == [(1, "sent")]


def test_an_address_suppressed_by_a_complaint_cannot_opt_back_in(shop: Shop, chromium: Any) -> None:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    # Given Jo was reminded, then marked the reminder as spam (the provider told us)
    shop.event(at(8), cart_id="B-1", email=JO, name="Jo", items=(item("Ceramic mug", "14"),))
    shop.advance(at(12))
    [reminder] = reminders_to(shop, JO)
    complaint = MailFeedback(Feedback.COMPLAINT, JO, "ses", "abuse")
    shop.rt.service.mail_feedback(complaint, at(12, 30))
    suppressed = shop.rt.store.suppression(JO)
    assert suppressed is not None and suppressed.source == "complaint"

    # When Jo's own link is followed, and "Get reminders again" pressed
    page.goto(unsubscribe_link(reminder))
    page.click("button:has-text('Unsubscribe')")
    assert page.inner_text("h1") == "You're unsubscribed"
    with page.expect_response(lambda r: r.url.endswith("/again")) as answer:
        page.click("button:has-text('Get reminders again')")
    assert answer.value.status == 409

    # Then the page says why, and the address stays off the list for good
    assert page.inner_text("h1") == "We can't turn reminders back on here"
    assert "reported as spam" in page.inner_text("main")
    shot(page, "opt-back-in-refused")
    row = shop.rt.store.suppression(JO)
    assert row is not None and row.source == "complaint"
    assert "resubscribed" not in [r.action for r in shop.rt.store.audit("B-1")]
