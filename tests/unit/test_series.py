"""The month day by day (domain/series.py): each thing on the store-local day it happened."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cart_recovery.domain.model import Outcome, Status
from cart_recovery.domain.series import month_days, month_series
from cart_recovery.domain.stats import CartFacts, month_figures
from tests.conftest import make_cart, sent

NY = ZoneInfo("America/New_York")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def bought_cart(
    cart_id: str,
    created: datetime,
    reminded: datetime,
    bought: datetime,
    *,
    clicked: datetime | None = None,
    total: str = "100.00",
    currency: str = "USD",
) -> CartFacts:
    cart = make_cart(
        cart_id=cart_id,
        created_at=created,
        abandoned_at=created,
        last_event_at=bought,
        status=Status.BOUGHT,
        bought_at=bought,
        total=Decimal(total),
        currency=currency,
    )
    clicks = () if clicked is None else ((1, clicked),)
    return CartFacts(cart, (sent(1, reminded, cart_id=cart_id),), clicks)


def test_every_day_of_the_month_is_there_even_when_nothing_happened() -> None:
    # Given no carts at all, in February and in a 31-day month
    feb = month_series([], year=2026, month=2, zone=NY)
    march = month_series([], year=2026, month=3, zone=NY)
    # Then each day has its (empty) figures, first to last
    assert [d.day for d in feb.days] == month_days(2026, 2)
    assert len(feb.days) == 28 and len(march.days) == 31
    assert feb.empty and march.empty
    assert feb.main_currency() == "USD" and feb.main_currency("EUR") == "EUR"


def test_a_purchase_is_counted_on_the_store_day_it_happened_across_the_spring_change() -> None:
    # Given March 2026 in New York: clocks go forward at 02:00 on March 8 (EST -5 -> EDT -4)
    # a purchase at 00:30 EDT on March 10 (04:30 UTC): a fixed -5 offset would put it on the 9th
    early = bought_cart("c-early", ny(3, 9, 10), ny(3, 9, 12), ny(3, 10, 0, 30), total="40.00")
    # a cart left at 23:30 EST on March 7 (04:30 UTC on the 8th: a fixed -4 would say the 8th),
    # reminded at 00:15 EDT on March 9 (04:15 UTC), bought on the 15th
    spring = bought_cart(
        "c-spring", ny(3, 7, 23, 30), ny(3, 9, 0, 15), ny(3, 15, 12), total="25.00"
    )
    # and one bought at 23:59 on March 31 (03:59 UTC on April 1)
    last = bought_cart("c-last", ny(3, 30, 9), ny(3, 31, 10), ny(3, 31, 23, 59), total="60.00")
    # When the month is counted
    series = month_series([early, spring, last], year=2026, month=3, zone=NY)
    # Then each thing lands on its store-local day
    assert early.cart.bought_at is not None
    assert early.cart.bought_at.astimezone(UTC) == datetime(2026, 3, 10, 4, 30, tzinfo=UTC)
    d = series.days
    assert d[9].reminded_in("USD") == Decimal("40.00") and d[8].recovered_in("USD") == 0
    assert d[30].reminded_in("USD") == Decimal("60.00")  # March 31, not April 1
    assert d[6].carts_left == 1 and d[7].carts_left == 0  # the spring cart, on the 7th
    assert d[8].reminders_sent == 2 and d[7].reminders_sent == 0  # early's and spring's
    assert [x.day.day for x in d if x.carts_left] == [7, 9, 30]
    assert sum(x.reminders_sent for x in d) == 3
    assert series.recovered() == {"USD": Decimal("125.00")}


def test_the_autumn_change_gives_the_long_day_its_25_hours() -> None:
    # Given November 2026 in New York: 01:00-02:00 happens twice on November 1
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, an hour later
    end_of_day = datetime(2026, 11, 2, 4, 59, tzinfo=UTC)  # 23:59 EST on November 1
    facts = [
        CartFacts(make_cart(cart_id=f"c{i}", created_at=t, abandoned_at=t, last_event_at=t))
        for i, t in enumerate((first, second, end_of_day))
    ]
    # When counted
    series = month_series(facts, year=2026, month=11, zone=NY)
    # Then all three were left on November 1
    assert series.days[0].carts_left == 3 and series.days[1].carts_left == 0


def test_clicked_then_bought_and_bought_without_clicking_are_apart() -> None:
    # Given two purchases on May 20 after a reminder on the 19th: one clicked it, one did not,
    # and one who came back on their own before any reminder
    clicked = bought_cart(
        "c1", ny(5, 19, 9), ny(5, 19, 12), ny(5, 20, 10), clicked=ny(5, 20, 9), total="80.00"
    )
    plain = bought_cart("c2", ny(5, 19, 9), ny(5, 19, 12), ny(5, 20, 15), total="25.50")
    own = bought_cart("c3", ny(5, 19, 9), ny(5, 21, 12), ny(5, 20, 11), total="999.00")
    # When counted
    series = month_series([clicked, plain, own], year=2026, month=5, zone=NY)
    d20 = series.days[19]
    # Then the clicked one and the other are split, and "on their own" is no recovered revenue
    assert d20.clicked == {"USD": Decimal("80.00")} and d20.clicked_carts == 1
    assert d20.reminded == {"USD": Decimal("25.50")} and d20.reminded_carts == 1
    assert series.recovered() == {"USD": Decimal("105.50")}
    # a click before the reminder or after the purchase is no click on it
    late_click = bought_cart(
        "c4", ny(5, 19, 9), ny(5, 19, 12), ny(5, 20, 10), clicked=ny(5, 20, 11)
    )
    d = month_series([late_click], year=2026, month=5, zone=NY).days[19]
    assert d.clicked_carts == 0 and d.reminded_carts == 1


def test_only_what_happened_inside_the_month_counts() -> None:
    # Given a cart left and reminded in April, bought on May 1 (store time)
    april = bought_cart("c-apr", ny(4, 29, 9), ny(4, 30, 9), ny(5, 1, 8))
    # When May and April are counted
    may = month_series([april], year=2026, month=5, zone=NY)
    apr = month_series([april], year=2026, month=4, zone=NY)
    # Then May has the purchase only, April the cart and the reminder only
    assert sum(d.carts_left + d.reminders_sent for d in may.days) == 0
    assert may.days[0].reminded_in("USD") == Decimal("100.00")
    assert apr.recovered() == {} and apr.days[28].carts_left == 1 and apr.days[29].reminders_sent


def test_a_skipped_reminder_is_not_counted_as_sent() -> None:
    cart = make_cart(created_at=ny(5, 3, 9), abandoned_at=ny(5, 3, 9), last_event_at=ny(5, 3, 9))
    skipped = sent(1, ny(5, 3, 12), outcome=Outcome.SKIPPED, reason="unsubscribed")
    series = month_series([CartFacts(cart, (skipped,))], year=2026, month=5, zone=NY)
    assert series.days[2].carts_left == 1 and series.days[2].reminders_sent == 0


def test_the_main_currency_has_the_most_recovered_carts_then_the_most_carts() -> None:
    # Given two recovered carts in EUR (small amounts) and one in JPY (a large number)
    facts = [
        bought_cart("e1", ny(5, 2, 9), ny(5, 2, 12), ny(5, 3, 9), currency="EUR"),
        bought_cart("e2", ny(5, 2, 9), ny(5, 2, 12), ny(5, 3, 9), currency="EUR"),
        bought_cart("y1", ny(5, 2, 9), ny(5, 2, 12), ny(5, 3, 9), total="50000", currency="JPY"),
    ]
    # Then EUR is the chart's currency (amounts in different currencies are not compared)
    series = month_series(facts, year=2026, month=5, zone=NY)
    assert series.main_currency() == "EUR"
    # and with nothing recovered, the currency most carts were left in
    open_carts = [
        CartFacts(make_cart(cart_id=f"g{i}", currency="GBP", created_at=ny(5, 4, 9)))
        for i in range(2)
    ] + [CartFacts(make_cart(cart_id="u", currency="USD", created_at=ny(5, 4, 9)))]
    assert month_series(open_carts, year=2026, month=5, zone=NY).main_currency() == "GBP"


STARTS = st.datetimes(
    min_value=datetime(2026, 2, 25), max_value=datetime(2026, 4, 5), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            STARTS,
            st.floats(min_value=0.5, max_value=60),
            st.floats(min_value=0.1, max_value=200),
            st.booleans(),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_the_days_add_up_to_the_month_figures(
    carts: list[tuple[datetime, float, float, bool, bool]],
) -> None:
    # Given random carts around March (which has the spring change)
    facts = []
    for i, (created, to_reminder, to_purchase, buys, clicks) in enumerate(carts):
        reminded = created + timedelta(hours=to_reminder)
        bought = reminded + timedelta(hours=to_purchase) if buys else None
        cart = make_cart(
            cart_id=f"c{i}",
            created_at=created,
            abandoned_at=created,
            last_event_at=created,
            status=Status.BOUGHT if buys else Status.OPEN,
            bought_at=bought,
            total=Decimal("12.34"),
        )
        click = ((1, reminded + timedelta(minutes=1)),) if clicks and bought else ()
        facts.append(CartFacts(cart, (sent(1, reminded, cart_id=f"c{i}"),), click))
    # When March is counted by day and as a month
    series = month_series(facts, year=2026, month=3, zone=NY)
    start = datetime(2026, 3, 1, tzinfo=NY)
    end = datetime(2026, 4, 1, tzinfo=NY)
    month = month_figures(facts, listed={}, start=start, end=end)
    # Then the days add up to the month
    days = series.days
    assert sum(d.carts_left for d in days) == month.carts_seen
    assert sum(d.reminders_sent for d in days) == month.reminders_sent
    assert sum(d.clicked_carts for d in days) == month.clicked_then_bought
    assert sum(d.reminded_carts for d in days) == month.bought_after_reminder
    assert series.recovered() == month.won_back
    assert days[0].day == date(2026, 3, 1)
