"""Every row of the waiter's table (SPEC §6), on a virtual timeline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from cart_recovery.domain.decide import (
    FirstReminder,
    GiveUp,
    SecondReminder,
    StillShopping,
    decide,
    next_wake,
)
from cart_recovery.domain.model import CloseReason, Outcome, Status
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, parse_rules
from tests.conftest import T0, at, make_cart, sent

# A $120 cart is medium under the default rules: 2 hours, then 22.


def test_still_shopping_when_bought_no_reschedule(rules: Rules) -> None:
    cart = make_cart(status=Status.BOUGHT, bought_at=at(hours=1))
    assert decide(cart, [], rules, at(hours=5)) == StillShopping(None)


def test_still_shopping_when_closed_no_reschedule(rules: Rules) -> None:
    cart = make_cart(status=Status.CLOSED, close_reason=CloseReason.SUPPRESSED)
    assert decide(cart, [], rules, at(hours=5)) == StillShopping(None)


def test_still_shopping_before_first_wait_reschedules_at_due(rules: Rules) -> None:
    assert decide(make_cart(), [], rules, at(hours=1)) == StillShopping(at(hours=2))


def test_cart_changed_since_wake_was_set_reschedules_from_new_abandoned_at(rules: Rules) -> None:
    # Given a wake-up set for T0+2h, but the shopper came back at T0+1h
    cart = make_cart(abandoned_at=at(hours=1), last_event_at=at(hours=1))
    # When the old wake-up fires
    move = decide(cart, [], rules, at(hours=2))
    # Then nothing is sent and the waiter looks again 2 hours after the new abandoned_at
    assert move == StillShopping(at(hours=3))


def test_first_reminder_when_due(rules: Rules) -> None:
    assert decide(make_cart(), [], rules, at(hours=2)) == FirstReminder(at(hours=2))


def test_first_reminder_due_while_deferred_is_still_due(rules: Rules) -> None:
    deferred = sent(1, at(hours=2), outcome=Outcome.DEFERRED)
    assert decide(make_cart(), [deferred], rules, at(hours=10)) == FirstReminder(at(hours=2))


def test_second_reminder_after_second_wait(rules: Rules) -> None:
    history = [sent(1, at(hours=2))]
    assert decide(make_cart(), history, rules, at(hours=22)) == SecondReminder(at(hours=22))


def test_second_reminder_not_before_min_gap_after_a_late_first(rules: Rules) -> None:
    # Given the first reminder went out late (quiet hours) at T0+18h
    history = [sent(1, at(hours=18))]
    # Then step 2 waits for the 12-hour gap: T0+30h, not T0+22h
    assert decide(make_cart(), history, rules, at(hours=22)) == StillShopping(at(hours=30))
    assert decide(make_cart(), history, rules, at(hours=30)) == SecondReminder(at(hours=30))


def test_skipped_first_step_counts_as_done(rules: Rules) -> None:
    history = [sent(1, at(hours=2), outcome=Outcome.SKIPPED, reason="no_email")]
    assert decide(make_cart(), history, rules, at(hours=22)) == SecondReminder(at(hours=22))


def test_uncertain_step_is_done_and_never_resent(rules: Rules) -> None:
    history = [sent(1, at(hours=2), outcome=Outcome.UNCERTAIN)]
    assert decide(make_cart(), history, rules, at(hours=3)) == StillShopping(at(hours=22))


def test_claimed_step_is_not_done(rules: Rules) -> None:
    history = [sent(1, at(hours=2), outcome=Outcome.CLAIMED)]
    assert isinstance(decide(make_cart(), history, rules, at(hours=3)), FirstReminder)


def test_give_up_after_close_out(rules: Rules) -> None:
    history = [sent(1, at(hours=2)), sent(2, at(hours=22))]
    assert decide(make_cart(), history, rules, at(hours=45)) == StillShopping(at(hours=46))
    assert decide(make_cart(), history, rules, at(hours=46)) == GiveUp(CloseReason.GAVE_UP)


def test_give_up_point_one(rules: Rules) -> None:
    one = parse_rules(DEFAULT_RULES_TEXT.replace("two reminders", "one reminder"))
    history = [sent(1, at(hours=2))]
    assert decide(make_cart(), history, one, at(hours=3)) == StillShopping(at(hours=26))
    assert decide(make_cart(), history, one, at(hours=26)) == GiveUp(CloseReason.GAVE_UP)


def test_too_old_when_a_step_falls_due_past_max_age(rules: Rules) -> None:
    # Given a cart abandoned 8 days ago (imported, or the system was just switched on)
    move = decide(make_cart(), [], rules, at(days=8))
    assert move == GiveUp(CloseReason.TOO_OLD)


def test_never_a_third_reminder(rules: Rules) -> None:
    history = [sent(1, at(hours=2)), sent(2, at(hours=22))]
    for hours in (23, 30, 40, 45.9):
        assert isinstance(decide(make_cart(), history, rules, at(hours=hours)), StillShopping)


@pytest.mark.parametrize(
    ("total", "first"),
    [("39.99", 4), ("40", 2), ("150", 2), ("150.01", 1)],
)
def test_tier_boundaries(rules: Rules, total: str, first: int) -> None:
    cart = make_cart(total=Decimal(total))
    assert next_wake(cart, [], rules) == at(hours=first)


def test_wait_override_replaces_size_default(rules: Rules) -> None:
    cart = make_cart(wait_override=(timedelta(minutes=30), timedelta(hours=5)))
    assert next_wake(cart, [], rules) == at(minutes=30)
    assert next_wake(cart, [sent(1, at(minutes=30))], rules) == at(hours=12, minutes=30)


def test_same_inputs_same_move(rules: Rules) -> None:
    cart = make_cart()
    history = [sent(1, at(hours=2))]
    for hours in (1, 2, 22, 46, 200):
        moves = [decide(cart, history, rules, at(hours=hours)) for _ in range(3)]
        assert moves[0] == moves[1] == moves[2]


def test_decide_is_pure_on_frozen_values(rules: Rules) -> None:
    cart = make_cart()
    with pytest.raises(AttributeError):
        cart.status = Status.BOUGHT  # type: ignore[misc]
    assert msgspec.structs.replace(cart).abandoned_at == T0
