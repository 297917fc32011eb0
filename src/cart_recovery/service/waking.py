"""The waiter and the sender: a due wake-up is planned by ``domain.wakeup.plan_wakeup`` and the
plan is carried out here against the store and the mailer. Load → plan → apply."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import cast

import msgspec

from cart_recovery.domain.compose import ComposeError, OutgoingEmail, compose
from cart_recovery.domain.decide import next_wake
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CloseReason,
    Outcome,
    SendRecord,
    SkipReason,
    Status,
    cart_snapshot,
)
from cart_recovery.domain.timers import CancelTimers, DeferSend, SetWake, TimerChange
from cart_recovery.domain.voice import plain_opening
from cart_recovery.domain.wakeup import (
    Close,
    Defer,
    HandOff,
    Later,
    Plan,
    Recheck,
    Send,
    Skip,
    Wait,
    plan_wakeup,
    skipped,
    tier_name,
)
from cart_recovery.ports import (
    BatchReads,
    BatchWrites,
    CartStore,
    Claim,
    DeferredSync,
    DocSource,
    LineWriter,
    LinkMaker,
    Mailer,
    MailError,
    StaleCart,
)
from cart_recovery.service.happenings import (
    Bounced,
    Closed,
    Deferred,
    H,
    HandedOff,
    Happening,
    MailFailed,
    Skipped,
    Stopped,
    WakeBatch,
)
from cart_recovery.service.overlap import WAKE_CHUNK, Batched, Overlapping, Ready, Step
from cart_recovery.service.prefetch import Prefetched, Reads
from cart_recovery.service.retry import retrying

log = logging.getLogger("cart_recovery.service")

MAIL_RETRY = timedelta(minutes=5)
MAIL_ATTEMPTS = 5
HANDOFF_SAFETY = timedelta(hours=1)  # look again if a handed-off step was never finished
__all__ = ["WAKE_CHUNK", "Waking"]


class Waking(Overlapping):
    """The waiter and the sender of ``Service`` (see ``service.core``)."""

    store: CartStore
    mailer: Mailer
    docs: DocSource
    links: LinkMaker
    sender: str
    message_id_domain: str
    lines: LineWriter
    default_locale: str
    mail_errors: tuple[type[Exception], ...]
    hand_off: Callable[[str, int, datetime], None] | None

    def _tell(self, happening: H) -> H:
        raise NotImplementedError

    def mail_feedback(self, feedback: MailFeedback, now: datetime) -> object:
        raise NotImplementedError

    # ---- one wake-up ------------------------------------------------------------------------
    def wake(self, cart_id: str, now: datetime) -> list[Happening]:
        """One wake-up of one cart (a fired wake-up or a fired quiet-hours deferral)."""
        return self._wake(cart_id, now, sender=self.hand_off is None)

    def send_reminder(self, cart_id: str, now: datetime) -> list[Happening]:
        """The sender's entry point: whatever step is due for the cart now, through the gates.
        A stale or repeated call decides afresh, so it never sends twice or out of turn."""
        return self._wake(cart_id, now, sender=True)

    def _wake(self, cart_id: str, now: datetime, *, sender: bool) -> list[Happening]:
        def once() -> list[Happening]:
            step = self._wake_step(cart_id, now, sender)
            if isinstance(step, Ready):
                return [self._record(step, self._transmit(step), now)]
            return step or []  # None only with a ``busy`` set, which a single wake-up has not

        return retrying(once, f"cart {cart_id} kept changing during a wake-up")

    # ---- many wake-ups at once (the embedded timer loop) -----------------------------------
    def wake_many(
        self,
        cart_ids: Sequence[str],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
    ) -> WakeBatch:
        """Fire many due wake-ups, WAKE_CHUNK at a time, with one commit per chunk.

        Each ``group()`` records the chunk before (each step sent or failed, its next wake),
        then loads, plans and runs the gates for the next chunk: it writes what needs no email
        (a new wake time, a close, a skip, a deferral) and claims every step to be sent. Its
        commit makes those claims durable before any of their emails leaves; the chunk's
        messages go to the mailer outside any transaction; the next ``group()`` records them.

        A crash between a claim commit and the next leaves at most WAKE_CHUNK claims, which
        start-up turns into ``uncertain``: never sent twice. Within a batch an address is
        mailed at most once (the plan's ``Later``). ``errors``: wake-ups that raised; the rest
        of the batch still went through.

        With a store that reads and writes a chunk at a time and can sync later (``BatchReads``,
        ``BatchWrites``, ``DeferredSync``), each commit's sync runs on a second thread while
        the next chunk is read, planned and composed (``service.overlap``).
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
        if all(isinstance(self.store, port) for port in (BatchReads, BatchWrites, DeferredSync)):
            return self._wake_overlapped(cart_ids, now, group, cast(Batched, self.store))
        mailing: set[str] = set()
        sent: list[tuple[Ready, Exception | None]] = []
        for start in range(0, len(cart_ids), WAKE_CHUNK):
            chunk = cart_ids[start : start + WAKE_CHUNK]
            with group():
                self._record_all(sent, now, batch)
                ready = self._claim_chunk(chunk, now, mailing, batch)
            sent = self._transmit_all(ready, batch)
        if sent:
            with group():
                self._record_all(sent, now, batch)
        return batch

    def _claim_chunk(
        self, cart_ids: Sequence[str], now: datetime, mailing: set[str], batch: WakeBatch
    ) -> list[Ready]:
        """Load, plan, gate and claim a chunk (inside the caller's ``group()``)."""
        ready: list[Ready] = []
        reads = self._batch_reads(cart_ids, now)
        for cart_id in cart_ids:
            try:
                step = self._wake_step_retrying(cart_id, now, mailing, reads)
            except Exception as e:
                batch.errors.append((cart_id, e))
                continue
            if step is None:
                batch.later.append(cart_id)
                continue
            batch.fired.append(cart_id)
            if isinstance(step, Ready):
                ready.append(step)
                mailing.add(step.batch_key)
            else:
                batch.happenings.extend(step)
        return ready

    def _transmit_all(
        self, ready: list[Ready], batch: WakeBatch
    ) -> list[tuple[Ready, Exception | None]]:
        outcomes: list[tuple[Ready, Exception | None]] = []
        for item in ready:
            try:
                outcomes.append((item, self._transmit(item)))
            except Exception as e:  # not a mail error: the claim stays (uncertain at start-up)
                batch.errors.append((item.cart.cart_id, e))
        return outcomes

    def _record_all(
        self, outcomes: list[tuple[Ready, Exception | None]], now: datetime, batch: WakeBatch
    ) -> None:
        for item, error in outcomes:
            try:
                batch.happenings.append(self._record(item, error, now))
            except Exception as e:
                batch.errors.append((item.cart.cart_id, e))

    def _batch_reads(self, cart_ids: Sequence[str], now: datetime) -> Reads:
        """What the batch will read, fetched with a few queries when the store can."""
        if not isinstance(self.store, BatchReads):
            return self.store
        return self._prefetch(self.store, self.store, cart_ids, now)

    def _prefetch(
        self, source: BatchReads, fallback: Reads, cart_ids: Sequence[str], now: datetime
    ) -> Reads:
        """What the batch will read, from ``source`` (the store, or its read-ahead); anything
        else from ``fallback``."""
        loaded = source.load_many(cart_ids)
        emails = {cart.email for cart, _ in loaded.values() if cart is not None and cart.email}
        since = now - self.docs.rules().do_not_disturb
        return Prefetched(
            fallback,
            since,
            loaded,
            emails,
            source.unsubscribed_among(emails),
            source.sent_to_many(emails, since),
        )

    def _wake_step_retrying(
        self, cart_id: str, now: datetime, busy: set[str], reads: Reads
    ) -> Step:
        first = [reads]

        def once() -> Step:
            try:
                return self._wake_step(cart_id, now, True, busy=busy, reads=first[0])
            except StaleCart:
                first[0] = self.store  # what was read ahead is stale: read again
                raise

        return retrying(once, f"cart {cart_id} kept changing during a wake-up")

    def _wake_step(
        self,
        cart_id: str,
        now: datetime,
        sender: bool,
        *,
        busy: set[str] | None = None,
        reads: Reads | None = None,
    ) -> Step:
        """Everything of a wake-up up to and including the claim: what happened, or a claimed
        step ready to be mailed, or None when ``busy`` holds the cart's address already."""
        reads = reads or self.store
        cart, sends = reads.load(cart_id)
        if cart is None:
            return []
        rules = self.docs.rules()
        plan = plan_wakeup(
            cart,
            sends,
            rules,
            now,
            reads,
            mailing=busy or (),
            hand_off=not sender and self.hand_off is not None,
        )
        return self._apply(plan, cart, sends, now)

    def _apply(self, plan: Plan, cart: Cart, sends: list[SendRecord], now: datetime) -> Step:
        """Carry out a wake-up's plan up to the claim."""
        cart_id = cart.cart_id
        if isinstance(plan, Wait | Recheck):
            until = plan.wake_at if isinstance(plan, Wait) else plan.at
            change: TimerChange = SetWake(until) if until else CancelTimers()
            self.store.set_timer(cart_id, change, expected_version=cart.version)
            return []
        if isinstance(plan, Close):
            return [self._close(cart, plan.reason, now, by="system")]
        if isinstance(plan, HandOff):
            assert self.hand_off is not None
            # Look again later in case the hand-off is lost; the sender's reschedule replaces it.
            self.store.set_timer(
                cart_id, SetWake(now + HANDOFF_SAFETY), expected_version=cart.version
            )
            self.hand_off(cart_id, plan.step, plan.due)
            return [self._tell(HandedOff(cart_id, plan.step, plan.due, now))]
        if isinstance(plan, Later):
            return None
        tier = tier_name(cart, self.docs.rules())
        if isinstance(plan, Skip):
            if plan.why:
                log.error("reminder not composed", extra={"cart_id": cart_id, "error": plan.why})
            return [self._skip(plan.record, now, tier)]
        if isinstance(plan, Defer):
            self.store.record_send(plan.record, timer=DeferSend(plan.step, plan.until))
            return [self._tell(Deferred(cart_id, plan.step, plan.due, plan.until, tier))]
        return self._claim(plan, cart, sends, now, tier)

    def _skip(self, record: SendRecord, now: datetime, tier: str) -> Skipped:
        self.store.record_send(record, timer=None)
        self._reschedule(record.cart_id)
        return self._tell(Skipped(record.cart_id, record.step, record.reason or "", now, tier))

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
        return self._tell(
            Closed(cart.cart_id, str(reason), now, tier_name(cart, self.docs.rules()))
        )

    # ---- the sender ---------------------------------------------------------------------
    def _claim(
        self, plan: Send, cart: Cart, sends: list[SendRecord], now: datetime, tier: str
    ) -> list[Happening] | Ready:
        """Compose and claim a step the plan says to send. A claimed step comes back
        ``Ready`` to be mailed (``_transmit``) and recorded (``_record``)."""
        try:
            outgoing = self._compose_send(plan, cart, now)
        except ComposeError as e:
            log.error("reminder not composed", extra={"cart_id": cart.cart_id, "error": str(e)})
            record = skipped(cart, plan.step, str(SkipReason.NO_EMAIL), now)
            return [self._skip(record, now, tier)]
        return self._claimed(Ready(cart, sends, plan.step, outgoing, tier, plan.batch_key), now)

    def _compose_send(self, plan: Send, cart: Cart, now: datetime) -> OutgoingEmail:
        """The message of a step the plan says to send (``ComposeError`` when it cannot be)."""
        step, email = plan.step, cart.email
        assert email is not None  # the plan sends only to a cart's mailable address
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
        return compose(
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

    def _claimed(self, ready: Ready, now: datetime) -> list[Happening] | Ready:
        """Claim a composed step: ``ready`` once claimed, or what happened instead."""
        cart, step = ready.cart, ready.step
        assert cart.email is not None
        return self._after_claim(
            ready, self.store.claim_send(cart.cart_id, step, cart.email, now), now
        )

    def _after_claim(self, ready: Ready, claim: Claim, now: datetime) -> list[Happening] | Ready:
        cart, step, tier = ready.cart, ready.step, ready.tier
        if claim is not Claim.CLAIMED:
            if claim is Claim.UNSUBSCRIBED:
                record = skipped(cart, step, str(SkipReason.UNSUBSCRIBED), now)
                return [self._skip(record, now, tier)]
            self._reschedule(cart.cart_id)
            return [self._tell(Stopped(cart.cart_id, step, str(claim), now))]
        return ready

    def _transmit(self, ready: Ready) -> Exception | None:
        """Hand the claimed message to the mailer: None once the next hop took it, or the mail
        error (any other exception propagates and leaves the claim in place)."""
        try:
            self.mailer.send(ready.outgoing)
        except self.mail_errors as e:
            return e
        return None

    def _record(self, ready: Ready, error: Exception | None, now: datetime) -> Happening:
        cart, step, outgoing = ready.cart, ready.step, ready.outgoing
        if error is not None:
            return self._mail_failed(ready, now, error)
        self.store.finish_send(
            cart.cart_id, step, Outcome.SENT, at=now, message_id=outgoing.message_id
        )
        wake = self._wake_after(ready, now)
        try:
            self.store.set_timer(
                cart.cart_id,
                SetWake(wake) if wake is not None else CancelTimers(),
                expected_version=cart.version,
            )
        except StaleCart:
            self._reschedule(cart.cart_id)
        return self._sent(ready, now)

    def _mail_failed(self, ready: Ready, now: datetime, error: Exception) -> MailFailed | Bounced:
        """The mail did not leave: try again later with a growing wait, or after
        MAIL_ATTEMPTS failures skip the step. The count is kept with the step in the store.
        A permanent refusal of the recipient is a hard bounce: the step is skipped and the
        address suppressed, never retried."""
        cart, step = ready.cart, ready.step
        before = next((s for s in ready.sends if s.step == step), None)
        attempts = (before.attempts if before is not None else 0) + 1
        if isinstance(error, MailError) and error.refused:
            self.store.finish_send(
                cart.cart_id,
                step,
                Outcome.SKIPPED,
                at=now,
                reason=SkipReason.BOUNCED,
                attempts=attempts,
            )
            bounce = MailFeedback(Feedback.HARD_BOUNCE, ready.outgoing.to, "smtp", str(error))
            self.mail_feedback(bounce, now)
            self._reschedule(cart.cart_id)
            log.warning(
                "recipient refused: address suppressed",
                extra={"cart_id": cart.cart_id, "step": step, "code": error.code},
            )
            return self._tell(Bounced(cart.cart_id, step, now, str(error)))
        if attempts >= MAIL_ATTEMPTS:
            self.store.finish_send(
                cart.cart_id, step, Outcome.SKIPPED, at=now, reason="mail_failed", attempts=attempts
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
                attempts=attempts,
            )
        log.warning(
            "mail not sent",
            extra={"cart_id": cart.cart_id, "step": step, "error": str(error), "retry": retry},
        )
        return self._tell(MailFailed(cart.cart_id, step, now, retry, str(error)))

    def _reschedule(self, cart_id: str) -> None:
        def once() -> None:
            cart, sends = self.store.load(cart_id)
            if cart is None:
                return
            wake = next_wake(cart, sends, self.docs.rules())
            change: TimerChange = SetWake(wake) if wake is not None else CancelTimers()
            self.store.set_timer(cart_id, change, expected_version=cart.version)

        retrying(once, f"cart {cart_id} kept changing while it was rescheduled")
