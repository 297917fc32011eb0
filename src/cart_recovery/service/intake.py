"""Intake: cart events applied to their carts, one at a time or a webhook group at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from cart_recovery.domain.cart import apply_event, validate_event
from cart_recovery.domain.decide import next_wake
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, SendRecord, cart_snapshot
from cart_recovery.domain.rules import Rules
from cart_recovery.domain.timers import CancelTimers, SetWake, TimerChange
from cart_recovery.ports import BatchIntake, CartStore, DocSource, EventWrite
from cart_recovery.service.retry import retrying

Planned = tuple[Cart | None, AuditEntry | None, TimerChange | None]


def plan_event(
    cart: Cart | None, sends: list[SendRecord], event: CartEvent, now: datetime, rules: Rules
) -> Planned:
    """What ``event`` (validated) writes on ``cart`` as stored: the cart afterwards (None: the
    row stays as it is), its audit row and its timer change."""
    applied = apply_event(cart, event, now)
    if applied.cart is None:
        return None, None, None
    timer: TimerChange | None = None
    if applied.cancel:
        timer = CancelTimers()
    elif applied.reschedule:
        wake = next_wake(applied.cart, sends, rules)
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
    return applied.cart, audit, timer


class Intake:
    store: CartStore
    docs: DocSource

    def ingest(self, event: CartEvent, now: datetime) -> bool:
        """Apply one cart event. False: a redelivery of an event already processed (no-op).

        Raises EventError (naming the field) for an invalid event; nothing is stored then.
        """
        event = validate_event(event, now)

        def once() -> bool:
            cart, sends = self.store.load(event.cart_id)
            after, audit, timer = plan_event(cart, sends, event, now, self.docs.rules())
            return self.store.apply_event(
                event,
                cart=after,
                expected_version=None if cart is None else cart.version,
                audit=audit,
                timer=timer,
                now=now,
            )

        return retrying(once, f"cart {event.cart_id} kept changing while an event was applied")

    def ingest_many(self, items: Sequence[tuple[CartEvent, datetime]]) -> list[bool | Exception]:
        """``ingest`` of each ``(event, now)`` in turn, inside the caller's group commit: each
        result is what that call returns, or the exception it raises (its event alone stored
        nothing). A store with ``BatchIntake`` reads and writes the whole group with a few
        statements; should that fail, the events are applied one at a time."""
        store = self.store
        if not isinstance(store, BatchIntake) or len(items) < 2:
            return [self._ingest_one(event, now) for event, now in items]
        results: list[bool | Exception] = [False] * len(items)
        valid: list[tuple[int, CartEvent, datetime]] = []
        for i, (event, now) in enumerate(items):
            try:
                valid.append((i, validate_event(event, now), now))
            except Exception as e:
                results[i] = e
        if not valid:
            return results
        try:
            for i, accepted in self._apply_group(store, valid):
                results[i] = accepted
        except Exception:
            for i, event, now in valid:
                results[i] = self._ingest_one(event, now)
        return results

    def _ingest_one(self, event: CartEvent, now: datetime) -> bool | Exception:
        try:
            return self.ingest(event, now)
        except Exception as e:
            return e

    def _apply_group(
        self, store: BatchIntake, valid: list[tuple[int, CartEvent, datetime]]
    ) -> list[tuple[int, bool]]:
        carts, known = store.intake_reads([(e.cart_id, e.event_id) for _, e, _ in valid])
        rules = self.docs.rules()
        writes: list[EventWrite] = []
        out: list[tuple[int, bool]] = []
        for i, event, now in valid:
            got = carts.get(event.cart_id)
            cart, sends = (None, []) if got is None else got
            after, audit, timer = plan_event(cart, sends, event, now, rules)
            key = (event.cart_id, event.event_id)
            if key in known:  # a redelivery: nothing written
                out.append((i, False))
                continue
            known.add(key)
            expected = None if cart is None else cart.version
            writes.append(EventWrite(event, after, expected, audit, timer, now))
            if after is not None:  # the cart as the group's next event of it reads it
                version = 0 if expected is None else expected + 1
                carts[event.cart_id] = (msgspec.structs.replace(after, version=version), sends)
            out.append((i, True))
        store.apply_events(writes)
        return out
