"""The docs page's preview: when a sample cart of each size would be reminded."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from cart_recovery.domain.preview import plan, preview, sample_total
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, parse_rules

NY = ZoneInfo("America/New_York")


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


def test_a_sample_total_for_every_default_tier(rules: Rules) -> None:
    totals = {t.name: sample_total(t, rules) for t in rules.tiers}
    assert totals == {
        "small": Decimal("20.00"),
        "medium": Decimal("95.00"),
        "big": Decimal("200.00"),
    }
    for tier in rules.tiers:
        total = totals[tier.name]
        assert total is not None and rules.tier_for(total) == tier


def test_a_morning_cart_is_reminded_at_its_waits(rules: Rules) -> None:
    # Given a medium cart left at 10:00 on a Tuesday
    steps = plan(rules, Decimal("95"), ny(12, 10))
    # Then the reminders come at +2 h and +22 h, and it closes 24 h after the last
    assert [(s.step, s.at) for s in steps] == [
        (1, ny(12, 12)),
        (2, ny(13, 8)),
        (None, ny(14, 8)),
    ]
    assert not any(s.deferred for s in steps)


def test_an_evening_cart_waits_for_the_end_of_quiet_hours(rules: Rules) -> None:
    # Given a small cart left at 19:30: its first reminder falls due at 23:30
    first, second, close = plan(rules, Decimal("20"), ny(12, 19, 30))
    # Then it goes at 08:00, and the second keeps the 12 hour gap after it
    assert (first.due, first.at, first.deferred) == (ny(12, 23, 30), ny(13, 8), True)
    assert second.at == ny(13, 20) and close.at == ny(14, 20)


def test_one_reminder_rules_plan_one() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT.replace("two reminders", "one reminder"))
    steps = preview(rules, ny(12, 10))[0].steps
    assert [s.step for s in steps] == [1, None]
