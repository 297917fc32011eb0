"""The month chart: one drawing of a ``MonthSeries``, painted as inline SVG (the dashboard) and as
PNG (the summary email, ``chart_png``), and a per-week text fallback. Pure.

The drawing is plain geometry in a 400-unit-wide box (``Chart``): the top panel stacks each
day's recovered revenue, "clicked a reminder, then bought" under "bought after a reminder
without clicking"; the bottom panel pairs the carts left with the reminders sent. Money is
charted in one currency, the month's main one (``MonthSeries.main_currency``); what was
recovered in another is named in the description and the note under the chart, not added.
The day labels are thinned (every day, every other day, or weekly) so that none overlap at
the box's width, and the box scales with its ``viewBox``: on a 390px phone a label is still
about 10px high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_compact_currency, format_currency
from markupsafe import Markup, escape

from cart_recovery.domain.series import DayFigures, MonthSeries

WIDTH = 400.0
FONT = 11.0
LEFT = 34.0  # the least room for the value labels (more when they are longer)
RIGHT = 6.0
LABEL_GAP = 16.0  # the least room between two day labels
CHAR = 0.6  # a digit's width, in ems, near enough for any sans-serif face

# Where each part sits (y, in the box's units).
KEYS_A = 12.0
TOP_A, BOTTOM_A = 26.0, 146.0
KEYS_B = 170.0
TOP_B, BOTTOM_B = 182.0, 238.0
DAY_LABELS = 252.0
HEIGHT = 260.0

COLOURS = {
    "clicked": "#2f5d50",
    "reminded": "#8cc4a8",
    "carts": "#b3aa9c",
    "sent": "#3f74b5",
    "grid": "#e4ded3",
    "base": "#8a948f",
    "axis": "#59665f",
    "key": "#1d2623",
    "empty": "#59665f",
}
KEY_TEXT = {
    "clicked": "Clicked, then bought",
    "reminded": "Reminded, no click",
    "carts": "Carts left",
    "sent": "Reminders sent",
}

NOUNS = {"carts": ("cart left", "carts left"), "sent": ("reminder sent", "reminders sent")}


@dataclass(frozen=True)
class Bar:
    """A filled box: a day's bar (``day`` ≥ 1, ``value`` the number it stands for) or a
    legend key (``day`` 0)."""

    x: float
    y: float
    w: float
    h: float
    kind: str  # clicked, reminded, carts, sent
    day: int = 0
    value: str = ""
    tip: str = ""


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    anchor: str = "start"  # start, middle, end
    kind: str = "axis"  # axis, key, empty


@dataclass(frozen=True)
class Rule:
    x1: float
    y1: float
    x2: float
    y2: float
    kind: str = "grid"  # grid, base


@dataclass(frozen=True)
class Chart:
    title: str
    desc: str
    currency: str
    note: str  # what the chart leaves out (other currencies), or ""
    bars: tuple[Bar, ...]
    texts: tuple[Text, ...]
    rules: tuple[Rule, ...]
    width: float = WIDTH
    height: float = HEIGHT


def nice_ceiling(value: float) -> float:
    """The least of 1, 2, 2.5, 5 times a power of ten that is ≥ ``value`` (1 for ≤ 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * power >= value * (1 - 1e-12):
            return m * power
    return 10.0 * power  # pragma: no cover (10 × power always qualifies)


def text_width(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR


def label_step(days: int, plot_width: float, size: float = FONT) -> int:
    """Every how many days a day gets its label, so that none overlap: 1, 2, then weekly."""
    slot = plot_width / days
    need = text_width("31", size) + LABEL_GAP
    for step in (1, 2, 7, 14):
        if step * slot >= need:
            return step
    return 14


def known_locale(locale: str) -> str:
    """``locale`` if Babel knows it, else ``en_US`` (a bad setting draws, in English)."""
    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        return "en_US"
    return locale


def _money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


def _compact(amount: float, currency: str, locale: str) -> str:
    if amount < 1000:
        return format_currency(
            Decimal(str(amount)), currency, locale=locale, format="¤#,##0", currency_digits=False
        )
    return format_compact_currency(amount, currency, locale=locale, fraction_digits=1)


def _keys(left: float, y: float, kinds: tuple[str, str]) -> tuple[list[Bar], list[Text]]:
    bars, texts, x = [], [], left
    for kind in kinds:
        bars.append(Bar(x, y - 8, 9, 9, kind))
        texts.append(Text(x + 13, y, KEY_TEXT[kind], "start", "key"))
        x += 13 + text_width(KEY_TEXT[kind]) + 14
    return bars, texts


def _axis(
    left: float, top: float, bottom: float, ticks: list[tuple[float, str]]
) -> tuple[list[Rule], list[Text]]:
    rules = [Rule(left, bottom, WIDTH - RIGHT, bottom, "base")]
    texts = []
    for share, label in ticks:
        y = bottom - share * (bottom - top)
        if share > 0:
            rules.append(Rule(left, y, WIDTH - RIGHT, y, "grid"))
        texts.append(Text(left - 5, y + FONT * 0.35, label, "end", "axis"))
    return rules, texts


def month_label(series: MonthSeries) -> str:
    return f"{date(series.year, series.month, 1):%B %Y}"


Panel = tuple[list[Bar], list[Text], list[Rule]]


def _revenue(
    days: tuple[DayFigures, ...],
    cur: str,
    locale: str,
    left: float,
    slot: float,
    ticks: list[tuple[float, str]],
    top: float,
) -> Panel:
    """The top panel: each day's recovered revenue, clicked under not clicked."""
    rules, texts = _axis(left, TOP_A, BOTTOM_A, ticks)
    bars, keys = _keys(left, KEYS_A, ("clicked", "reminded"))
    per_unit = (BOTTOM_A - TOP_A) / top
    width = slot * 0.7
    for i, d in enumerate(days):
        x = left + i * slot + (slot - width) / 2
        base = BOTTOM_A
        for kind, amount in (("clicked", d.clicked_in(cur)), ("reminded", d.reminded_in(cur))):
            if amount <= 0:
                continue
            h = float(amount) * per_unit
            tip = f"{d.day:%b} {d.day.day}: {_money(amount, cur, locale)}, {KEY_TEXT[kind]}"
            bars.append(Bar(x, base - h, width, h, kind, d.day.day, str(amount), tip))
            base -= h
    return bars, texts + keys, rules


def _counts(
    days: tuple[DayFigures, ...],
    left: float,
    slot: float,
    ticks: list[tuple[float, str]],
    top: int,
) -> Panel:
    """The bottom panel: each day's carts left beside its reminders sent."""
    rules, texts = _axis(left, TOP_B, BOTTOM_B, ticks)
    bars, keys = _keys(left, KEYS_B, ("carts", "sent"))
    per_count = (BOTTOM_B - TOP_B) / top
    width = slot * 0.38
    for i, d in enumerate(days):
        x = left + i * slot + slot / 2 - width
        for kind, n in (("carts", d.carts_left), ("sent", d.reminders_sent)):
            if n:
                h = n * per_count
                tip = f"{d.day:%b} {d.day.day}: {n} {NOUNS[kind][n != 1]}"
                bars.append(Bar(x, BOTTOM_B - h, width, h, kind, d.day.day, str(n), tip))
            x += width
    return bars, texts + keys, rules


def chart(series: MonthSeries, *, locale: str = "en_US", currency: str | None = None) -> Chart:
    """The drawing of ``series``, its money in ``currency`` (the month's main one if None)."""
    cur = currency or series.main_currency()
    locale = known_locale(locale)
    days = series.days
    label = month_label(series)
    recovered = series.recovered()
    bars: list[Bar] = []
    texts: list[Text] = []
    rules: list[Rule] = []

    # the scales: revenue ticks at 0, half and the top (only 0 with none); counts at 0 and top
    most = max(float(d.recovered_in(cur)) for d in days)
    top_money = nice_ceiling(most)
    shares = (0.0, 0.5, 1.0) if most > 0 else (0.0,)
    money_ticks = [(s, _compact(top_money * s, cur, locale)) for s in shares]
    top_count = max(max(max(d.carts_left, d.reminders_sent) for d in days), 1)
    top_count = int(nice_ceiling(top_count)) if top_count > 2 else top_count
    count_ticks = [(0.0, "0"), (1.0, str(top_count))]
    left = max(LEFT, max(text_width(t) for _, t in money_ticks + count_ticks) + 8)
    plot = WIDTH - left - RIGHT
    slot = plot / len(days)

    for panel in (
        _revenue(days, cur, locale, left, slot, money_ticks, top_money),
        _counts(days, left, slot, count_ticks, top_count),
    ):
        bars += panel[0]
        texts += panel[1]
        rules += panel[2]

    # the day labels, thinned
    step = label_step(len(days), plot)
    for i in range(0, len(days), step):
        texts.append(Text(left + (i + 0.5) * slot, DAY_LABELS, str(i + 1), "middle", "axis"))

    middle = (left + plot / 2, (TOP_A + BOTTOM_A) / 2)
    if series.empty:
        texts.append(Text(*middle, f"No carts in {label}", "middle", "empty"))
    elif not recovered.get(cur):
        texts.append(Text(*middle, "No recovered revenue yet", "middle", "empty"))
    others = sorted(c for c in recovered if c != cur)
    note = ""
    if others:
        amounts = ", ".join(_money(recovered[c], c, locale) for c in others)
        note = f"Revenue is charted in {cur}; also recovered in other currencies: {amounts}."
    return Chart(
        title=f"Recovered revenue per day, {label} ({cur})",
        desc=describe(series, cur, locale) + (f" {note}" if note else ""),
        currency=cur,
        note=note,
        bars=tuple(bars),
        texts=tuple(texts),
        rules=tuple(rules),
    )


def describe(series: MonthSeries, currency: str, locale: str) -> str:
    """The chart in one paragraph (its ``<desc>``, the image's alt text)."""
    days = series.days
    clicked = sum((d.clicked_in(currency) for d in days), Decimal(0))
    reminded = sum((d.reminded_in(currency) for d in days), Decimal(0))
    carts = sum(d.carts_left for d in days)
    sent = sum(d.reminders_sent for d in days)
    best = max(days, key=lambda d: (d.recovered_in(currency), -d.day.day))
    text = (
        f"{month_label(series)}, per day: {carts} carts left, {sent} reminders sent, "
        f"{_money(clicked + reminded, currency, locale)} recovered "
        f"({_money(clicked, currency, locale)} after a click on a reminder, "
        f"{_money(reminded, currency, locale)} after a reminder without a click)."
    )
    if best.recovered_in(currency) > 0:
        text += f" The best day was {best.day:%B} {best.day.day}."
    return text


def _n(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def svg(drawing: Chart, *, ident: str = "chart") -> Markup:
    """The drawing as an inline ``<svg>`` that scales with its container (no script, no
    style element: presentation attributes only, which the dashboard's CSP allows)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(drawing.width)} '
        f'{_n(drawing.height)}" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'class="chart-svg" font-family="system-ui, -apple-system, Segoe UI, sans-serif" '
        f'font-size="{_n(FONT)}">',
        f'<title id="{ident}-title">{escape(drawing.title)}</title>',
        f'<desc id="{ident}-desc">{escape(drawing.desc)}</desc>',
    ]
    for r in drawing.rules:
        out.append(
            f'<line x1="{_n(r.x1)}" y1="{_n(r.y1)}" x2="{_n(r.x2)}" y2="{_n(r.y2)}" '
            f'stroke="{COLOURS[r.kind]}" stroke-width="1"/>'
        )
    for b in drawing.bars:
        data = f' data-day="{b.day}" data-value="{escape(b.value)}"' if b.day else ""
        tip = f"<title>{escape(b.tip)}</title>" if b.tip else ""
        out.append(
            f'<rect x="{_n(b.x)}" y="{_n(b.y)}" width="{_n(b.w)}" height="{_n(b.h)}" '
            f'fill="{COLOURS[b.kind]}" data-kind="{b.kind}"{data}>{tip}</rect>'
        )
    for t in drawing.texts:
        out.append(
            f'<text x="{_n(t.x)}" y="{_n(t.y)}" text-anchor="{t.anchor}" '
            f'fill="{COLOURS[t.kind]}" class="{t.kind}">{escape(t.text)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every value above is escaped or a number)


def text_bars(series: MonthSeries, *, locale: str = "en_US", currency: str | None = None) -> str:
    """Recovered revenue week by week (days 1–7, 8–14, …) as Unicode bars: the chart of the
    plain-text email."""
    cur = currency or series.main_currency()
    locale = known_locale(locale)
    weeks: list[list[DayFigures]] = [
        list(series.days[i : i + 7]) for i in range(0, len(series.days), 7)
    ]
    amounts = [sum((d.recovered_in(cur) for d in w), Decimal(0)) for w in weeks]
    top = max(amounts) if amounts else Decimal(0)
    lines = [f"Recovered revenue per week ({cur})"]
    for w, amount in zip(weeks, amounts, strict=True):
        first, last = w[0].day, w[-1].day
        span = f"{first:%b} {first.day}–{last.day}"
        size = 0 if top <= 0 else max(round(20 * amount / top), 1 if amount > 0 else 0)
        lines.append(f"{span:<10} {'█' * size:<20}  {_money(amount, cur, locale)}")
    return "\n".join(lines) + "\n"
