"""The values the core works on: cart events, carts, sends, audit rows.

They are ``msgspec.Struct`` values: frozen, typed, and cheap to turn into JSON for storage.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

EventType = Literal["cart.updated", "cart.checked_out", "cart.saved"]
UPDATED: EventType = "cart.updated"
CHECKED_OUT: EventType = "cart.checked_out"
SAVED: EventType = "cart.saved"

Id = Annotated[str, Meta(min_length=1, max_length=200)]
Short = Annotated[str, Meta(max_length=500)]
Url = Annotated[str, Meta(max_length=4096)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}\Z")]  # \Z: "USD\n" is no currency
Money = Decimal  # non-negative: checked in validate_event
AwareTime = Annotated[datetime, Meta(tz=True)]


class Item(Struct, frozen=True, kw_only=True, gc=False):
    """One line of a cart."""

    title: Annotated[str, Meta(min_length=1, max_length=500)]
    quantity: Annotated[int, Meta(ge=1, le=100_000)] = 1
    unit_price: Money = Decimal(0)
    url: Url | None = None
    image_url: Url | None = None
    sku: Short | None = None

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class CartEvent(Struct, frozen=True, kw_only=True, gc=False):
    """One cart event (SPEC §3), whatever source it came from."""

    event_id: Id
    type: EventType
    cart_id: Id
    occurred_at: AwareTime
    email: Annotated[str, Meta(max_length=320)] | None = None
    name: Short | None = None
    items: tuple[Item, ...] | None = None
    total: Money | None = None
    currency: Currency | None = None
    return_url: Url | None = None
    saved_link: bool | None = None
    timezone: Annotated[str, Meta(max_length=64)] | None = None
    locale: Annotated[str, Meta(max_length=35)] | None = None
    marketing_consent: bool | None = None
    wait_override: tuple[str, str] | None = None


class Status(enum.StrEnum):
    OPEN = "open"
    BOUGHT = "bought"
    CLOSED = "closed"


# An enum member read from its class costs several times a module global's read, and
# ``is_open`` is asked on every event and wake-up of a simulation.
_OPEN = Status.OPEN


class CloseReason(enum.StrEnum):
    GAVE_UP = "gave_up"
    TOO_OLD = "too_old"
    SUPPRESSED = "suppressed"
    WRITTEN_OFF = "written_off"


class Cart(Struct, frozen=True, kw_only=True, gc=False):
    """The canonical row for one cart. ``version`` counts writes (optimistic concurrency)."""

    cart_id: str
    status: Status = Status.OPEN
    email: str | None = None
    name: str | None = None
    items: tuple[Item, ...] = ()
    total: Decimal = Decimal(0)
    currency: str = "USD"
    return_url: str | None = None
    saved_link: bool = False
    timezone: str | None = None
    locale: str | None = None
    marketing_consent: bool | None = None
    wait_override: tuple[timedelta, timedelta] | None = None
    created_at: datetime
    abandoned_at: datetime
    last_event_at: datetime
    bought_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status is _OPEN


class Outcome(enum.StrEnum):
    """Where one ``(cart_id, step)`` stands. ``sent``, ``skipped`` and ``uncertain`` are done."""

    DEFERRED = "deferred"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    UNCERTAIN = "uncertain"


DONE = frozenset({Outcome.SENT, Outcome.SKIPPED, Outcome.UNCERTAIN})


class SkipReason(enum.StrEnum):
    NO_EMAIL = "no_email"
    UNSUBSCRIBED = "unsubscribed"
    DO_NOT_DISTURB = "do_not_disturb"
    NO_CONSENT = "no_consent"
    BOUNCED = "bounced"  # the mail server refused the recipient for good (a hard bounce)


class SendRecord(Struct, frozen=True, kw_only=True, gc=False):
    """One reminder step of one cart: ``at`` is when it reached its outcome."""

    cart_id: str
    step: int
    outcome: Outcome
    at: datetime
    recipient: str | None = None
    reason: str | None = None
    due: datetime | None = None  # for a deferral: when it will be tried again
    message_id: str | None = None
    # Mail attempts of this step that failed so far, kept with its deferral so that the cap
    # holds however many processes try (a Lambda each time); a send clears it.
    attempts: int = 0

    @property
    def done(self) -> bool:
        return self.outcome in DONE


class AuditEntry(Struct, frozen=True, kw_only=True):
    """One write, automatic or manual: who, when, what, and the cart row before and after."""

    cart_id: str
    at: datetime
    by: str  # "system", "shopper", or the owner's name
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: str | None = None


def cart_snapshot(cart: Cart | None) -> dict[str, Any] | None:
    """A JSON-ready picture of a cart row, for audit ``before``/``after``."""
    if cart is None:
        return None
    out: dict[str, Any] = msgspec.to_builtins(cart)
    return out
