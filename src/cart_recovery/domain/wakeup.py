"""The one plan of a wake-up: what a due wake-up of one cart does, as a value (SPEC §6–7).

The plans are frozen msgspec Structs, as the model is: cheap to make on the hot path of
``simulate`` (see docs/performance.md).

``plan_wakeup`` takes the cart, its sends, the rules, the facts about its address and ``now``,
and returns exactly one plan. The service applies it to a store and a mailer; the simulate
engine applies it to its own state. Neither repeats a rule: the decision, the gates, the size
tier, the deferral and skip records, the do-not-disturb window and the "one email per address
per batch" rule are all here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from msgspec import Struct

from cart_recovery.domain.address import AddressError, normalise_email, recipient_address
from cart_recovery.domain.decide import GiveUp, Next, StillShopping, decide
from cart_recovery.domain.gates import Defer as GateDefer
from cart_recovery.domain.gates import Skip as GateSkip
from cart_recovery.domain.gates import check_gates
from cart_recovery.domain.model import Cart, Outcome, SendRecord, SkipReason
from cart_recovery.domain.rules import Rules

IN_FLIGHT_RECHECK = timedelta(minutes=1)  # another sender holds the claim: look again then


class AddressFacts(Protocol):
    """What a plan needs to know about an address, asked only when a step is due."""

    def is_unsubscribed(self, email: str) -> bool: ...

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]: ...


# Nothing to send now: the cart's wake-up moves to ``wake_at`` (None: no wake-up); and give up on
# the cart (``reason``: gave up after the last step, or too old). These two plans are the
# decision's own values, handed on as they are (``simulate`` makes millions of them).
Wait = StillShopping
Close = GiveUp


class HandOff(Struct, frozen=True, gc=False):
    """A step is due; a separate sender takes it from here (the AWS runtime's waiter)."""

    step: int
    due: datetime


class Later(Struct, frozen=True, gc=False):
    """The address is being mailed in this batch already: this cart waits for the next one,
    so that its do-not-disturb gate sees that send."""


class Recheck(Struct, frozen=True, gc=False):
    """Another sender holds this step's claim right now: look again at ``at``, never send."""

    at: datetime


class Defer(Struct, frozen=True, gc=False):
    """Quiet hours in the shopper's zone: the step moves to ``until``; ``record`` is kept."""

    step: int
    due: datetime
    until: datetime
    record: SendRecord


class Skip(Struct, frozen=True, gc=False):
    """The step will never be sent; ``record`` (outcome skipped) counts it as done. ``why``:
    the address's fault when it cannot be mailed at all, for the log."""

    step: int
    reason: str
    record: SendRecord
    why: str = ""


class Send(Struct, frozen=True, gc=False):
    """Every gate is open: compose, claim and mail step ``step`` to ``to``."""

    step: int
    due: datetime
    to: str

    @property
    def batch_key(self) -> str:
        """The key of ``mailing`` that this send holds for the rest of its batch."""
        return normalise_email(self.to)


Plan = Wait | Close | HandOff | Later | Recheck | Defer | Skip | Send
_NOTHING_DUE = (StillShopping, GiveUp)  # a tuple: ``A | B`` would build a union on every call
_CLAIMED = Outcome.CLAIMED  # a global: reading the member from its class costs more


def tier_name(cart: Cart, rules: Rules) -> str:
    """The size tier a cart is reported under: ``override`` when it carries its own wait."""
    if cart.wait_override is not None:
        return "override"
    return rules.tier_for(cart.total).name


def skipped(cart: Cart, step: int, reason: str, now: datetime) -> SendRecord:
    """The record of a step that will never be sent."""
    return SendRecord(
        cart_id=cart.cart_id,
        step=step,
        outcome=Outcome.SKIPPED,
        at=now,
        recipient=cart.email,
        reason=reason,
    )


def plan_wakeup(
    cart: Cart,
    sends: Sequence[SendRecord],
    rules: Rules,
    now: datetime,
    facts: AddressFacts,
    *,
    mailing: Collection[str] = (),
    hand_off: bool = False,
    timeline: Next | None = None,
) -> Plan:
    """What this wake-up of ``cart`` does at ``now``. ``mailing``: the addresses (normalised)
    being mailed in this batch. ``hand_off``: a due step is handed to a separate sender
    rather than run through the gates here. ``timeline``: the cart's ``next_on_timeline``,
    when the caller holds it already (``simulate`` computes it once per cart state)."""
    move = decide(cart, sends, rules, now, timeline=timeline)
    if isinstance(move, _NOTHING_DUE):
        return move
    step, due = move.step, move.due
    if hand_off:
        return HandOff(step, due)
    email = cart.email
    if email and mailing and normalise_email(email) in mailing:
        return Later()
    attempts = 0  # failed mail attempts of this step so far: a deferral keeps them
    for s in sends:
        if s.step == step:
            if s.outcome is _CLAIMED:
                return Recheck(now + IN_FLIGHT_RECHECK)
            attempts = s.attempts
    unsubscribed = bool(email) and facts.is_unsubscribed(email or "")
    recent = facts.sent_to(email, now - rules.do_not_disturb) if email else []
    verdict = check_gates(
        cart, step, rules=rules, now=now, unsubscribed=unsubscribed, recent_sends=recent
    )
    if isinstance(verdict, GateSkip):
        reason = str(verdict.reason)
        return Skip(step, reason, skipped(cart, step, reason, now))
    if isinstance(verdict, GateDefer):
        record = SendRecord(
            cart_id=cart.cart_id,
            step=step,
            outcome=Outcome.DEFERRED,
            at=now,
            recipient=email,
            reason="quiet_hours",
            due=verdict.until,
            attempts=attempts,
        )
        return Defer(step, due, verdict.until, record)
    try:
        to = recipient_address(email)
    except AddressError as e:
        reason = str(SkipReason.NO_EMAIL)
        return Skip(step, reason, skipped(cart, step, reason, now), why=str(e))
    return Send(step, due, to)
