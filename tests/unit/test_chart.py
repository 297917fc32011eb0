"""The month chart (domain/chart.py, chart_png.py): the drawing, its SVG, its PNG, its text."""

from __future__ import annotations

import io
import itertools
import re
import struct
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image

from cart_recovery.domain.chart import (
    BOTTOM_A,
    BOTTOM_B,
    COLOURS,
    TOP_A,
    TOP_B,
    Chart,
    chart,
    label_step,
    nice_ceiling,
    svg,
    text_bars,
    text_width,
)
from cart_recovery.domain.chart_png import SCALE, png
from cart_recovery.domain.series import DayFigures, MonthSeries, month_days

SVG = "{http://www.w3.org/2000/svg}"


def may(**days: DayFigures) -> MonthSeries:
    """May 2026 with the given days (``d12=DayFigures(...)``), the rest empty."""
    given = {f.day: f for f in days.values()}
    return MonthSeries(
        2026,
        5,
        tuple(given.get(d, DayFigures(d)) for d in month_days(2026, 5)),
        {"USD": 3},
    )


def usd(amount: str) -> dict[str, Decimal]:
    return {"USD": Decimal(amount)}


BUSY = may(
    d3=DayFigures(date(2026, 5, 3), 2, 1, 1, 0, usd("50.00"), {}),
    d12=DayFigures(date(2026, 5, 12), 4, 3, 1, 1, usd("120.00"), usd("30.00")),
    d20=DayFigures(date(2026, 5, 20), 1, 6, 0, 1, {}, usd("75.00")),
)


def rects(markup: str) -> list[ET.Element]:
    root = ET.fromstring(markup)
    return [r for r in root.iter(f"{SVG}rect") if r.get("data-day")]


def test_the_bars_heights_follow_the_numbers() -> None:
    # Given a month with recovered revenue on three days
    drawing = chart(BUSY)
    # When it is drawn as SVG
    bars = rects(str(svg(drawing)))
    money = [b for b in bars if b.get("data-kind") in ("clicked", "reminded")]
    # Then each revenue bar's height is its amount on one scale (the top is a round $200)
    per_dollar = (BOTTOM_A - TOP_A) / 200
    assert {(b.get("data-day"), b.get("data-kind"), b.get("data-value")) for b in money} == {
        ("3", "clicked", "50.00"),
        ("12", "clicked", "120.00"),
        ("12", "reminded", "30.00"),
        ("20", "reminded", "75.00"),
    }
    for b in money:
        assert float(b.get("height", "")) == pytest.approx(
            float(b.get("data-value", "")) * per_dollar, abs=0.01
        )
    # and "reminded, no click" sits on top of "clicked" on the same day
    d12 = {b.get("data-kind"): b for b in money if b.get("data-day") == "12"}
    assert float(d12["clicked"].get("y", "")) + float(
        d12["clicked"].get("height", "")
    ) == pytest.approx(BOTTOM_A, abs=0.01)
    assert float(d12["reminded"].get("y", "")) + float(
        d12["reminded"].get("height", "")
    ) == pytest.approx(float(d12["clicked"].get("y", "")), abs=0.01)
    # and the counts share their own scale (top: 6 reminders on the 20th -> 10)
    counts = {
        (b.get("data-day"), b.get("data-kind")): b
        for b in bars
        if b.get("data-kind") in ("carts", "sent")
    }
    per_count = (BOTTOM_B - TOP_B) / 10
    assert float(counts[("20", "sent")].get("height", "")) == pytest.approx(6 * per_count, abs=0.01)
    assert float(counts[("12", "carts")].get("height", "")) == pytest.approx(
        4 * per_count, abs=0.01
    )
    assert ("20", "carts") in counts and ("21", "carts") not in counts


def test_the_svg_has_a_title_and_a_description_and_no_script() -> None:
    markup = str(svg(chart(BUSY), ident="month"))
    root = ET.fromstring(markup)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "month-title month-desc"
    assert root.get("viewBox") == "0 0 400 260" and root.get("width") is None
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "Recovered revenue per day, May 2026 (USD)"
    assert desc is not None and desc.text is not None
    assert "$275.00 recovered ($170.00 after a click" in desc.text
    assert "best day was May 12" in desc.text
    assert "<script" not in markup and "<style" not in markup and "style=" not in markup


def test_an_empty_month_draws_an_empty_state_chart() -> None:
    # Given a month in which nothing happened
    empty = MonthSeries(2026, 2, tuple(DayFigures(d) for d in month_days(2026, 2)))
    # When it is drawn
    drawing = chart(empty)
    root = ET.fromstring(str(svg(drawing)))
    # Then there are axes and day labels, no bars, and a sentence saying so
    assert rects(str(svg(drawing))) == []
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "No carts in February 2026" in texts and "1" in texts
    assert "$0" in texts and "$1" not in texts  # no made-up scale
    assert drawing.currency == "USD" and drawing.note == ""
    assert png(drawing).startswith(b"\x89PNG")
    assert "Recovered revenue per week (USD)" in text_bars(empty)


def test_a_month_with_carts_but_nothing_recovered_says_so() -> None:
    quiet = may(d5=DayFigures(date(2026, 5, 5), 3, 2))
    texts = [t.text for t in chart(quiet).texts if t.kind == "empty"]
    assert texts == ["No recovered revenue yet"]


@pytest.mark.parametrize("days", [28, 29, 30, 31])
def test_the_day_labels_never_overlap(days: int) -> None:
    # Given a month of ``days`` days
    series = MonthSeries(2026, 5, tuple(DayFigures(date(2026, 5, 1)) for _ in range(days)))
    # When drawn, the day labels are thinned so that each has room
    labels = [t for t in chart(series).texts if t.y == 252.0]
    assert labels[0].text == "1"
    for a, b in itertools.pairwise(labels):
        assert b.x - a.x >= text_width(a.text) / 2 + text_width(b.text) / 2 + 8
    # at this width: weekly (1, 8, 15, 22, 29)
    assert [t.text for t in labels] == ["1", "8", "15", "22", "29"][: len(labels)]


def test_label_step_and_nice_ceiling() -> None:
    assert label_step(31, 2000) == 1 and label_step(31, 700) == 2 and label_step(31, 350) == 7
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 1.2, 2.2, 3, 7, 150, 275, 1001)] == [
        1,
        0.5,
        1,
        2,
        2.5,
        5,
        10,
        200,
        500,
        2000,
    ]


def test_other_currencies_are_named_not_added() -> None:
    # Given a month recovered mostly in USD, and one cart in EUR
    mixed = may(
        d3=DayFigures(date(2026, 5, 3), 2, 1, 2, 0, usd("50.00"), {}),
        d4=DayFigures(date(2026, 5, 4), 0, 0, 0, 1, {}, {"EUR": Decimal("80.00")}),
    )
    drawing = chart(mixed)
    # Then the chart is in USD, and the EUR is named beside it
    assert drawing.currency == "USD"
    assert drawing.note == "Revenue is charted in USD; also recovered in other currencies: €80.00."
    assert drawing.note in drawing.desc
    assert {b.day for b in drawing.bars if b.day and b.kind in ("clicked", "reminded")} == {3}


def test_long_value_labels_get_room() -> None:
    # Given German amounts in the thousands ("1,3 Tsd. €" is longer than "$1.3K")
    big = MonthSeries(
        2026, 5, (DayFigures(date(2026, 5, 1), 1, 1, 1, 0, {"EUR": Decimal("2400")}, {}),)
    )
    drawing = chart(big, locale="de_DE")
    labels = [t for t in drawing.texts if t.anchor == "end"]
    assert labels and all(t.x - text_width(t.text) >= 0 for t in labels)


def test_text_in_the_svg_is_escaped() -> None:
    drawing = Chart("a <b> & c", "<script>x</script>", "USD", "", (), (), ())
    markup = str(svg(drawing))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    ET.fromstring(markup)


def test_the_png_is_a_png_of_the_drawing() -> None:
    # Given the month drawn as PNG
    drawing = chart(BUSY)
    data = png(drawing)
    # Then it is a PNG of the drawing's size at the scale
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (round(400 * SCALE), round(260 * SCALE))
    assert 2_000 < len(data) < 200_000
    # and the bars are where the drawing puts them, in their colours
    image = Image.open(io.BytesIO(data)).convert("RGB")
    for b in drawing.bars:
        if b.day:
            middle = (round((b.x + b.w / 2) * SCALE), round((b.y + b.h / 2) * SCALE))
            assert image.getpixel(middle) == _rgb(COLOURS[b.kind]), b
    # and above the tallest bar of May 12 ($150 of $200) it is white
    d12 = min((b for b in drawing.bars if b.day == 12 and b.kind == "reminded"), key=lambda b: b.y)
    above = (round((d12.x + d12.w / 2) * SCALE), round((d12.y - 5) * SCALE))
    assert image.getpixel(above) == (255, 255, 255)


def _rgb(colour: str) -> tuple[int, int, int]:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return (r, g, b)


def test_the_text_chart_has_a_bar_per_week() -> None:
    text = text_bars(BUSY)
    lines = text.splitlines()
    assert lines[0] == "Recovered revenue per week (USD)"
    assert [line.split("  ")[0].split(" ")[0:2] for line in lines[1:]] == [
        ["May", "1–7"],
        ["May", "8–14"],
        ["May", "15–21"],
        ["May", "22–28"],
        ["May", "29–31"],
    ]
    bars = {line[:10].strip(): line.count("█") for line in lines[1:]}
    # the week of the 8th ($150) has the full bar, the 1st ($50) a third, the 15th ($75) half
    assert bars == {"May 1–7": 7, "May 8–14": 20, "May 15–21": 10, "May 22–28": 0, "May 29–31": 0}
    assert re.search(r"May 8–14\s+█{20}\s+\$150\.00$", lines[2])


def test_an_unknown_locale_draws_in_english() -> None:
    assert chart(BUSY, locale="xx_NOPE").desc == chart(BUSY).desc
    assert text_bars(BUSY, locale="not a locale") == text_bars(BUSY)
