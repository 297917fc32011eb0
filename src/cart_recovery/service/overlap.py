"""Many wake-ups, each chunk's disk sync overlapping the next chunk's reading, planning and
composing.

A chunk's commit (record the chunk before, claim this one) is made on the waking thread and
leaves its sync to a second thread (``DeferredSync``): one ``fdatasync``, which holds no
interpreter lock, while this thread reads the next chunk (the state that commit left), plans
and composes it outside any transaction. Inside its own transaction each step planned to be
sent is claimed only if its cart and sends are still as they were read; any other step (a
change since, a plan that writes without mailing, an error) is decided afresh there, as one
wake-up does. Messages leave only once the sync that covers their claim has returned, and a
chunk is recorded by the next commit: what a crash can leave claimed and unrecorded stays one
chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import msgspec

from cart_recovery.domain.compose import ComposeError, OutgoingEmail
from cart_recovery.domain.decide import next_wake
from cart_recovery.domain.model import Cart, Outcome, SendRecord
from cart_recovery.domain.wakeup import Send, plan_wakeup, tier_name
from cart_recovery.ports import (
    BatchReads,
    BatchWrites,
    CartStore,
    Claim,
    DeferredSync,
    DocSource,
)
from cart_recovery.service.happenings import H, Happening, Sent, WakeBatch
from cart_recovery.service.prefetch import Reads

WAKE_CHUNK = 16  # claimed, mailed and recorded together: what a crash can leave uncertain


class Ready(msgspec.Struct, frozen=True, gc=False):
    """A step whose message is composed and not yet handed to the mailer (claimed, or, fresh
    from the read-ahead, still to be claimed)."""

    cart: Cart
    sends: list[SendRecord]
    step: int
    outgoing: OutgoingEmail
    tier: str
    batch_key: str


Step = list[Happening] | Ready | None  # what a wake-up did up to its claim (None: later)
Handed = list[tuple[Ready, Exception | None]]  # messages handed over, with the mail error if any


class _Prepared(msgspec.Struct, frozen=True, gc=False):
    cart_id: str
    send: Ready | None  # planned and composed from the read-ahead; None: decide in the commit


class Batched(BatchReads, BatchWrites, DeferredSync, Protocol):
    """A store that reads and writes a chunk at a time, and can sync a commit later."""


class Overlapping:
    """The overlapped path of ``Waking.wake_many`` (see ``service.waking``)."""

    store: CartStore
    docs: DocSource

    def _compose_send(self, plan: Send, cart: Cart, now: datetime) -> OutgoingEmail:
        raise NotImplementedError

    def _claimed(self, ready: Ready, now: datetime) -> list[Happening] | Ready:
        raise NotImplementedError

    def _after_claim(self, ready: Ready, claim: Claim, now: datetime) -> list[Happening] | Ready:
        raise NotImplementedError

    def _record(self, ready: Ready, error: Exception | None, now: datetime) -> Happening:
        raise NotImplementedError

    def _reschedule(self, cart_id: str) -> None:
        raise NotImplementedError

    def _tell(self, happening: H) -> H:
        raise NotImplementedError

    def _wake_after(self, ready: Ready, now: datetime) -> datetime | None:
        """The next wake of a cart whose step was just sent, from what we know (the cart as
        loaded, this step now sent)."""
        cart, step, outgoing = ready.cart, ready.step, ready.outgoing
        sent = SendRecord(
            cart_id=cart.cart_id,
            step=step,
            outcome=Outcome.SENT,
            at=now,
            recipient=outgoing.to,
            message_id=outgoing.message_id,
        )
        sends = sorted([*(s for s in ready.sends if s.step != step), sent], key=lambda s: s.step)
        return next_wake(cart, sends, self.docs.rules())

    def _sent(self, ready: Ready, now: datetime) -> Sent:
        cart, outgoing = ready.cart, ready.outgoing
        to = cart.email or outgoing.to
        return self._tell(Sent(cart.cart_id, ready.step, now, to, outgoing.message_id, ready.tier))

    def _wake_step_retrying(
        self, cart_id: str, now: datetime, busy: set[str], reads: Reads
    ) -> Step:
        raise NotImplementedError

    def _prefetch(
        self, source: BatchReads, fallback: Reads, cart_ids: Sequence[str], now: datetime
    ) -> Reads:
        raise NotImplementedError

    def _record_all(self, outcomes: Handed, now: datetime, batch: WakeBatch) -> None:
        raise NotImplementedError

    def _transmit_all(self, ready: list[Ready], batch: WakeBatch) -> Handed:
        raise NotImplementedError

    def _wake_overlapped(
        self,
        cart_ids: Sequence[str],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
        store: Batched,
    ) -> WakeBatch:
        batch = WakeBatch()
        chunks = [cart_ids[i : i + WAKE_CHUNK] for i in range(0, len(cart_ids), WAKE_CHUNK)]
        mailing: set[str] = set()  # the addresses of this batch
        sent: Handed = []

        def unsynced() -> AbstractContextManager[None]:
            return store.group(sync=False)

        with ThreadPoolExecutor(1, thread_name_prefix="wake-sync") as syncer:
            prepared = self._prepare(chunks[0], now, mailing, self._read(chunks[0], now, store))
            for index in range(len(chunks)):
                # the chunk's steps decided afresh add their addresses to ``mailing`` before
                # the next chunk is planned: its plans see them
                ready = self._commit_chunk(sent, prepared, now, unsynced, mailing, store, batch)
                synced = syncer.submit(store.sync)
                after = chunks[index + 1] if index + 1 < len(chunks) else []
                prepared = (
                    self._prepare(after, now, mailing, self._read(after, now, store))
                    if after
                    else []
                )
                synced.result()  # this chunk's claims are durable
                sent = self._transmit_all(ready, batch)
        if sent:
            with group():
                self._record_all(sent, now, batch)
        return batch

    def _read(self, cart_ids: Sequence[str], now: datetime, store: Batched) -> Reads | None:
        """A chunk's reads, fetched between two commits (None if that failed)."""
        try:
            return self._prefetch(store, self.store, cart_ids, now)
        except Exception:
            return None

    def _prepare(
        self, cart_ids: Sequence[str], now: datetime, mailing: set[str], reads: Reads | None
    ) -> list[_Prepared]:
        """Plan and compose a chunk from what was read; writes nothing."""
        if reads is None:
            return [_Prepared(cart_id, None) for cart_id in cart_ids]
        out = []
        for cart_id in cart_ids:
            try:
                send = self._prepare_one(cart_id, now, mailing, reads)
            except Exception:  # decided again inside the commit, where its error is counted
                send = None
            if send is not None:
                mailing.add(send.batch_key)
            out.append(_Prepared(cart_id, send))
        return out

    def _prepare_one(
        self, cart_id: str, now: datetime, mailing: set[str], reads: Reads
    ) -> Ready | None:
        cart, sends = reads.load(cart_id)
        if cart is None:
            return None
        rules = self.docs.rules()
        plan = plan_wakeup(cart, sends, rules, now, reads, mailing=mailing)
        if not isinstance(plan, Send):
            return None
        try:
            outgoing = self._compose_send(plan, cart, now)
        except ComposeError:
            return None
        return Ready(cart, sends, plan.step, outgoing, tier_name(cart, rules), plan.batch_key)

    def _commit_chunk(
        self,
        sent: Handed,
        prepared: list[_Prepared],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
        mailing: set[str],
        store: Batched,
        batch: WakeBatch,
    ) -> list[Ready]:
        """One commit: record the chunk before, claim this one. Returns the claimed steps; a
        step decided afresh adds its address to ``mailing``."""
        ready: list[Ready] = []
        with group():
            self._record_chunk(sent, now, batch, store)
            claims = self._claim_unchanged(prepared, now, store)
            for p in prepared:
                try:
                    step = self._claim_prepared(p, now, mailing, claims)
                except Exception as e:
                    batch.errors.append((p.cart_id, e))
                    continue
                if step is None:
                    batch.later.append(p.cart_id)
                    continue
                batch.fired.append(p.cart_id)
                if isinstance(step, Ready):
                    ready.append(step)
                    mailing.add(step.batch_key)  # already there for a step claimed as planned
                else:
                    batch.happenings.extend(step)
        return ready

    def _claim_unchanged(
        self, prepared: list[_Prepared], now: datetime, store: Batched
    ) -> dict[str, Claim | None]:
        """Claim, with one statement, every planned step whose cart and sends are still as
        they were read; the others map to None (decided afresh). If that statement fails, the
        unchanged ones are left out (each claimed on its own)."""
        planned = [p.send for p in prepared if p.send is not None]
        if not planned:
            return {}
        current = store.load_many([r.cart.cart_id for r in planned])
        unchanged = [r for r in planned if current.get(r.cart.cart_id) == (r.cart, r.sends)]
        claims: dict[str, Claim | None] = {r.cart.cart_id: None for r in planned}
        try:
            answers = store.claim_sends(
                [(r.cart.cart_id, r.step, r.cart.email or "") for r in unchanged], now
            )
        except Exception:  # each is claimed on its own below, and its error counted
            return {r.cart.cart_id: None for r in planned if r not in unchanged}
        claims.update({r.cart.cart_id: a for r, a in zip(unchanged, answers, strict=True)})
        return claims

    def _claim_prepared(
        self,
        prepared: _Prepared,
        now: datetime,
        busy: set[str],
        claims: dict[str, Claim | None],
    ) -> Step:
        send = prepared.send
        if send is not None and prepared.cart_id not in claims:  # the chunk's claim failed
            return self._claimed(send, now)
        claim = claims.get(prepared.cart_id)
        if send is not None and claim is not None:  # unchanged since read: claimed as composed
            return self._after_claim(send, claim, now)
        own = {send.batch_key} if send is not None else set()
        return self._wake_step_retrying(prepared.cart_id, now, busy - own, self.store)

    def _record_chunk(
        self, handed: Handed, now: datetime, batch: WakeBatch, store: Batched
    ) -> None:
        """Record a chunk's messages: those the mailer took with one statement for the sends
        and one for the next wakes, the rest one by one. Happenings in the chunk's order."""
        took = [item for item, error in handed if error is None]
        try:
            store.finish_sent([(r.cart.cart_id, r.step, r.outgoing.message_id) for r in took], now)
            wakes = [(r, self._wake_after(r, now)) for r in took]
            # a cart changed since it was read, or with nothing more to wake for, is looked at
            # again from the store
            again = set(
                store.set_wakes(
                    [(r.cart.cart_id, due, r.cart.version) for r, due in wakes if due is not None]
                )
            )
            again.update(r.cart.cart_id for r, due in wakes if due is None)
        except Exception:
            self._record_all(handed, now, batch)  # each on its own, its error counted
            return
        for item, error in handed:
            try:
                if error is not None:
                    batch.happenings.append(self._record(item, error, now))
                    continue
                if item.cart.cart_id in again:
                    self._reschedule(item.cart.cart_id)
                batch.happenings.append(self._sent(item, now))
            except Exception as e:
                batch.errors.append((item.cart.cart_id, e))
