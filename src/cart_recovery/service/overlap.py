"""Many wake-ups, each chunk's commit overlapping the next chunk's reading and composing.

A chunk's commit (record the chunk before, claim this one) waits for the disk; meanwhile the
next chunk is read from the last committed state on a connection of its own, planned and
composed. Inside its own transaction each step planned to be sent is claimed only if its cart
and sends are still as they were read; any other step (a change since, a plan that writes
without mailing, an error) is decided afresh there, as one wake-up does. Messages leave only
after their claim's commit, and a chunk is recorded by the next commit: what a crash can leave
claimed and unrecorded stays one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from cart_recovery.domain.compose import ComposeError, OutgoingEmail
from cart_recovery.domain.model import Cart, SendRecord
from cart_recovery.domain.wakeup import Send, plan_wakeup, tier_name
from cart_recovery.ports import BatchReads, CartStore, CommittedReads, DocSource
from cart_recovery.service.happenings import Happening, WakeBatch
from cart_recovery.service.prefetch import Reads

WAKE_CHUNK = 16  # claimed, mailed and recorded together: what a crash can leave uncertain


@dataclass(frozen=True)
class Ready:
    """A step whose message is composed and not yet handed to the mailer (claimed, or, fresh
    from the read-ahead, still to be claimed)."""

    cart: Cart
    sends: list[SendRecord]
    step: int
    outgoing: OutgoingEmail
    tier: str
    batch_key: str


Step = list[Happening] | Ready | None  # what a wake-up did up to its claim (None: later)
Sent = list[tuple[Ready, Exception | None]]  # messages handed over, with the mail error if any


@dataclass(frozen=True)
class _Prepared:
    cart_id: str
    send: Ready | None  # planned and composed from the read-ahead; None: decide in the commit


class Overlapping:
    """The overlapped path of ``Waking.wake_many`` (see ``service.waking``)."""

    store: CartStore
    docs: DocSource

    def _compose_send(self, plan: Send, cart: Cart, now: datetime) -> OutgoingEmail:
        raise NotImplementedError

    def _claimed(self, ready: Ready, now: datetime) -> list[Happening] | Ready:
        raise NotImplementedError

    def _wake_step_retrying(
        self, cart_id: str, now: datetime, busy: set[str], reads: Reads
    ) -> Step:
        raise NotImplementedError

    def _prefetch(
        self, source: BatchReads, fallback: Reads, cart_ids: Sequence[str], now: datetime
    ) -> Reads:
        raise NotImplementedError

    def _record_all(self, outcomes: Sent, now: datetime, batch: WakeBatch) -> None:
        raise NotImplementedError

    def _transmit_all(self, ready: list[Ready], batch: WakeBatch) -> Sent:
        raise NotImplementedError

    def _wake_overlapped(
        self,
        cart_ids: Sequence[str],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
        reader: CommittedReads,
        store: BatchReads,
    ) -> WakeBatch:
        batch = WakeBatch()
        chunks = [cart_ids[i : i + WAKE_CHUNK] for i in range(0, len(cart_ids), WAKE_CHUNK)]
        mailing: set[str] = set()  # the addresses of this batch (only this thread changes it)
        sent: Sent = []
        with ThreadPoolExecutor(1, thread_name_prefix="wake-commit") as writer:
            prepared = self._prepare(chunks[0], now, mailing, reader) if chunks else []
            for index in range(len(chunks)):
                commit = writer.submit(
                    self._commit_chunk, sent, prepared, now, group, frozenset(mailing), store, batch
                )
                following: list[_Prepared] = []
                if index + 1 < len(chunks):
                    following = self._prepare(chunks[index + 1], now, mailing, reader)
                ready, taken = commit.result()  # this chunk's claims are durable
                mailing |= taken
                # a step decided afresh may have taken an address the next chunk planned for
                prepared = [
                    _Prepared(p.cart_id, None)
                    if p.send is not None and p.send.batch_key in taken
                    else p
                    for p in following
                ]
                sent = self._transmit_all(ready, batch)
        if sent:
            with group():
                self._record_all(sent, now, batch)
        return batch

    def _prepare(
        self, cart_ids: Sequence[str], now: datetime, mailing: set[str], reader: CommittedReads
    ) -> list[_Prepared]:
        """Read, plan and compose a chunk from the last committed state; writes nothing."""
        try:
            reads = self._prefetch(reader, reader, cart_ids, now)
        except Exception:
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
        sent: Sent,
        prepared: list[_Prepared],
        now: datetime,
        group: Callable[[], AbstractContextManager[None]],
        busy: frozenset[str],
        store: BatchReads,
        batch: WakeBatch,
    ) -> tuple[list[Ready], set[str]]:
        """One commit (on the writer thread): record the chunk before, claim this one. Returns
        the claimed steps and the addresses taken by steps decided afresh."""
        ready: list[Ready] = []
        taken: set[str] = set()
        mailing = set(busy)
        with group():
            self._record_all(sent, now, batch)
            planned = [p.send.cart.cart_id for p in prepared if p.send is not None]
            current = store.load_many(planned) if planned else {}
            for p in prepared:
                try:
                    step = self._claim_prepared(p, now, mailing, current)
                except Exception as e:
                    batch.errors.append((p.cart_id, e))
                    continue
                if step is None:
                    batch.later.append(p.cart_id)
                    continue
                batch.fired.append(p.cart_id)
                if isinstance(step, Ready):
                    ready.append(step)
                    if p.send is None or step.batch_key != p.send.batch_key:
                        taken.add(step.batch_key)
                        mailing.add(step.batch_key)
                else:
                    batch.happenings.extend(step)
        return ready, taken

    def _claim_prepared(
        self,
        prepared: _Prepared,
        now: datetime,
        busy: set[str],
        current: dict[str, tuple[Cart | None, list[SendRecord]]],
    ) -> Step:
        send = prepared.send
        if send is not None and current.get(send.cart.cart_id) == (send.cart, send.sends):
            return self._claimed(send, now)  # unchanged since it was read: claim as composed
        own = {send.batch_key} if send is not None else set()
        return self._wake_step_retrying(prepared.cart_id, now, busy - own, self.store)
