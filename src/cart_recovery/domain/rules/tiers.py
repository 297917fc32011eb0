"""Checking the size tiers together: no overlap, one catch-all at most, every total taken."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cart_recovery.domain.rules.model import Problem, SizeTier


@dataclass(frozen=True)
class TierLine:
    """A tier as read from the doc: its line, and its 'between' bounds if it gave them."""

    line: int
    text: str
    tier: SizeTier
    between: tuple[Decimal, Decimal] | None


def uncovered(tiers: list[TierLine]) -> Decimal | None:
    """A total no bounded tier takes (an example), or None if they cover every total."""
    candidates = sorted(
        {Decimal(0)} | {b for t in tiers for b in (t.tier.under, t.tier.over) if b is not None}
    )
    for c in candidates:
        if not any(t.tier.holds(c) for t in tiers):
            return c
    return None


def check_tiers(tiers: list[TierLine]) -> list[Problem]:
    """Every problem with the tiers taken together, on the line of the tier at fault."""
    problems: list[Problem] = []
    bounded = [t for t in tiers if t.tier.bounded]
    rest = [t for t in tiers if not t.tier.bounded]
    for i, a in enumerate(bounded):
        for b in bounded[i + 1 :]:
            low = max((x for x in (a.tier.over, b.tier.over) if x is not None), default=None)
            high = min((x for x in (a.tier.under, b.tier.under) if x is not None), default=None)
            if low is None or high is None or low < high:
                problems.append(
                    Problem(
                        b.line,
                        b.text,
                        f"overlaps the {a.tier.name} tier on line {a.line}: "
                        "a cart total must fit exactly one tier",
                    )
                )
    for extra in rest[1:]:
        problems.append(
            Problem(
                extra.line,
                extra.text,
                f"a second tier without a size bound (the {rest[0].tier.name} tier on line "
                f"{rest[0].line} already takes the rest): give it 'under $X' or 'over $Y'",
            )
        )
    if not rest:
        gap = uncovered(bounded)
        if gap is not None:
            last = tiers[-1]
            problems.append(
                Problem(
                    last.line,
                    last.text,
                    f"no tier takes a cart total of {gap}: leave one tier without a size bound "
                    "to take the rest",
                )
            )
    for t in rest:
        if t.between is None:
            continue
        low, high = t.between
        unders = {x.tier.under for x in bounded if x.tier.over is None}
        overs = {x.tier.over for x in bounded if x.tier.under is None}
        inside = [
            x
            for x in bounded
            if (x.tier.over is None or x.tier.over < high)
            and (x.tier.under is None or x.tier.under > low)
        ]
        if (low > 0 and low not in unders) or high not in overs or inside:
            problems.append(
                Problem(
                    t.line,
                    t.text,
                    f"between {low} and {high} must be exactly what the other tiers leave: "
                    f"another tier 'under ${low}' and another 'over ${high}'",
                )
            )
    return problems
