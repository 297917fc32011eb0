"""The waiter's decision (SPEC §6): cart row, send history, rules, now → exactly one move."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cart_recovery.domain.model import Cart, CloseReason, SendRecord
from cart_recovery.domain.rules import MAX_REMINDERS, Rules, waits_for


@dataclass(frozen=True)
class StillShopping:
    """Nothing to send now. ``wake_at``: look again then (``None``: the cart is finished)."""

    wake_at: datetime | None


@dataclass(frozen=True)
class FirstReminder:
    due: datetime
    step: int = 1


@dataclass(frozen=True)
class SecondReminder:
    due: datetime
    step: int = 2


@dataclass(frozen=True)
class GiveUp:
    reason: CloseReason


Move = StillShopping | FirstReminder | SecondReminder | GiveUp


@dataclass(frozen=True)
class Next:
    """The next thing on a cart's timeline: a step falling due, or the close-out (step None)."""

    step: int | None
    at: datetime


def waits(cart: Cart, rules: Rules) -> tuple[timedelta, timedelta]:
    return waits_for(rules, cart.total, cart.wait_override)


def give_up_point(rules: Rules) -> int:
    return max(1, min(rules.reminders, MAX_REMINDERS))


def next_on_timeline(cart: Cart, sends: Iterable[SendRecord], rules: Rules) -> Next:
    """When the next step falls due, or when the cart closes out if every step is done."""
    done = {s.step: s.at for s in sends if s.done}
    last = give_up_point(rules)
    first, second = waits(cart, rules)
    if 1 not in done:
        return Next(1, cart.abandoned_at + first)
    if last >= 2 and 2 not in done:
        return Next(2, max(cart.abandoned_at + second, done[1] + rules.min_gap))
    return Next(None, max(done.values()) + rules.close_out)


def decide(cart: Cart, sends: Iterable[SendRecord], rules: Rules, now: datetime) -> Move:
    """Same inputs, same move. Nothing here sends: the service carries the move out."""
    if not cart.is_open:
        return StillShopping(None)
    nxt = next_on_timeline(cart, sends, rules)
    if nxt.step is None:
        return GiveUp(CloseReason.GAVE_UP) if now >= nxt.at else StillShopping(nxt.at)
    if now < nxt.at:
        return StillShopping(nxt.at)
    if now - cart.abandoned_at > rules.max_age:
        return GiveUp(CloseReason.TOO_OLD)
    return FirstReminder(nxt.at) if nxt.step == 1 else SecondReminder(nxt.at)


def next_wake(cart: Cart, sends: Iterable[SendRecord], rules: Rules) -> datetime | None:
    """When the waiter should next look at this cart (``None`` once it is bought or closed)."""
    return next_on_timeline(cart, sends, rules).at if cart.is_open else None
