"""A month, day by day (SPEC §9 figures over time): the dashboard's chart and the summary's.
Pure.

Each thing is counted on the store-local day it happened, in the store's time zone (so a
purchase at 00:30 EDT belongs to that day, not to the evening before as a fixed UTC offset
would have it): carts left on the day they were first seen, reminders on the day they were
sent, recovered revenue on the day of the purchase, split by ``stats.attribution`` into
"clicked a reminder, then bought" and "bought after a reminder without clicking". Summed over
the month they are ``stats.month_figures``' carts seen, reminders sent and won back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from cart_recovery.domain.model import Outcome
from cart_recovery.domain.stats import Attribution, CartFacts, attribution


@dataclass(frozen=True)
class DayFigures:
    """One store-local day. Money is by currency (ISO code)."""

    day: date
    carts_left: int = 0
    reminders_sent: int = 0
    clicked_carts: int = 0  # clicked a reminder, then bought
    reminded_carts: int = 0  # bought after a reminder without clicking
    clicked: Mapping[str, Decimal] = field(default_factory=dict)
    reminded: Mapping[str, Decimal] = field(default_factory=dict)

    def clicked_in(self, currency: str) -> Decimal:
        return self.clicked.get(currency, Decimal(0))

    def reminded_in(self, currency: str) -> Decimal:
        return self.reminded.get(currency, Decimal(0))

    def recovered_in(self, currency: str) -> Decimal:
        return self.clicked_in(currency) + self.reminded_in(currency)


@dataclass(frozen=True)
class MonthSeries:
    """Every day of one month, the first to the last, each with its figures."""

    year: int
    month: int
    days: tuple[DayFigures, ...]
    # carts left, and carts recovered, in the month by currency: what the store sells in
    carts_by_currency: Mapping[str, int] = field(default_factory=dict)
    recovered_by_currency: Mapping[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(
            d.carts_left or d.reminders_sent or d.clicked or d.reminded for d in self.days
        )

    def recovered(self) -> dict[str, Decimal]:
        """Recovered revenue of the month, by currency."""
        out: dict[str, Decimal] = {}
        for d in self.days:
            for money in (d.clicked, d.reminded):
                for currency, amount in money.items():
                    out[currency] = out.get(currency, Decimal(0)) + amount
        return out

    def main_currency(self, default: str = "USD") -> str:
        """The currency the chart is drawn in: the one with the most recovered carts, then
        the one most carts were left in, then alphabetical; ``default`` in a month with
        neither. Amounts in other currencies are not comparable, so they are named beside the
        chart rather than added to it."""
        names = set(self.recovered_by_currency) | set(self.carts_by_currency)
        if not names:
            return default
        return min(
            names,
            key=lambda c: (
                -self.recovered_by_currency.get(c, 0),
                -self.carts_by_currency.get(c, 0),
                c,
            ),
        )


def month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


def month_series(
    facts: Iterable[CartFacts], *, year: int, month: int, zone: ZoneInfo
) -> MonthSeries:
    """The per-day figures of the month ``year``-``month`` in store time ``zone``. ``facts``
    may hold carts of other months too (touched in this one): only what happened inside the
    month is counted."""
    days = month_days(year, month)
    left = dict.fromkeys(days, 0)
    sent = dict.fromkeys(days, 0)
    clicked_n = dict.fromkeys(days, 0)
    reminded_n = dict.fromkeys(days, 0)
    clicked: dict[date, dict[str, Decimal]] = {d: {} for d in days}
    reminded: dict[date, dict[str, Decimal]] = {d: {} for d in days}
    by_currency: dict[str, int] = {}
    won_by_currency: dict[str, int] = {}

    def local_day(t: datetime | None) -> date | None:
        if t is None:
            return None
        day = t.astimezone(zone).date()
        return day if day in left else None

    for f in facts:
        cart = f.cart
        if (day := local_day(cart.created_at)) is not None:
            left[day] += 1
            by_currency[cart.currency] = by_currency.get(cart.currency, 0) + 1
        for s in f.sends:
            if s.outcome is Outcome.SENT and (day := local_day(s.at)) is not None:
                sent[day] += 1
        if (day := local_day(cart.bought_at)) is None:
            continue
        kind = attribution(cart, f.sends, f.clicks)
        if kind is Attribution.CLICKED_THEN_BOUGHT:
            clicked_n[day] += 1
            money = clicked[day]
        elif kind is Attribution.BOUGHT_AFTER_REMINDER:
            reminded_n[day] += 1
            money = reminded[day]
        else:
            continue
        money[cart.currency] = money.get(cart.currency, Decimal(0)) + cart.total
        won_by_currency[cart.currency] = won_by_currency.get(cart.currency, 0) + 1
    return MonthSeries(
        year,
        month,
        tuple(
            DayFigures(d, left[d], sent[d], clicked_n[d], reminded_n[d], clicked[d], reminded[d])
            for d in days
        ),
        by_currency,
        won_by_currency,
    )
