"""What the rules doc means in practice: when a sample cart of each size would be reminded.

Pure: the sample abandoned time comes in. It walks the same timeline the waiter does
(``next_on_timeline``), moving each step past quiet hours the way the sender's gate does
(``quiet_until``), with no other carts (so do-not-disturb never applies) and an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cart_recovery.domain.decide import next_on_timeline
from cart_recovery.domain.gates import quiet_until, zone_for
from cart_recovery.domain.model import Cart, Outcome, SendRecord
from cart_recovery.domain.rules import Rules, SizeTier


@dataclass(frozen=True)
class PlannedStep:
    """A reminder (``step`` 1 or 2) or the close-out (``step`` None): when it falls due, and
    when it would really happen after quiet hours."""

    step: int | None
    due: datetime
    at: datetime

    @property
    def deferred(self) -> bool:
        return self.at != self.due


@dataclass(frozen=True)
class TierPreview:
    tier: SizeTier
    total: Decimal  # the sample cart's total
    steps: tuple[PlannedStep, ...]


def sample_total(tier: SizeTier, rules: Rules) -> Decimal | None:
    """A cart total that falls in ``tier`` (None if no round number does)."""
    unders = [t.under for t in rules.tiers if t.under is not None]
    overs = [t.over for t in rules.tiers if t.over is not None]
    if tier.under is not None and tier.over is not None:
        candidates = [(tier.under + tier.over) / 2]
    elif tier.under is not None:
        candidates = [(tier.under / 2).to_integral_value(), tier.under - 1]
    elif tier.over is not None:
        candidates = [tier.over + 50, tier.over + 1]
    else:
        low = max(unders, default=Decimal(0))
        high = min((o for o in overs if o >= low), default=low + 100)
        candidates = [((low + high) / 2).to_integral_value(), low, high]
    for total in candidates:
        total = total.quantize(Decimal("1.00"))
        if total >= 0 and rules.tier_for(total) == tier:
            return total
    return None


def plan(rules: Rules, total: Decimal, abandoned_at: datetime) -> tuple[PlannedStep, ...]:
    """The reminders and close-out of a cart of ``total`` left at ``abandoned_at``, in the
    store's timezone, if nothing else happens."""
    cart = Cart(
        cart_id="sample",
        email="sample@example.com",
        total=total,
        created_at=abandoned_at,
        abandoned_at=abandoned_at,
        last_event_at=abandoned_at,
    )
    zone = zone_for(None, rules)
    done: list[SendRecord] = []
    steps: list[PlannedStep] = []
    while True:
        nxt = next_on_timeline(cart, done, rules)
        if nxt.step is None:
            steps.append(PlannedStep(None, nxt.at, nxt.at))
            return tuple(steps)
        at = quiet_until(nxt.at, zone, rules.quiet) or nxt.at
        steps.append(PlannedStep(nxt.step, nxt.at, at))
        done.append(SendRecord(cart_id="sample", step=nxt.step, outcome=Outcome.SENT, at=at))


def preview(rules: Rules, abandoned_at: datetime) -> list[TierPreview]:
    """One sample cart per size tier, in doc order."""
    out = []
    for tier in rules.tiers:
        total = sample_total(tier, rules)
        if total is not None:
            out.append(TierPreview(tier, total, plan(rules, total, abandoned_at)))
    return out
