"""The waiter's decision (SPEC §6): cart row, send history, rules, now → exactly one move."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from msgspec import Struct

from cart_recovery.domain.model import DONE, Cart, CloseReason, SendRecord
from cart_recovery.domain.rules import MAX_REMINDERS, Rules, waits_for


class StillShopping(Struct, frozen=True, gc=False):
    """Nothing to send now. ``wake_at``: look again then (``None``: the cart is finished)."""

    wake_at: datetime | None


class FirstReminder(Struct, frozen=True, gc=False):
    due: datetime
    step: int = 1


class SecondReminder(Struct, frozen=True, gc=False):
    due: datetime
    step: int = 2


class GiveUp(Struct, frozen=True, gc=False):
    reason: CloseReason


Move = StillShopping | FirstReminder | SecondReminder | GiveUp


class Next(Struct, frozen=True, gc=False):
    """The next thing on a cart's timeline: a step falling due, or the close-out (step None)."""

    step: int | None
    at: datetime


def waits(cart: Cart, rules: Rules) -> tuple[timedelta, timedelta]:
    return waits_for(rules, cart.total, cart.wait_override)


def give_up_point(rules: Rules) -> int:
    return max(1, min(rules.reminders, MAX_REMINDERS))


def next_on_timeline(cart: Cart, sends: Iterable[SendRecord], rules: Rules) -> Next:
    """When the next step falls due, or when the cart closes out if every step is done."""
    done_1 = done_2 = latest = None  # when steps 1 and 2 were done, and the later of them
    for s in sends:
        if s.outcome in DONE:
            at = s.at
            if s.step == 1:
                done_1 = at
            elif s.step == 2:
                done_2 = at
            if latest is None or at > latest:
                latest = at
    if done_1 is None:
        return Next(1, cart.abandoned_at + waits(cart, rules)[0])
    if done_2 is None and give_up_point(rules) >= 2:
        second = waits(cart, rules)[1]
        return Next(2, max(cart.abandoned_at + second, done_1 + rules.min_gap))
    assert latest is not None
    return Next(None, latest + rules.close_out)


def decide(
    cart: Cart,
    sends: Iterable[SendRecord],
    rules: Rules,
    now: datetime,
    *,
    timeline: Next | None = None,
) -> Move:
    """Same inputs, same move. Nothing here sends: the service carries the move out.
    ``timeline``: ``next_on_timeline(cart, sends, rules)``, when the caller holds it already."""
    if not cart.is_open:
        return StillShopping(None)
    nxt = next_on_timeline(cart, sends, rules) if timeline is None else timeline
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
