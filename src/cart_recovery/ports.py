"""The ports: what the service needs from the outside world, each with its contract.

Every port has an in-memory adapter (``adapters/memory.py``) that is a complete implementation,
and the contract suites in ``tests/contract`` run against every adapter.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from .domain.model import AuditEntry, Cart, CartEvent, Outcome, SendRecord
from .domain.rules import Rules
from .domain.timers import Timer, TimerChange
from .domain.voice import Voice


class StaleCart(Exception):
    """A conditional write found the cart at another version than the caller read: retry."""


class Claim(enum.StrEnum):
    CLAIMED = "claimed"  # this caller, and only this caller, may now send the step
    ALREADY = "already"  # the step is claimed or done already: never send it again
    STOPPED = "stopped"  # the cart is bought or closed (or gone)
    UNSUBSCRIBED = "unsubscribed"  # the address is on the unsubscribe list


class CartStore(Protocol):
    """Cart rows, send history, audit, unsubscribes and processed event ids.

    Every write method is atomic: all of it happens or none of it does. Writes that carry a
    ``timer`` change apply it together with the rows (the embedded store in one transaction;
    a store whose timers live elsewhere applies it right after its own commit, idempotently).
    Emails are compared case-insensitively (the store keys them by ``normalise_email``).
    """

    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        """The cart row (or None) and its send records ordered by step."""

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        """Records with outcome ``sent`` to ``email`` at or after ``since``, any cart."""

    def is_unsubscribed(self, email: str) -> bool: ...

    def apply_event(
        self,
        event: CartEvent,
        *,
        cart: Cart | None,
        expected_version: int | None,
        audit: AuditEntry | None,
        timer: TimerChange | None,
        now: datetime,
    ) -> bool:
        """Record ``event`` as processed for its cart and write ``cart`` (None: row unchanged).

        Returns False, writing nothing, when ``(cart_id, event_id)`` was processed before.
        ``expected_version`` is the version the caller read (None: no row existed); if the row
        is at another version now, raises StaleCart and writes nothing. A written cart's
        version is ``expected_version + 1`` (0 for a new row) whatever ``cart.version`` says.
        """

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        """Conditional write of an existing cart (StaleCart as above); returns it as stored."""

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        """Apply a timer change if the cart is still at ``expected_version`` (else StaleCart)."""

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        """Write a ``skipped`` or ``deferred`` record unless the step is claimed or done already
        (then False, nothing written)."""

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        """Atomically: if the cart is open, the address not unsubscribed, and the step has no
        record or only a ``deferred`` one, mark it ``claimed`` and return CLAIMED. Exactly one
        of any number of concurrent callers gets CLAIMED."""

    def finish_send(
        self,
        cart_id: str,
        step: int,
        outcome: Outcome,
        *,
        at: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        due: datetime | None = None,
        timer: TimerChange | None = None,
    ) -> None:
        """Move a ``claimed`` step to ``sent``, ``skipped``, or back to ``deferred`` (a send
        that failed before the message left). Does nothing if the step is not claimed."""

    def resolve_claims(self, now: datetime, audit_by: str = "system") -> list[SendRecord]:
        """Turn every ``claimed`` step into ``uncertain`` (a crash fell between claim and send);
        called at start-up, before any sender runs. Writes an audit row for each."""

    def unsubscribe(self, email: str, *, source: str, at: datetime) -> bool:
        """Put the address on the list forever (False if it was there already). Writes an audit
        row for every cart of that address (by ``source``)."""

    def audit(self, cart_id: str) -> list[AuditEntry]: ...

    def carts_of(self, email: str) -> list[Cart]: ...

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        """Carts first seen (``created_at``) in [start, end), ordered by (created_at, cart_id)."""

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        """Ids of carts created, sent an event, or written (audit) in [start, end), sorted."""

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        """How many addresses went on the unsubscribe list in [start, end)."""


class WakeQueue(Protocol):
    """Due wake-ups, for a runtime that fires its own timers (the embedded one).

    At most one timer per cart. A fired timer stays until the service's write for that cart
    replaces or cancels it, so a crash re-fires it (the service makes a second firing harmless).
    """

    def due(self, now: datetime, limit: int) -> list[Timer]:
        """Timers with ``due <= now``, ordered by (due, cart_id), at most ``limit``."""

    def next_due(self) -> datetime | None: ...

    def pending(self) -> int: ...


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message (From, To and Message-ID set). Raises MailError on failure;
        returning means the next hop accepted it."""


class LineWriter(Protocol):
    """Polishes the one line an LLM may touch. Never raises: ``None`` means keep ``plain``.

    Adapters validate what comes back (one sentence, a length cap, no links, no prices or
    numbers that are not in the input, no quotes or markup) and fall back to ``None``, logging
    the reason, on any failure or timeout.
    """

    def opening_line(self, *, plain: str, items: Sequence[str], saved_link: bool) -> str | None:
        """A one-sentence opening line for a reminder, or None to keep ``plain``."""

    def summary_paragraph(self, *, plain: str, figures: Mapping[str, object]) -> str | None:
        """A short paragraph for the owner's monthly summary, or None to keep ``plain``."""


class DocSource(Protocol):
    """The owner's rules and voice docs. A bad edit never replaces the last good version."""

    def rules(self) -> Rules: ...

    def voice(self) -> Voice: ...


def normalise_email(email: str) -> str:
    return email.strip().casefold()


__all__ = [
    "CartStore",
    "Claim",
    "DocSource",
    "LineWriter",
    "Mailer",
    "StaleCart",
    "WakeQueue",
    "normalise_email",
]
