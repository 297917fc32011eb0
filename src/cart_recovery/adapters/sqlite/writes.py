"""The store's writes for intake, waking and sending: events with their cart, audit and
timer in one transaction, sends claimed and finished, unsubscribes and clicks."""

from __future__ import annotations

from datetime import datetime

import msgspec

from cart_recovery.adapters.sqlite.codec import (
    SEND_COLS,
    send_record,
    to_us,
)
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.adapters.sqlite.rows import (
    ADD_EVENT,
    add_audit,
    check_version,
    event_row,
    put_cart,
    put_event_cart,
    put_send_timer,
    put_timer,
    upsert_send,
)
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CartEvent,
    Outcome,
    SendRecord,
)
from cart_recovery.domain.timers import TimerChange, timer_for
from cart_recovery.ports import Claim, StaleCart

_CLAIM = (
    "INSERT INTO sends (cart_id, step, outcome, at, recipient, recipient_key) "
    "SELECT ?, ?, 'claimed', ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM carts WHERE cart_id = ? AND status = 'open') "
    "AND NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email_key = ?) "
    "ON CONFLICT (cart_id, step) DO UPDATE SET outcome = 'claimed', at = excluded.at, "
    "recipient = excluded.recipient, recipient_key = excluded.recipient_key, reason = NULL, "
    "due = NULL WHERE sends.outcome = 'deferred'"
)


class Writes(Connection):
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
        with self._write() as c:
            cur = c.execute(ADD_EVENT + " ON CONFLICT DO NOTHING", event_row(event, now))
            if cur.rowcount == 0:
                return False
            if cart is not None:
                put_event_cart(c, cart, expected_version)
            add_audit(c, audit)
            put_timer(c, event.cart_id, timer)
            return True

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        with self._write() as c:
            check_version(c, cart.cart_id, expected_version)
            stored = put_cart(c, cart, expected_version)
            add_audit(c, audit)
            put_timer(c, cart.cart_id, timer)
            return stored

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        with self._write(one_statement=True) as c:
            timer = timer_for(cart_id, change)
            if timer is not None:  # the usual case: the version check inside the upsert
                cur = c.execute(
                    "INSERT INTO timers (cart_id, due, kind, step) SELECT ?, ?, ?, ? "
                    "WHERE (SELECT version FROM carts WHERE cart_id = ?) = ? "
                    "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, "
                    "kind = excluded.kind, step = excluded.step",
                    (
                        cart_id,
                        to_us(timer.due),
                        str(timer.kind),
                        timer.step,
                        cart_id,
                        expected_version,
                    ),
                )
                if cur.rowcount != 1:
                    raise StaleCart(cart_id)
                return
            check_version(c, cart_id, expected_version)
            put_timer(c, cart_id, change)

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        with self._write() as c:
            row = c.execute(
                "SELECT outcome FROM sends WHERE cart_id = ? AND step = ?",
                (record.cart_id, record.step),
            ).fetchone()
            if row is not None and row[0] != Outcome.DEFERRED:
                return False
            upsert_send(c, record)
            put_send_timer(c, record.cart_id, timer)
            return True

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        key = self.email_key.digest(recipient)
        with self._write(one_statement=True) as c:
            # One statement claims when every condition holds (the usual case); only a refusal
            # looks again to say which condition failed.
            cur = c.execute(
                _CLAIM,
                (cart_id, step, to_us(now), recipient, normalise_email(recipient), cart_id, key),
            )
            if cur.rowcount == 1:
                return Claim.CLAIMED
            row = c.execute("SELECT status FROM carts WHERE cart_id = ?", (cart_id,)).fetchone()
            if row is None or row[0] != "open":
                return Claim.STOPPED
            if c.execute("SELECT 1 FROM unsubscribes WHERE email_key = ?", (key,)).fetchone():
                return Claim.UNSUBSCRIBED
            return Claim.ALREADY

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
        attempts: int = 0,
    ) -> None:
        with self._write(one_statement=timer is None) as c:
            cur = c.execute(
                "UPDATE sends SET outcome = ?, at = ?, message_id = ?, reason = ?, due = ?, "
                "attempts = ? WHERE cart_id = ? AND step = ? AND outcome = 'claimed'",
                (
                    str(outcome),
                    to_us(at),
                    message_id,
                    reason,
                    None if due is None else to_us(due),
                    attempts,
                    cart_id,
                    step,
                ),
            )
            if cur.rowcount == 1:
                put_send_timer(c, cart_id, timer)

    def resolve_claims(self, now: datetime, audit_by: str = "system") -> list[SendRecord]:
        with self._write() as c:
            rows = c.execute(
                f"SELECT {SEND_COLS} FROM sends WHERE outcome = 'claimed'"  # noqa: S608
            ).fetchall()
            c.execute("UPDATE sends SET outcome = 'uncertain' WHERE outcome = 'claimed'")
            out = []
            for r in rows:
                record = msgspec.structs.replace(send_record(r), outcome=Outcome.UNCERTAIN)
                out.append(record)
                add_audit(c, audit_rows.uncertain(record, now, audit_by))
            return out

    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO clicks (cart_id, step, at) VALUES (?, ?, ?)",
                (cart_id, step, to_us(at)),
            )

    def append_audit(self, entry: AuditEntry) -> None:
        with self._write() as c:
            add_audit(c, entry)
