"""The rules' values: size tiers, quiet hours, the parsed ``Rules``, and a cart's two waits."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal

from cart_recovery.domain.durations import (
    DurationError,
    format_duration,
    parse_duration,
    unit_of,
)

MAX_REMINDERS = 2  # a hard cap: a third reminder is impossible

DEFAULT_RULES_TEXT = """\
Small carts (under $40): remind after 4 hours, then after 24.
Medium carts: 2 hours, then 22.
Big carts (over $150): 1 hour, then 20.
Quiet hours: 9pm to 8am.
Do not disturb: skip anyone who got a reminder in the last 3 days.
Give up after two reminders.
Store timezone: America/New_York.
"""


@dataclass(frozen=True)
class SizeTier:
    """A size of cart and its two waits. ``under``: total < under; ``over``: total > over."""

    name: str
    first: timedelta
    second: timedelta
    under: Decimal | None = None
    over: Decimal | None = None

    def holds(self, total: Decimal) -> bool:
        if self.under is not None and not total < self.under:
            return False
        return not (self.over is not None and not total > self.over)

    @property
    def bounded(self) -> bool:
        return self.under is not None or self.over is not None


@dataclass(frozen=True)
class QuietHours:
    """Local times from ``start`` (inclusive) to ``end`` (exclusive); may wrap past midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if t.tzinfo is not None:
            t = t.replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True)
class Rules:
    tiers: tuple[SizeTier, ...]
    quiet: QuietHours | None
    do_not_disturb: timedelta
    reminders: int
    store_timezone: str
    close_out: timedelta = timedelta(hours=24)
    min_gap: timedelta = timedelta(hours=12)
    max_age: timedelta = timedelta(days=7)
    consent_required: bool = False

    def tier_for(self, total: Decimal) -> SizeTier:
        """Bounded tiers first (in doc order); the tier without a bound takes the rest."""
        bounded, rest = self._tier_order
        for tier in bounded:
            if tier.holds(total):
                return tier
        return rest

    @functools.cached_property
    def _tier_order(self) -> tuple[tuple[SizeTier, ...], SizeTier]:
        """The bounded tiers in doc order, and the tier that takes the rest: the first without
        a bound (``parse_rules`` guarantees a catch-all or full coverage; failing both, the
        last tier). Worked out once: a wake-up asks for a cart's tier several times."""
        rest = next((tier for tier in self.tiers if not tier.bounded), self.tiers[-1])
        return tuple(tier for tier in self.tiers if tier.bounded), rest


@dataclass(frozen=True)
class Problem:
    line: int
    text: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}: {self.text!r}"


class RulesError(ValueError):
    """The doc could not be read. ``problems`` lists every bad line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in problems))


def waits_for(
    rules: Rules, total: Decimal, override: tuple[timedelta, timedelta] | None
) -> tuple[timedelta, timedelta]:
    """The cart's two waits: its own ``wait_override`` if it has one, else its size tier's."""
    if override is not None:
        return override
    tier = rules.tier_for(total)
    return tier.first, tier.second


def parse_wait_override(values: tuple[str, str]) -> tuple[timedelta, timedelta]:
    """A per-cart ``wait_override`` such as ``("1 hour", "20")`` (a bare second number takes
    the first's unit). Raises ``ValueError`` saying what is wrong."""
    if len(values) != 2:
        raise ValueError("wait_override needs exactly two durations, e.g. ['1 hour', '20 hours']")
    try:
        first = parse_duration(values[0])
        second = parse_duration(values[1], default_unit=unit_of(values[0]))
    except DurationError as e:
        raise ValueError(f"wait_override: {e}") from None
    if second <= first:
        raise ValueError(
            f"wait_override: the second wait ({format_duration(second)}) must be longer than "
            f"the first ({format_duration(first)})"
        )
    return first, second
