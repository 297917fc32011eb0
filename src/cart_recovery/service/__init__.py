"""The service layer: intake, the waiter, the sender and unsubscribe. Load → decide → apply.

Every runtime (embedded, simulate, AWS) calls these same functions; only the adapters differ.
Time always comes in as ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from cart_recovery.adapters.links import LinkMaker
from cart_recovery.adapters.llm.template import TemplateLines
from cart_recovery.adapters.outbox_files import erase_copies
from cart_recovery.domain.address import AddressError, normalise_email, recipient_address
from cart_recovery.domain.cart import apply_event, validate_event
from cart_recovery.domain.compose import ComposeError, OutgoingEmail, compose
from cart_recovery.domain.decide import (
    FirstReminder,
    GiveUp,
    SecondReminder,
    StillShopping,
    decide,
    next_wake,
)
from cart_recovery.domain.gates import Defer, Skip, check_gates
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CartEvent,
    CloseReason,
    Outcome,
    SendRecord,
    SkipReason,
    Status,
    cart_snapshot,
)
from cart_recovery.domain.privacy import Forgotten, shopper_export
from cart_recovery.domain.timers import CancelTimers, DeferSend, SetWake, TimerChange
from cart_recovery.domain.voice import plain_opening
from cart_recovery.ports import (
    BatchReads,
    CartStore,
    Claim,
    DocSource,
    LineWriter,
    Mailer,
    StaleCart,
)

log = logging.getLogger("cart_recovery.service")

RETRIES = 8
MAIL_RETRY = timedelta(minutes=5)
MAIL_ATTEMPTS = 5
IN_FLIGHT_RECHECK = timedelta(minutes=1)


class MailFailure(Exception):
    """Raised by a mailer when the message did not leave (adapters wrap their own errors)."""


class ActionRefused(ValueError):
    """An owner action that cannot be done. ``code``: ``not_found``, ``not_open`` or
    ``bad_address``; the message tells the owner why. Nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def check_address(email: str) -> str:
    """The address an owner typed, stripped; ActionRefused when it is not one."""
    address = email.strip()
    try:
        recipient_address(address)
    except AddressError:
        raise ActionRefused("bad_address", f"{address[:80]!r} is not an email address") from None
    return address


# What the service did, as values: the runtime logs and counts them; simulate reports them.
@dataclass(frozen=True)
class Sent:
    cart_id: str
    step: int
    at: datetime
    recipient: str
    message_id: str
    tier: str = ""


@dataclass(frozen=True)
class Skipped:
    cart_id: str
    step: int
    reason: str
    at: datetime
    tier: str = ""


@dataclass(frozen=True)
class Deferred:
    cart_id: str
    step: int
    due: datetime  # when the step fell due
    at: datetime  # the first allowed minute it was moved to
    tier: str = ""


@dataclass(frozen=True)
class Closed:
    cart_id: str
    reason: str
    at: datetime
    tier: str = ""


@dataclass(frozen=True)
class Stopped:
    """A send refused at the last re-check (bought, closed, unsubscribed, or claimed already)."""

    cart_id: str
    step: int
    why: str
    at: datetime


@dataclass(frozen=True)
class MailFailed:
    cart_id: str
    step: int
    at: datetime
    retry_at: datetime | None
    error: str


@dataclass(frozen=True)
class HandedOff:
    """The waiter passed a due step to a separate sender (the AWS runtime's EventBridge)."""

    cart_id: str
    step: int
    due: datetime
    at: datetime


Happening = Sent | Skipped | Deferred | Closed | Stopped | MailFailed | HandedOff
H = TypeVar("H", Sent, Skipped, Deferred, Closed, Stopped, MailFailed, HandedOff)

HANDOFF_SAFETY = timedelta(hours=1)  # look again if a handed-off step was never finished


@dataclass(frozen=True)
class _Ready:
    """A claimed step whose message is composed and not yet handed to the mailer."""

    cart: Cart
    sends: list[SendRecord]
    step: int
    outgoing: OutgoingEmail
    tier: str


class _Reads(Protocol):
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]: ...

    def is_unsubscribed(self, email: str) -> bool: ...

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]: ...


@dataclass(frozen=True)
class _Prefetched:
    """A batch's reads, fetched ahead inside its transaction; anything not fetched (or asked
    again after a conflict) goes to the store."""

    store: CartStore
    since: datetime
    carts: dict[str, tuple[Cart | None, list[SendRecord]]]
    asked: set[str]  # the addresses whose unsubscribes were fetched
    unsubscribed: set[str]
    recent: dict[str, list[SendRecord]]

    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        found = self.carts.pop(cart_id, None)  # once: a second look reads the store
        return found if found is not None else self.store.load(cart_id)

    def is_unsubscribed(self, email: str) -> bool:
        if email in self.asked:
            return email in self.unsubscribed
        return self.store.is_unsubscribed(email)

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        found = self.recent.get(normalise_email(email))
        if found is None or since != self.since:
            return self.store.sent_to(email, since)
        return found


@dataclass
class WakeBatch:
    """What ``Service.wake_many`` did: happenings, the carts it fired, the carts it left for
    the next batch, and the wake-ups that raised."""

    happenings: list[Happening] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    errors: list[tuple[str, Exception]] = field(default_factory=list)


NoLines = TemplateLines  # the default line writer: the owner's plain opening line, always


@dataclass
class Service:
    store: CartStore
    mailer: Mailer
    docs: DocSource
    links: LinkMaker
    sender: str
    message_id_domain: str
    lines: LineWriter = field(default_factory=NoLines)
    default_locale: str = "en_US"
    mail_errors: tuple[type[Exception], ...] = (MailFailure,)
    on_happening: Callable[[Happening], None] | None = None
    # None: the waiter sends itself (embedded). Otherwise it hands each due step to this
    # (cart_id, step, due) → e.g. an EventBridge event whose target calls ``send_reminder``.
    hand_off: Callable[[str, int, datetime], None] | None = None

    # ---- intake -------------------------------------------------------------------------
    def ingest(self, event: CartEvent, now: datetime) -> bool:
        """Apply one cart event. False: a redelivery of an event already processed (no-op).

        Raises EventError (naming the field) for an invalid event; nothing is stored then.
        """
        event = validate_event(event, now)
        for _ in range(RETRIES):
            cart, sends = self.store.load(event.cart_id)
            applied = apply_event(cart, event, now)
            timer: TimerChange | None = None
            audit = None
            if applied.cart is not None:
                if applied.cancel:
                    timer = CancelTimers()
                elif applied.reschedule:
                    wake = next_wake(applied.cart, sends, self.docs.rules())
                    timer = SetWake(wake) if wake is not None else CancelTimers()
                audit = AuditEntry(
                    cart_id=event.cart_id,
                    at=now,
                    by="system",
                    action=applied.action,
                    before=cart_snapshot(cart),
                    after=cart_snapshot(applied.cart),
                    detail=f"{event.type} {event.event_id}",
                )
            try:
                return self.store.apply_event(
                    event,
                    cart=applied.cart,
                    expected_version=None if cart is None else cart.version,
                    audit=audit,
                    timer=timer,
                    now=now,
                )
            except StaleCart:
                continue
        raise StaleCart(f"cart {event.cart_id} kept changing while an event was applied")

    # ---- the waiter ---------------------------------------------------------------------
    def wake(self, cart_id: str, now: datetime) -> list[Happening]:
        """One wake-up of one cart (a fired wake-up or a fired quiet-hours deferral)."""
        return self._wake(cart_id, now, sender=self.hand_off is None)

    def send_reminder(self, cart_id: str, now: datetime) -> list[Happening]:
        """The sender's entry point: whatever step is due for the cart now, through the gates.
        A stale or repeated call decides afresh, so it never sends twice or out of turn."""
        return self._wake(cart_id, now, sender=True)

    def _wake(self, cart_id: str, now: datetime, *, sender: bool) -> list[Happening]:
        for _ in range(RETRIES):
            try:
                return self._wake_once(cart_id, now, sender)
            except StaleCart:
                continue
        raise StaleCart(f"cart {cart_id} kept changing during a wake-up")

    def _wake_once(self, cart_id: str, now: datetime, sender: bool) -> list[Happening]:
        step = self._wake_step(cart_id, now, sender)
        if isinstance(step, _Ready):
            return [self._record(step, self._transmit(step), now)]
        return step or []  # None only with a ``busy`` set, which a single wake-up has not

    # ---- many wake-ups at once (the embedded timer loop) -----------------------------------
    def wake_many(
        self,
        cart_ids: Sequence[str],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
    ) -> WakeBatch:
        """Fire many due wake-ups with two commits instead of several per wake-up.

        1. In one ``group()``: load, decide and run the gates for every cart; write what needs
           no email (a new wake time, a close, a skip, a deferral) and claim every step that
           is to be sent. The commit makes every claim durable before any email leaves.
        2. Outside any transaction: hand each claimed message to the mailer.
        3. In one ``group()``: record each step as sent (or failed) and set the next wake.

        A crash between 1 and 3 leaves claims that start-up turns into ``uncertain``: never
        sent twice. Within a batch an address is mailed at most once: a second cart of an
        address that is being mailed is left for the next batch (``later``), so the
        do-not-disturb gate sees the first send. ``errors``: wake-ups that raised; the rest of
        the batch still went through.
        """
        batch = WakeBatch()
        if self.hand_off is not None:  # a separate sender does the mailing: nothing to batch
            for cart_id in cart_ids:
                try:
                    batch.happenings.extend(self.wake(cart_id, now))
                    batch.fired.append(cart_id)
                except Exception as e:
                    batch.errors.append((cart_id, e))
            return batch
        ready: list[_Ready] = []
        mailing: set[str] = set()
        with group():
            reads = self._batch_reads(cart_ids, now)
            for cart_id in cart_ids:
                try:
                    step = self._wake_step_retrying(cart_id, now, busy=mailing, reads=reads)
                except Exception as e:
                    batch.errors.append((cart_id, e))
                    continue
                if step is None:
                    batch.later.append(cart_id)
                    continue
                batch.fired.append(cart_id)
                if isinstance(step, _Ready):
                    ready.append(step)
                    mailing.add(normalise_email(step.outgoing.to))
                else:
                    batch.happenings.extend(step)
        outcomes: list[tuple[_Ready, Exception | None]] = []
        for item in ready:
            try:
                outcomes.append((item, self._transmit(item)))
            except Exception as e:  # not a mail error: the claim stays (uncertain at start-up)
                batch.errors.append((item.cart.cart_id, e))
        with group():
            for item, error in outcomes:
                try:
                    batch.happenings.append(self._record(item, error, now))
                except Exception as e:
                    batch.errors.append((item.cart.cart_id, e))
        return batch

    def _batch_reads(self, cart_ids: Sequence[str], now: datetime) -> _Reads:
        """What the batch will read, fetched with a few queries when the store can."""
        if not isinstance(self.store, BatchReads):
            return self.store
        loaded = self.store.load_many(cart_ids)
        emails = {cart.email for cart, _ in loaded.values() if cart is not None and cart.email}
        since = now - self.docs.rules().do_not_disturb
        return _Prefetched(
            self.store,
            since,
            loaded,
            emails,
            self.store.unsubscribed_among(emails),
            self.store.sent_to_many(emails, since),
        )

    def _wake_step_retrying(
        self, cart_id: str, now: datetime, busy: set[str], reads: _Reads
    ) -> list[Happening] | _Ready | None:
        for _ in range(RETRIES):
            try:
                return self._wake_step(cart_id, now, True, busy=busy, reads=reads)
            except StaleCart:
                reads = self.store  # what was read ahead is stale: read again
                continue
        raise StaleCart(f"cart {cart_id} kept changing during a wake-up")

    def _wake_step(
        self,
        cart_id: str,
        now: datetime,
        sender: bool,
        *,
        busy: set[str] | None = None,
        reads: _Reads | None = None,
    ) -> list[Happening] | _Ready | None:
        """Everything of a wake-up up to and including the claim: what happened, or a claimed
        step ready to be mailed, or None when ``busy`` holds the cart's address already."""
        reads = reads or self.store
        cart, sends = reads.load(cart_id)
        if cart is None:
            return []
        rules = self.docs.rules()
        move = decide(cart, sends, rules, now)
        if isinstance(move, StillShopping):
            change: TimerChange = SetWake(move.wake_at) if move.wake_at else CancelTimers()
            self.store.set_timer(cart_id, change, expected_version=cart.version)
            return []
        if isinstance(move, GiveUp):
            return [self._close(cart, move.reason, now, by="system")]
        assert isinstance(move, FirstReminder | SecondReminder)
        if not sender and self.hand_off is not None:
            # Look again later in case the hand-off is lost; the sender's reschedule replaces it.
            self.store.set_timer(
                cart_id, SetWake(now + HANDOFF_SAFETY), expected_version=cart.version
            )
            self.hand_off(cart_id, move.step, move.due)
            return [self._tell(HandedOff(cart_id, move.step, move.due, now))]
        if busy is not None and cart.email and normalise_email(cart.email) in busy:
            return None
        return self._prepare_send(cart, sends, move.step, move.due, now, reads)

    def _close(
        self, cart: Cart, reason: CloseReason, now: datetime, by: str, detail: str | None = None
    ) -> Closed:
        closed = msgspec.structs.replace(
            cart, status=Status.CLOSED, closed_at=now, close_reason=reason
        )
        audit = AuditEntry(
            cart_id=cart.cart_id,
            at=now,
            by=by,
            action=str(reason),
            before=cart_snapshot(cart),
            after=cart_snapshot(closed),
            detail=detail,
        )
        self.store.save_cart(
            closed, expected_version=cart.version, audit=audit, timer=CancelTimers()
        )
        return self._tell(Closed(cart.cart_id, str(reason), now, self._tier(cart)))

    # ---- the sender ---------------------------------------------------------------------
    def _prepare_send(
        self,
        cart: Cart,
        sends: list[SendRecord],
        step: int,
        due: datetime,
        now: datetime,
        reads: _Reads,
    ) -> list[Happening] | _Ready:
        """Gates, composition and the claim. A claimed step comes back ``_Ready`` to be mailed
        (``_transmit``) and recorded (``_record``); anything else is done already."""
        existing = next((s for s in sends if s.step == step), None)
        if existing is not None and existing.outcome is Outcome.CLAIMED:
            # Another sender holds the claim right now: look again shortly, never send twice.
            self.store.set_timer(
                cart.cart_id, SetWake(now + IN_FLIGHT_RECHECK), expected_version=cart.version
            )
            return []
        rules = self.docs.rules()
        email = cart.email
        unsubscribed = bool(email) and reads.is_unsubscribed(email or "")
        recent = reads.sent_to(email, now - rules.do_not_disturb) if email else []
        verdict = check_gates(
            cart, step, rules=rules, now=now, unsubscribed=unsubscribed, recent_sends=recent
        )
        tier = self._tier(cart)
        if isinstance(verdict, Skip):
            record = SendRecord(
                cart_id=cart.cart_id,
                step=step,
                outcome=Outcome.SKIPPED,
                at=now,
                recipient=email,
                reason=str(verdict.reason),
            )
            self.store.record_send(record, timer=None)
            self._reschedule(cart.cart_id)
            return [self._tell(Skipped(cart.cart_id, step, str(verdict.reason), now, tier))]
        if isinstance(verdict, Defer):
            record = SendRecord(
                cart_id=cart.cart_id,
                step=step,
                outcome=Outcome.DEFERRED,
                at=now,
                recipient=email,
                reason="quiet_hours",
                due=verdict.until,
            )
            self.store.record_send(record, timer=DeferSend(step, verdict.until))
            return [self._tell(Deferred(cart.cart_id, step, due, verdict.until, tier))]

        assert email is not None
        voice = self.docs.voice()
        plain = plain_opening(voice, step, cart.saved_link)
        opening = self.lines.opening_line(
            plain=plain,
            items=[i.title for i in cart.items],
            saved_link=cart.saved_link,
            store_name=voice.store_name,
            step=step,
            quantities=[i.quantity for i in cart.items],
        )
        try:
            outgoing = compose(
                cart,
                step,
                voice,
                sender=self.sender,
                links=self.links.for_step(cart.cart_id, step, email),
                opening=opening,
                message_id_domain=self.message_id_domain,
                now=now,
                default_locale=self.default_locale,
            )
        except ComposeError as e:
            log.error("reminder not composed", extra={"cart_id": cart.cart_id, "error": str(e)})
            record = SendRecord(
                cart_id=cart.cart_id,
                step=step,
                outcome=Outcome.SKIPPED,
                at=now,
                recipient=email,
                reason=str(SkipReason.NO_EMAIL),
            )
            self.store.record_send(record, timer=None)
            self._reschedule(cart.cart_id)
            return [self._tell(Skipped(cart.cart_id, step, record.reason or "", now, tier))]
        claim = self.store.claim_send(cart.cart_id, step, email, now)
        if claim is not Claim.CLAIMED:
            if claim is Claim.UNSUBSCRIBED:
                record = SendRecord(
                    cart_id=cart.cart_id,
                    step=step,
                    outcome=Outcome.SKIPPED,
                    at=now,
                    recipient=email,
                    reason=str(SkipReason.UNSUBSCRIBED),
                )
                self.store.record_send(record, timer=None)
                self._reschedule(cart.cart_id)
                return [self._tell(Skipped(cart.cart_id, step, record.reason or "", now, tier))]
            self._reschedule(cart.cart_id)
            return [self._tell(Stopped(cart.cart_id, step, str(claim), now))]
        return _Ready(cart, sends, step, outgoing, tier)

    def _transmit(self, ready: _Ready) -> Exception | None:
        """Hand the claimed message to the mailer: None once the next hop took it, or the mail
        error (any other exception propagates and leaves the claim in place)."""
        try:
            self.mailer.send(ready.outgoing.to_wire())
        except self.mail_errors as e:
            return e
        return None

    def _record(self, ready: _Ready, error: Exception | None, now: datetime) -> Happening:
        cart, step, outgoing = ready.cart, ready.step, ready.outgoing
        if error is not None:
            return self._mail_failed(cart, step, now, error)
        self.store.finish_send(
            cart.cart_id, step, Outcome.SENT, at=now, message_id=outgoing.message_id
        )
        # The next wake from what we know (the cart as loaded, this step now sent); if the
        # cart changed meanwhile, from what the store says.
        sent = SendRecord(
            cart_id=cart.cart_id,
            step=step,
            outcome=Outcome.SENT,
            at=now,
            recipient=outgoing.to,
            message_id=outgoing.message_id,
        )
        sends = sorted([*(s for s in ready.sends if s.step != step), sent], key=lambda s: s.step)
        wake = next_wake(cart, sends, self.docs.rules())
        try:
            self.store.set_timer(
                cart.cart_id,
                SetWake(wake) if wake is not None else CancelTimers(),
                expected_version=cart.version,
            )
        except StaleCart:
            self._reschedule(cart.cart_id)
        return self._tell(
            Sent(
                cart.cart_id, step, now, cart.email or outgoing.to, outgoing.message_id, ready.tier
            )
        )

    def _mail_failed(self, cart: Cart, step: int, now: datetime, error: Exception) -> MailFailed:
        attempts = self._failures.get((cart.cart_id, step), 0) + 1
        self._failures[(cart.cart_id, step)] = attempts
        if attempts >= MAIL_ATTEMPTS:
            self._failures.pop((cart.cart_id, step), None)
            self.store.finish_send(
                cart.cart_id, step, Outcome.SKIPPED, at=now, reason="mail_failed"
            )
            self._reschedule(cart.cart_id)
            retry = None
        else:
            retry = now + MAIL_RETRY * attempts
            self.store.finish_send(
                cart.cart_id,
                step,
                Outcome.DEFERRED,
                at=now,
                reason="mail_error",
                due=retry,
                timer=DeferSend(step, retry),
            )
        log.warning(
            "mail not sent",
            extra={"cart_id": cart.cart_id, "step": step, "error": str(error), "retry": retry},
        )
        return self._tell(MailFailed(cart.cart_id, step, now, retry, str(error)))

    def _reschedule(self, cart_id: str) -> None:
        for _ in range(RETRIES):
            cart, sends = self.store.load(cart_id)
            if cart is None:
                return
            wake = next_wake(cart, sends, self.docs.rules())
            change: TimerChange = SetWake(wake) if wake is not None else CancelTimers()
            try:
                self.store.set_timer(cart_id, change, expected_version=cart.version)
                return
            except StaleCart:
                continue
        raise StaleCart(f"cart {cart_id} kept changing while it was rescheduled")

    # ---- stops ----------------------------------------------------------------------------
    def unsubscribe(self, email: str, now: datetime, *, source: str = "shopper") -> bool:
        """The one unsubscribe handler: footer link, RFC 8058 one-click, and the owner."""
        return self.store.unsubscribe(email, source=source, at=now)

    def follow_return_link(self, cart_id: str, step: int, now: datetime) -> str | None:
        """A shopper clicked the return link of reminder ``step``: record the click and give
        the cart's stored return URL (None: no such cart, or it has none)."""
        cart, _sends = self.store.load(cart_id)
        if cart is None:
            return None
        self.store.record_click(cart_id, step, now)
        return cart.return_url

    # ---- owner actions: the dashboard, the signed action links and the CLI all come here ---
    def suppress(
        self, cart_id: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> Closed:
        """Stop one cart: closed (reason ``suppressed``), its wake-up cancelled, audited.
        ActionRefused when the cart is unknown or no longer open."""
        return self._owner_close(cart_id, CloseReason.SUPPRESSED, now, by, via)

    def write_off(
        self, cart_id: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> Closed:
        """One cart closed as ``written_off`` (counted apart in the summary), audited."""
        return self._owner_close(cart_id, CloseReason.WRITTEN_OFF, now, by, via)

    def _owner_close(
        self, cart_id: str, reason: CloseReason, now: datetime, by: str, via: str | None
    ) -> Closed:
        verb = "suppress" if reason is CloseReason.SUPPRESSED else "write off"
        for _ in range(RETRIES):
            cart, _sends = self.store.load(cart_id)
            if cart is None:
                raise ActionRefused("not_found", f"there is no cart {cart_id!r}")
            if not cart.is_open:
                state = "bought" if cart.status is Status.BOUGHT else "closed"
                if cart.close_reason is not None:
                    state += f" ({cart.close_reason.replace('_', ' ')})"
                raise ActionRefused(
                    "not_open", f"cart {cart_id} is {state} already: nothing to {verb}"
                )
            try:
                return self._close(cart, reason, now, by=by, detail=via)
            except StaleCart:
                continue
        raise StaleCart(f"cart {cart_id} kept changing during {verb}")

    def forget(
        self, email: str, now: datetime, *, by: str = "owner", outbox: Path | None = None
    ) -> Forgotten:
        """Erase a shopper's personal data (SPEC §9) and keep them unsubscribed through a keyed
        digest of the address. ``outbox``: the outbox folder, whose copies of their reminders
        are deleted too."""
        address = check_address(email)
        forgotten = self.store.forget(address, by=by, at=now)
        if outbox is not None:
            erase_copies(outbox, forgotten.message_ids)
        return forgotten

    def export_shopper(
        self, email: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> dict[str, Any]:
        """Everything kept about a shopper, JSON-ready; each of their carts gets an audit row."""
        address = check_address(email)
        ids = self.store.linked_carts(address)
        carts: list[tuple[str, Cart | None]] = []
        sends: dict[str, list[SendRecord]] = {}
        events: dict[str, list[tuple[CartEvent, datetime]]] = {}
        audit: dict[str, list[AuditEntry]] = {}
        for cart_id in ids:
            cart, records = self.store.load(cart_id)
            carts.append((cart_id, cart))
            sends[cart_id] = records
            events[cart_id] = [(e.event, e.received_at) for e in self.store.events_of(cart_id)]
            audit[cart_id] = self.store.audit(cart_id)
        data = shopper_export(
            address,
            unsubscribed=self.store.is_unsubscribed(address),
            carts=carts,
            events=events,
            sends=sends,
            clicks=self.store.clicks_for(ids),
            audit=audit,
            now=now,
        )
        for cart_id in ids:
            self.store.append_audit(
                AuditEntry(
                    cart_id=cart_id,
                    at=now,
                    by=by,
                    action="exported",
                    detail="the shopper's data was exported" + (f" ({via})" if via else ""),
                )
            )
        return data

    def recover(self, now: datetime) -> list[SendRecord]:
        """At start-up: a claim left by a crash becomes ``uncertain`` (never resent)."""
        resolved = self.store.resolve_claims(now)
        for record in resolved:
            self._reschedule(record.cart_id)
        return resolved

    # ---- helpers --------------------------------------------------------------------------
    def _tier(self, cart: Cart) -> str:
        if cart.wait_override is not None:
            return "override"
        return self.docs.rules().tier_for(cart.total).name

    def _tell(self, happening: H) -> H:
        if self.on_happening is not None:
            self.on_happening(happening)
        return happening

    def __post_init__(self) -> None:
        self._failures: dict[tuple[str, int], int] = {}
