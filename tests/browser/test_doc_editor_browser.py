"""The owner edits the rules in real headless Chromium, against the embedded service on
127.0.0.1 (virtual clock): a bad line named by its number, the preview from the edited text,
the save, the next wake-up of a waiting cart on the new wait, the history and Restore.

Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.domain.model import Outcome
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from tests.browser.conftest import phone, shot
from tests.browser.test_dashboard_browser import Shop, at, item, log_in

pytestmark = pytest.mark.browser

SMALL = "Small carts (under $40): remind after 4 hours, then after 24."
BAD = DEFAULT_RULES_TEXT.replace(SMALL, "Small carts (under $40): remind after a while.")
SLOWER = DEFAULT_RULES_TEXT.replace(SMALL, SMALL.replace("4 hours", "6 hours"))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(tmp_path / "data")
    # Given Jo's small cart left at 10:00: under today's rules, reminded at 14:00
    s.event(
        at(10, 0),
        cart_id="B-2001",
        email="jo.park@example.com",
        name="Jo Park",
        items=(item("Ceramic mug", "14.00", 2),),
    )
    s.advance(at(10, 30))
    s.start()
    yield s
    s.close()


def sends(shop: Shop, cart_id: str) -> list[Any]:
    _, records = shop.rt.store.load(cart_id)
    return [r for r in records if r.outcome is Outcome.SENT]


def test_the_owner_edits_the_rules_and_the_next_wake_up_uses_them(
    shop: Shop, chromium: Any
) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, shop)
    page.click("a:has-text('Rules & voice')")
    editor = page.locator("#edit-rules")
    assert editor.locator("textarea").input_value() == DEFAULT_RULES_TEXT
    small_row = page.locator("#preview table.plan tbody tr").first
    before = small_row.inner_text()
    assert "due 23:30, after quiet hours" in before  # left at 19:30, 4 hours later

    # When the owner types a bad line and checks it
    editor.locator("textarea").fill(BAD)
    editor.locator("button:has-text('Check')").click()
    # Then the line is named with its number, and nothing is saved
    problems = page.locator("#draft-rules .draft-problems")
    assert "line 1: " in problems.inner_text() and "remind after a while" in problems.inner_text()
    assert page.locator("#edit-rules textarea").input_value() == BAD
    assert shop.settings.rules_file.read_text(encoding="utf-8") == DEFAULT_RULES_TEXT
    shot(page, "docs-edit-problem")

    # When they fix it (a longer first wait for small carts) and check again
    page.locator("#edit-rules textarea").fill(SLOWER)
    page.locator("#edit-rules button:has-text('Check')").click()
    # Then the preview changes, from the edited text
    assert "under your edited rules (not saved)" in page.inner_text("#preview")
    after = page.locator("#preview table.plan tbody tr").first.inner_text()
    assert after != before and "due 01:30, after quiet hours" in after
    assert "6 hours" in page.inner_text("#draft-rules .draft-meaning")
    shot(page, "docs-edit-checked")

    # When they save it with a note
    page.locator("#note-rules").fill("small carts: wait 6 hours")
    page.locator("#edit-rules button:has-text('Save')").click()
    assert "Rules saved as version" in page.inner_text(".flash")
    assert shop.settings.rules_file.read_text(encoding="utf-8") == SLOWER
    assert "under the rules as they serve now" in page.inner_text("#preview")
    shot(page, "docs-edit-saved")

    # Then Jo's cart is not reminded at 14:00 any more, but at 16:00, six hours after 10:00
    shop.advance(at(15, 59))
    assert sends(shop, "B-2001") == []
    shop.advance(at(16, 0))
    sent = sends(shop, "B-2001")
    assert [(r.step, r.at) for r in sent] == [(1, at(16, 0))]

    # And the history shows both versions, newest first, with the diff
    page.click("#edit-rules a:has-text('History')")
    versions = page.locator("li.version")
    assert versions.count() == 2
    newest = versions.first
    assert newest.locator(".v-by").inner_text() == "owner"
    assert newest.locator(".v-note").inner_text() == "small carts: wait 6 hours"
    assert newest.locator(".v-at").inner_text() == "Tue 12 May, 10:30"
    diff = newest.locator("pre.diff").inner_text()
    assert f"-{SMALL}" in diff and "+Small carts (under $40): remind after 6 hours" in diff
    shot(page, "docs-history")

    # When they restore the first version
    versions.last.locator("button:has-text('Restore this version')").click()
    # Then it is the current version again, a new one on top, and the service reads it
    assert "restored as version" in page.inner_text(".flash")
    assert page.locator("li.version").count() == 3
    assert page.locator("li.version").first.locator(".v-source").inner_text() == "restore"
    assert shop.settings.rules_file.read_text(encoding="utf-8") == DEFAULT_RULES_TEXT
    assert shop.rt.docs.rules().tiers[0].first == timedelta(hours=4)
    shot(page, "docs-history-restored")
    context.close()


def test_the_doc_editor_on_a_phone(shop: Shop, chromium: Any) -> None:
    context = phone(chromium)
    page = context.new_page()
    log_in(page, shop)
    page.goto(f"{shop.base}/admin/docs")
    page.locator("#edit-rules textarea").fill(BAD)
    page.locator("#edit-rules button:has-text('Check')").click()
    assert "line 1: " in page.inner_text("#draft-rules")
    # Nothing is wider than the screen, and the buttons are big enough to tap
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#edit-rules button:has-text('Save')").bounding_box()
    assert box is not None and box["height"] >= 44
    shot(page, "phone-docs-edit")
    page.locator("#edit-rules textarea").fill(SLOWER)
    page.locator("#edit-rules button:has-text('Save')").click()
    page.goto(f"{shop.base}/admin/docs/rules/history")
    assert page.locator("li.version").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-docs-history")
    context.close()
