"""Wake-up timers as values: what the service asks the timer port to do for one cart."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from msgspec import Struct


class TimerKind(enum.StrEnum):
    WAKE = "wake"  # run the waiter for the cart
    SEND = "send"  # a quiet-hours deferral: run the sender for (cart, step) again


class Timer(Struct, frozen=True, kw_only=True):
    cart_id: str
    due: datetime
    kind: TimerKind = TimerKind.WAKE
    step: int | None = None


@dataclass(frozen=True)
class SetWake:
    """The cart's one wake-up is at ``at`` (replacing any wake-up or pending deferral)."""

    at: datetime


@dataclass(frozen=True)
class DeferSend:
    """Run the sender for ``step`` again at ``at`` (replacing the cart's pending wake-up)."""

    step: int
    at: datetime


@dataclass(frozen=True)
class CancelTimers:
    """Nothing is pending for the cart any more."""


TimerChange = SetWake | DeferSend | CancelTimers


def timer_for(cart_id: str, change: TimerChange) -> Timer | None:
    if isinstance(change, SetWake):
        return Timer(cart_id=cart_id, due=change.at, kind=TimerKind.WAKE)
    if isinstance(change, DeferSend):
        return Timer(cart_id=cart_id, due=change.at, kind=TimerKind.SEND, step=change.step)
    return None
