"""Recovered or not (SPEC §9): clicked then bought, bought after a reminder, on their own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cart_recovery.domain.model import Cart, Outcome, Status
from cart_recovery.domain.stats import Attribution, attribution
from tests.conftest import T0, at, make_cart, sent


def bought(hours: float) -> Cart:
    return make_cart(status=Status.BOUGHT, bought_at=at(hours=hours))


def test_bought_after_clicking_a_reminder() -> None:
    cart = bought(5)
    assert attribution(cart, [sent(1, at(hours=2))], [(1, at(hours=4))]) is (
        Attribution.CLICKED_THEN_BOUGHT
    )


def test_bought_after_a_reminder_without_clicking() -> None:
    assert attribution(bought(5), [sent(1, at(hours=2))], []) is Attribution.BOUGHT_AFTER_REMINDER


def test_a_click_after_the_purchase_does_not_count() -> None:
    cart = bought(5)
    assert attribution(cart, [sent(1, at(hours=2))], [(1, at(hours=6))]) is (
        Attribution.BOUGHT_AFTER_REMINDER
    )


def test_bought_before_any_reminder_came_back_on_their_own() -> None:
    assert attribution(bought(1), [], []) is Attribution.CAME_BACK_ON_OWN
    # a reminder sent after the purchase (a late checkout event) does not take the credit
    assert attribution(bought(1), [sent(1, at(hours=2))], []) is Attribution.CAME_BACK_ON_OWN


def test_a_skipped_reminder_is_not_a_reminder() -> None:
    skipped = sent(1, at(hours=2), outcome=Outcome.SKIPPED, reason="do_not_disturb")
    assert attribution(bought(5), [skipped], []) is Attribution.CAME_BACK_ON_OWN


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (7, Attribution.BOUGHT_AFTER_REMINDER),  # exactly seven days later still counts
        (7.01, Attribution.BOUGHT_LATE),
    ],
)
def test_the_seven_day_window_runs_from_the_last_reminder(
    days: float, expected: Attribution
) -> None:
    last = at(hours=30)
    cart = make_cart(status=Status.BOUGHT, bought_at=last + timedelta(days=days))
    assert attribution(cart, [sent(1, at(hours=2)), sent(2, last)], []) is expected


def test_not_bought_is_not_recovered() -> None:
    assert attribution(make_cart(), [sent(1, at(hours=2))], [(1, T0)]) is Attribution.NOT_BOUGHT
    closed = make_cart(status=Status.CLOSED)
    assert attribution(closed, [], []) is Attribution.NOT_BOUGHT
    assert not Attribution.NOT_BOUGHT.recovered and Attribution.CLICKED_THEN_BOUGHT.recovered
