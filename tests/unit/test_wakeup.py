"""The one plan of a wake-up (domain/wakeup.py): each outcome, on a virtual timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cart_recovery.domain.model import CloseReason, Item, Outcome, SendRecord, SkipReason
from cart_recovery.domain.rules import Rules
from cart_recovery.domain.wakeup import (
    IN_FLIGHT_RECHECK,
    Close,
    Defer,
    HandOff,
    Later,
    Recheck,
    Send,
    Skip,
    Wait,
    plan_wakeup,
    tier_name,
)
from tests.conftest import T0, make_cart, sent


class Facts:
    """The facts of addresses, as a store would give them; it counts what it was asked."""

    def __init__(
        self, unsubscribed: set[str] | None = None, recent: list[SendRecord] | None = None
    ) -> None:
        self.unsubscribed = unsubscribed or set()
        self.recent = recent or []
        self.asked: list[str] = []

    def is_unsubscribed(self, email: str) -> bool:
        self.asked.append(f"unsubscribed {email}")
        return email in self.unsubscribed

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        self.asked.append(f"sent_to {email} since {since.isoformat()}")
        return [r for r in self.recent if r.at >= since]


def first_due(rules: Rules) -> datetime:
    return T0 + rules.tier_for(make_cart().total).first


def test_before_the_first_step_is_due_the_plan_is_to_wait_until_it(rules: Rules) -> None:
    # Given a cart abandoned at T0 and its first step due later
    due = first_due(rules)
    # When it wakes early
    plan = plan_wakeup(make_cart(), [], rules, T0 + timedelta(minutes=1), Facts())
    # Then it waits until the first step is due, asking nothing about the address
    assert plan == Wait(due)


def test_a_due_step_whose_gates_are_open_is_sent_to_the_plain_address(rules: Rules) -> None:
    facts = Facts()
    cart = make_cart(email="  Maya@Example.com ")
    plan = plan_wakeup(cart, [], rules, first_due(rules), facts)
    assert plan == Send(1, first_due(rules), "Maya@Example.com")
    assert isinstance(plan, Send) and plan.batch_key == "maya@example.com"
    assert len(facts.asked) == 2  # unsubscribed, then the do-not-disturb window


def test_an_address_being_mailed_in_this_batch_waits_for_the_next_batch(rules: Rules) -> None:
    facts = Facts()
    cart = make_cart(email="MAYA@example.com")
    plan = plan_wakeup(cart, [], rules, first_due(rules), facts, mailing={"maya@example.com"})
    assert plan == Later()
    assert facts.asked == []


def test_the_waiter_of_a_separate_sender_hands_the_due_step_off(rules: Rules) -> None:
    facts = Facts()
    plan = plan_wakeup(make_cart(), [], rules, first_due(rules), facts, hand_off=True)
    assert plan == HandOff(1, first_due(rules))
    assert facts.asked == []  # the gates run at the sender


def test_a_step_claimed_by_another_sender_is_looked_at_again_shortly(rules: Rules) -> None:
    now = first_due(rules)
    claimed = sent(1, now, outcome=Outcome.CLAIMED)
    plan = plan_wakeup(make_cart(), [claimed], rules, now, Facts())
    assert plan == Recheck(now + IN_FLIGHT_RECHECK)


def test_an_unsubscribed_address_is_skipped_with_its_record(rules: Rules) -> None:
    now = first_due(rules)
    plan = plan_wakeup(make_cart(), [], rules, now, Facts(unsubscribed={"maya@example.com"}))
    assert isinstance(plan, Skip)
    assert (plan.step, plan.reason) == (1, str(SkipReason.UNSUBSCRIBED))
    assert plan.record == SendRecord(
        cart_id="c1",
        step=1,
        outcome=Outcome.SKIPPED,
        at=now,
        recipient="maya@example.com",
        reason="unsubscribed",
    )


def test_an_address_mailed_for_another_cart_inside_the_window_is_skipped(rules: Rules) -> None:
    now = first_due(rules)
    other = sent(1, now - timedelta(hours=1), cart_id="c2")
    facts = Facts(recent=[other])
    plan = plan_wakeup(make_cart(), [], rules, now, facts)
    assert isinstance(plan, Skip) and plan.reason == str(SkipReason.DO_NOT_DISTURB)
    # the window asked for is the rules' do-not-disturb window, ending now
    assert facts.asked[-1].endswith((now - rules.do_not_disturb).isoformat())


def test_an_address_that_cannot_be_mailed_is_skipped_saying_why(rules: Rules) -> None:
    plan = plan_wakeup(make_cart(email="not an address"), [], rules, first_due(rules), Facts())
    assert isinstance(plan, Skip)
    assert plan.reason == str(SkipReason.NO_EMAIL)
    assert plan.why  # for the log; it never repeats the address
    assert "not an address" not in plan.why


def test_inside_quiet_hours_the_step_is_deferred_with_its_record(rules: Rules) -> None:
    # 03:00 in New York (the store's zone in the default rules) is inside quiet hours
    cart = make_cart(abandoned_at=datetime(2026, 5, 12, 5, 0, tzinfo=UTC))
    now = cart.abandoned_at + rules.tier_for(cart.total).first
    plan = plan_wakeup(cart, [], rules, now, Facts())
    assert isinstance(plan, Defer)
    assert plan.until > now and plan.due == now
    assert plan.record.outcome is Outcome.DEFERRED
    assert plan.record.due == plan.until and plan.record.reason == "quiet_hours"


def test_after_the_last_step_and_the_close_out_the_cart_is_closed(rules: Rules) -> None:
    first = first_due(rules)
    history = [sent(1, first), sent(2, first + timedelta(days=1))]
    later = first + timedelta(days=60)
    plan = plan_wakeup(make_cart(), history, rules, later, Facts())
    assert plan == Close(CloseReason.GAVE_UP)


def test_the_tier_of_a_cart_is_its_size_tier_or_override(rules: Rules) -> None:
    big = make_cart(
        total=Decimal("900.00"),
        items=(Item(title="Coat", quantity=1, unit_price=Decimal("900.00")),),
    )
    assert tier_name(big, rules) == rules.tier_for(Decimal("900.00")).name
    assert (
        tier_name(make_cart(wait_override=(timedelta(hours=2), timedelta(days=1))), rules)
        == "override"
    )
