"""Attribution and the monthly figures (SPEC §9), computed from the raw rows. Pure.

Recovered = bought within 7 days after a reminder to that cart was sent, split into "clicked
the reminder, then bought" and "bought after a reminder without clicking"; beside them, "came
back on their own" (bought with no reminder sent before the purchase).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from cart_recovery.domain.feedback import BOUNCE, COMPLAINT, COMPLAINT_RATE_LIMIT
from cart_recovery.domain.model import Cart, CloseReason, Outcome, SendRecord, Status

RECOVERY_WINDOW = timedelta(days=7)


class Attribution(enum.StrEnum):
    CLICKED_THEN_BOUGHT = "clicked_then_bought"
    BOUGHT_AFTER_REMINDER = "bought_after_reminder"
    CAME_BACK_ON_OWN = "came_back_on_own"
    BOUGHT_LATE = "bought_late"  # bought, but more than 7 days after the last reminder
    NOT_BOUGHT = "not_bought"

    @property
    def recovered(self) -> bool:
        return self in (Attribution.CLICKED_THEN_BOUGHT, Attribution.BOUGHT_AFTER_REMINDER)


Click = tuple[int, datetime]  # (step, at)


def attribution(cart: Cart, sends: Iterable[SendRecord], clicks: Sequence[Click]) -> Attribution:
    if cart.status is not Status.BOUGHT or cart.bought_at is None:
        return Attribution.NOT_BOUGHT
    bought = cart.bought_at
    sent = [s.at for s in sends if s.outcome is Outcome.SENT and s.at <= bought]
    if not sent:
        return Attribution.CAME_BACK_ON_OWN
    if bought - max(sent) > RECOVERY_WINDOW:
        return Attribution.BOUGHT_LATE
    if any(min(sent) <= at <= bought for _, at in clicks):
        return Attribution.CLICKED_THEN_BOUGHT
    return Attribution.BOUGHT_AFTER_REMINDER


@dataclass(frozen=True)
class CartFacts:
    """One cart with its sends and clicks, as the reports read them; ``closed_by``: who closed
    it, for a cart an owner suppressed or wrote off (from its audit)."""

    cart: Cart
    sends: tuple[SendRecord, ...] = ()
    clicks: tuple[Click, ...] = ()
    closed_by: str | None = None


@dataclass(frozen=True)
class MonthFigures:
    carts_seen: int = 0
    reminders_sent: int = 0
    recovered: int = 0
    clicked_then_bought: int = 0
    bought_after_reminder: int = 0
    came_back_on_own: int = 0
    won_back: dict[str, Decimal] = field(default_factory=dict)  # by currency
    written_off: int = 0
    suppressed: int = 0
    gave_up: int = 0
    unsubscribes: int = 0  # addresses that asked (shopper or owner): bounces and complaints apart
    bounces: int = 0  # addresses suppressed for bouncing
    complaints: int = 0  # spam complaints

    @property
    def complaint_rate(self) -> float:
        """Complaints per reminder sent (0 with no reminders). Mailbox providers want it under
        0.1% (0.3% at the most)."""
        return self.complaints / self.reminders_sent if self.reminders_sent else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "carts_seen": self.carts_seen,
            "reminders_sent": self.reminders_sent,
            "recovered": self.recovered,
            "clicked_then_bought": self.clicked_then_bought,
            "bought_after_reminder": self.bought_after_reminder,
            "came_back_on_own": self.came_back_on_own,
            "won_back": {c: str(v) for c, v in sorted(self.won_back.items())},
            "written_off": self.written_off,
            "suppressed": self.suppressed,
            "gave_up": self.gave_up,
            "unsubscribes": self.unsubscribes,
            "bounces": self.bounces,
            "complaints": self.complaints,
            "complaint_rate": round(self.complaint_rate, 6),
        }


def month_figures(
    facts: Iterable[CartFacts], *, listed: Mapping[str, int], start: datetime, end: datetime
) -> MonthFigures:
    """The month [start, end): carts first seen in it, reminders sent in it, purchases and
    closes that happened in it (each counted in the month it happened); ``listed``: the
    addresses that went on the unsubscribe list in it, by source."""

    def inside(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    seen = sent = clicked = reminded = own = written_off = suppressed = gave_up = 0
    won: dict[str, Decimal] = {}
    for f in facts:
        cart = f.cart
        seen += inside(cart.created_at)
        sent += sum(1 for s in f.sends if s.outcome is Outcome.SENT and inside(s.at))
        if inside(cart.bought_at):
            kind = attribution(cart, f.sends, f.clicks)
            clicked += kind is Attribution.CLICKED_THEN_BOUGHT
            reminded += kind is Attribution.BOUGHT_AFTER_REMINDER
            own += kind is Attribution.CAME_BACK_ON_OWN
            if kind.recovered:
                won[cart.currency] = won.get(cart.currency, Decimal(0)) + cart.total
        if cart.status is Status.CLOSED and inside(cart.closed_at):
            written_off += cart.close_reason is CloseReason.WRITTEN_OFF
            suppressed += cart.close_reason is CloseReason.SUPPRESSED
            gave_up += cart.close_reason in (CloseReason.GAVE_UP, CloseReason.TOO_OLD)
    return MonthFigures(
        carts_seen=seen,
        reminders_sent=sent,
        recovered=clicked + reminded,
        clicked_then_bought=clicked,
        bought_after_reminder=reminded,
        came_back_on_own=own,
        won_back=won,
        written_off=written_off,
        suppressed=suppressed,
        gave_up=gave_up,
        unsubscribes=sum(n for k, n in listed.items() if k not in (BOUNCE, COMPLAINT)),
        bounces=listed.get(BOUNCE, 0),
        complaints=listed.get(COMPLAINT, 0),
    )


def plain_paragraph(fig: MonthFigures, *, store_name: str, month: str, money: str) -> str:
    """The deterministic summary paragraph (the LLM may polish it; this is the fallback).
    ``money`` is the won-back amount already formatted by the caller."""
    if fig.carts_seen == 0 and fig.reminders_sent == 0:
        return f"{store_name} had a quiet {month}: no abandoned carts to follow up."
    parts = [
        f"In {month}, {store_name} saw {fig.carts_seen} abandoned "
        f"cart{'s' if fig.carts_seen != 1 else ''} and sent {fig.reminders_sent} "
        f"reminder{'s' if fig.reminders_sent != 1 else ''}."
    ]
    if fig.recovered:
        parts.append(
            f"{fig.recovered} cart{'s were' if fig.recovered != 1 else ' was'} recovered, "
            f"{money} won back ({fig.clicked_then_bought} after clicking a reminder, "
            f"{fig.bought_after_reminder} after a reminder without clicking)."
        )
    else:
        parts.append("No cart was recovered after a reminder this month.")
    extra = []
    if fig.came_back_on_own:
        extra.append(f"{fig.came_back_on_own} came back on their own")
    if fig.written_off:
        extra.append(f"{fig.written_off} written off")
    if fig.suppressed:
        extra.append(f"{fig.suppressed} suppressed")
    if fig.unsubscribes:
        extra.append(f"{fig.unsubscribes} unsubscribed")
    if fig.bounces:
        extra.append(f"{fig.bounces} bounced and will not be mailed again")
    if extra:
        parts.append("Besides that, " + ", ".join(extra) + ".")
    if fig.complaints:
        rate = f"{fig.complaint_rate:.2%}"
        parts.append(
            f"{fig.complaints} reminder{'s were' if fig.complaints != 1 else ' was'} reported "
            f"as spam ({rate} of those sent"
            + (
                f"; keep it under {COMPLAINT_RATE_LIMIT:.1%})."
                if fig.complaint_rate > COMPLAINT_RATE_LIMIT
                else ")."
            )
        )
    return " ".join(parts)
