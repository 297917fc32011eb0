"""The month chart on the dashboard in real headless Chromium (desktop and phone), against the
embedded service with a day of carts (the Shop of test_dashboard_browser.py).

Screenshots: ``test-output/screenshots/month-chart-desktop.png`` and ``month-chart-phone.png``
(the chart alone), ``carts-month.png`` and ``phone-carts-month.png`` (the page).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cart_recovery.domain.model import Outcome
from tests.browser.conftest import SHOTS, phone, shot
from tests.browser.test_dashboard_browser import Shop, log_in, shop

pytestmark = pytest.mark.browser
__all__ = ["shop"]  # the fixture, used by name


def chart_shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#month-chart").screenshot(path=str(SHOTS / f"{name}.png"))


def day_labels(page: Any) -> list[dict[str, Any]]:
    """The bounding boxes of the day labels under the chart, as the browser lays them out."""
    boxes: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('#month-chart svg text.axis')]
            .filter(t => t.getAttribute('y') === '252')
            .map(t => { const r = t.getBoundingClientRect();
                        return {x: r.x, y: r.y, w: r.width, h: r.height, text: t.textContent}; })"""
    )
    return boxes


def test_the_month_view_shows_the_chart_with_its_numbers(shop: Shop, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, shop)
    # When the owner opens this month
    page.click("a:has-text('This month')")
    page.wait_for_url(f"{shop.base}/admin/?view=month")
    # Then the chart is there, titled and described for a screen reader
    svg = page.locator("#month-chart svg")
    assert svg.is_visible()
    assert svg.get_attribute("role") == "img"
    title = page.locator("#month-chart-title").text_content()
    assert title == "Recovered revenue per day, May 2026 (USD)"
    desc = page.locator("#month-chart-desc").text_content() or ""
    assert "6 carts left" in desc and "$132.00 recovered" in desc
    assert "best day was May 12" in desc
    # with May 12's bars: $104.00 clicked then bought (A-1041), $28.00 without a click (A-1042)
    clicked = page.locator('#month-chart rect[data-kind="clicked"][data-day="12"]')
    reminded = page.locator('#month-chart rect[data-kind="reminded"][data-day="12"]')
    assert clicked.get_attribute("data-value") == "104.00"
    assert reminded.get_attribute("data-value") == "28.00"
    high = clicked.bounding_box()
    low = reminded.bounding_box()
    assert high is not None and low is not None
    assert high["height"] / low["height"] == pytest.approx(104 / 28, rel=0.03)
    assert page.locator('#month-chart rect[data-kind="carts"][data-day="12"]').count() == 1
    assert page.locator('#month-chart rect[data-day="11"]').count() == 0
    box = svg.bounding_box()
    assert box is not None and 600 <= box["width"] <= 640
    # and the same numbers are in a table behind "The numbers, day by day"
    table = page.locator("#month-chart table")
    assert not table.is_visible()
    page.click("#month-chart summary")
    assert table.is_visible()
    rows = page.locator("#month-chart tbody tr")
    assert rows.count() == 12  # May 1 to today, the 12th
    ids = ["A-1041", "A-1042", "A-1043", "A-1044", "A-1045", "A-1046"]
    sent = sum(
        s.outcome is Outcome.SENT for i in ids for s in shop.rt.store.load(i)[1]
    )  # all on the 12th
    assert sent > 0
    assert rows.last.inner_text().split("\t") == ["Tue 12", "6", str(sent), "$104.00", "$28.00"]
    page.click("#month-chart summary")
    shot(page, "carts-month")
    chart_shot(page, "month-chart-desktop")
    context.close()


def test_the_month_chart_on_a_phone(shop: Shop, chromium: Any) -> None:
    context = phone(chromium)
    page = context.new_page()
    log_in(page, shop)
    page.goto(f"{shop.base}/admin/?view=month")
    # The chart scales down to the screen, and nothing is wider than it
    box = page.locator("#month-chart svg").bounding_box()
    assert box is not None and 300 <= box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # its day labels are still readable and none overlap
    labels = day_labels(page)
    assert [t["text"] for t in labels] == ["1", "8", "15", "22", "29"]
    assert all(t["h"] >= 9 for t in labels)
    for a, b in itertools.pairwise(labels):
        assert a["x"] + a["w"] + 4 <= b["x"]
    # the table opens without widening the page
    page.click("#month-chart summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#month-chart summary")
    shot(page, "phone-carts-month")
    chart_shot(page, "month-chart-phone")
    context.close()
