"""The webhook group's reads and writes with a few statements per group instead of a few per
event (``BatchIntake``): the same rows ``Writes.apply_event`` writes, one event at a time."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cart_recovery.adapters.sqlite.codec import SEND_COLS, cart_decoder, send_record, to_us
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.adapters.sqlite.rows import (
    ADD_AUDIT,
    ADD_EVENT,
    DELETE_TIMER,
    NEW_CART,
    PUT_TIMER,
    UPDATE_CART,
    audit_row,
    cart_update_row,
    event_row,
    new_cart_row,
)
from cart_recovery.domain.model import Cart, SendRecord
from cart_recovery.domain.timers import TimerChange, timer_for
from cart_recovery.ports import EventWrite, StaleCart

_PAIRS = 250  # (cart_id, event_id) pairs per query: at most 500 parameters


class Intake(Connection):
    def intake_reads(
        self, keys: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, tuple[Cart, list[SendRecord]]], set[tuple[str, str]]]:
        cart_ids = list(dict.fromkeys(cart_id for cart_id, _ in keys))
        carts: dict[str, tuple[Cart, list[SendRecord]]] = {}
        known: set[tuple[str, str]] = set()
        with self._lock:  # as of one moment
            for cart_id, data, version in self._select_in(
                "SELECT cart_id, data, version FROM carts WHERE cart_id IN ({marks})", cart_ids
            ):
                carts[cart_id] = (
                    msgspec.structs.replace(cart_decoder.decode(data), version=version),
                    [],
                )
            if carts:  # no sends query for new carts: sends are only ever kept for a stored cart
                for row in self._select_in(
                    f"SELECT {SEND_COLS} FROM sends WHERE cart_id IN ({{marks}}) "  # noqa: S608
                    "ORDER BY cart_id, step",
                    list(carts),
                ):
                    carts[row[0]][1].append(send_record(row))
            asked = list(dict.fromkeys(keys))
            for start in range(0, len(asked), _PAIRS):
                chunk = asked[start : start + _PAIRS]
                # one primary-key lookup per pair
                rows = self._conn.execute(
                    f"WITH k(c, e) AS (VALUES {','.join(['(?, ?)'] * len(chunk))}) "  # noqa: S608
                    "SELECT k.c, k.e FROM k JOIN events "
                    "ON events.cart_id = k.c AND events.event_id = k.e",
                    [v for pair in chunk for v in pair],
                ).fetchall()
                known.update((r[0], r[1]) for r in rows)
        return carts, known

    def apply_events(self, writes: Sequence[EventWrite]) -> None:
        events = []
        new_carts = []
        updates = []
        audits = []
        timers: dict[str, TimerChange] = {}  # a cart's last change is where its timer ends
        for w in writes:
            event = w.event
            events.append(event_row(event, w.now))
            if w.cart is not None:
                if w.expected_version is None:
                    new_carts.append(new_cart_row(w.cart))
                else:
                    updates.append(cart_update_row(w.cart, w.expected_version))
            if w.audit is not None:
                audits.append(audit_row(w.audit))
            if w.timer is not None:
                timers[event.cart_id] = w.timer
        puts = []
        deletes = []
        for cart_id, change in timers.items():
            timer = timer_for(cart_id, change)
            if timer is None:
                deletes.append((cart_id,))
            else:
                puts.append((cart_id, to_us(timer.due), str(timer.kind), timer.step))
        with self._write() as c:
            # an event processed before, or a cart that exists, breaks a unique key: the
            # whole group is rolled back
            c.executemany(ADD_EVENT, events)
            c.executemany(NEW_CART, new_carts)  # first: a new cart's later events update it
            if updates and c.executemany(UPDATE_CART, updates).rowcount != len(updates):
                raise StaleCart("a cart of the group changed")
            c.executemany(ADD_AUDIT, audits)
            c.executemany(PUT_TIMER, puts)
            c.executemany(DELETE_TIMER, deletes)
