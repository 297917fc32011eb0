"""The store's writes: an event with its cart, audit and timer in one transaction, carts
saved at their version, sends claimed and finished, unsubscribes, clicks and audit rows."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from cart_recovery.adapters.aws.dynamo.items import (
    CLICK_PREFIX,
    EVENT_ID_TTL,
    Update,
    attr_value,
    cart_update,
    event_encoder,
    iso,
    send_of,
    send_values,
    timer_update,
    to_item,
)
from cart_recovery.adapters.aws.dynamo.reads import Reads
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


class Writes(Reads):
    # ---- writes ---------------------------------------------------------------------------
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
        record = {
            "cart_id": event.cart_id,
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": iso(event.occurred_at),
            "received_at": iso(now),
            # DynamoDB's TTL compares with its own clock, so this is real time, not ``now``
            "expires_at": int(self._wall_clock() + EVENT_ID_TTL.total_seconds()),
            "data": event_encoder.encode(event).decode(),
            "email": normalise_email(event.email) if event.email else None,
        }
        ops: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.tables.event_ids,
                    "Item": to_item(record),
                    "ConditionExpression": "attribute_not_exists(event_id)",
                }
            }
        ]
        if cart is not None:
            u = Update()
            cart_update(cart, 0 if expected_version is None else expected_version + 1, u)
            if timer is not None:
                timer_update(event.cart_id, timer, u)
            ops.append(self._state_update(event.cart_id, u, expected_version))
        elif timer is not None:
            u = Update()
            timer_update(event.cart_id, timer, u)
            ops.append(self._state_update(event.cart_id, u, "exists"))
        if audit is not None:
            ops.append(self._audit_put(audit))
        failed = self._write(ops)
        if 0 in failed:
            # Processed before. Its timer may never have reached the Scheduler (a crash right
            # after the commit): make the Scheduler match the row again.
            self._reconcile(event.cart_id)
            return False
        if failed:
            raise StaleCart(event.cart_id)
        if timer is not None:
            self._reconcile(event.cart_id)
        return True

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        version = expected_version + 1
        u = Update()
        cart_update(cart, version, u)
        if timer is not None:
            timer_update(cart.cart_id, timer, u)
        ops = [self._state_update(cart.cart_id, u, expected_version)]
        if audit is not None:
            ops.append(self._audit_put(audit))
        if self._write(ops):
            raise StaleCart(cart.cart_id)
        if timer is not None:
            self._reconcile(cart.cart_id)
        return msgspec.structs.replace(cart, version=version)

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        u = Update()
        timer_update(cart_id, change, u)
        if self._write([self._state_update(cart_id, u, expected_version)]):
            raise StaleCart(cart_id)
        self._reconcile(cart_id)

    def _with_timer(
        self, ops: list[dict[str, Any]], cart_id: str, timer: TimerChange | None
    ) -> list[int]:
        """Write ``ops`` plus the cart's timer change; a cart row that is gone, or one no longer
        open when the change sets a timer, only loses the timer (the send record is still
        written): no writer puts a timer on a bought or closed cart."""
        if timer is None:
            return self._write(ops)
        u = Update()
        timer_update(cart_id, timer, u)
        row = "exists" if timer_for(cart_id, timer) is None else "open"
        failed = self._write([*ops, self._state_update(cart_id, u, row)])
        if failed == [len(ops)]:
            return self._write(ops)
        if not failed:
            self._reconcile(cart_id)
        return failed

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        put = {
            "Put": {
                "TableName": self.tables.sends,
                "Item": to_item(send_values(record)),
                "ConditionExpression": "attribute_not_exists(cart_id) OR #o = :deferred",
                "ExpressionAttributeNames": {"#o": "outcome"},
                "ExpressionAttributeValues": {":deferred": attr_value(str(Outcome.DEFERRED))},
            }
        }
        return not self._with_timer([put], record.cart_id, timer)

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        claim = SendRecord(
            cart_id=cart_id, step=step, outcome=Outcome.CLAIMED, at=now, recipient=recipient
        )
        ops: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self.tables.state,
                    "Key": to_item({"cart_id": cart_id}),
                    "ConditionExpression": "#s = :open",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":open": attr_value("open")},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.tables.unsub,
                    "Key": to_item({"email": self._digest(recipient)}),
                    "ConditionExpression": "attribute_not_exists(email)",
                }
            },
            {
                "Put": {
                    "TableName": self.tables.sends,
                    "Item": to_item(send_values(claim)),
                    "ConditionExpression": "attribute_not_exists(cart_id) OR #o = :deferred",
                    "ExpressionAttributeNames": {"#o": "outcome"},
                    "ExpressionAttributeValues": {":deferred": attr_value(str(Outcome.DEFERRED))},
                }
            },
        ]
        failed = self._write(ops)
        if not failed:
            return Claim.CLAIMED
        if 0 in failed:
            return Claim.STOPPED
        if 1 in failed:
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
        u = Update()
        u.set("outcome", str(outcome))
        u.set("at", iso(at))
        u.set("message_id", message_id)
        u.set("reason", reason)
        u.set("due", iso(due) if due else None)
        u.set("attempts", attempts or None)
        if outcome is Outcome.SENT:
            u.set_raw("sent_at", u.value(iso(at)))
        condition = f"{u.name('outcome')} = {u.value(str(Outcome.CLAIMED))}"
        update = {
            "Update": u.request(self.tables.sends, {"cart_id": cart_id, "step": step}, condition)
        }
        self._with_timer([update], cart_id, timer)

    def resolve_claims(
        self,
        now: datetime,
        audit_by: str = "system",
        *,
        cart_id: str | None = None,
        older_than: timedelta | None = None,
    ) -> list[SendRecord]:
        """Every ``claimed`` step becomes ``uncertain`` (audited). On AWS no process restarts
        cleanly, so callers may narrow it to one cart and to claims older than ``older_than``
        (longer than any sender can run), leaving a sender that is mid-send alone."""
        condition = "#o = :claimed"
        values: dict[str, Any] = {":claimed": attr_value(str(Outcome.CLAIMED))}
        if older_than is not None:
            condition += " AND #at <= :cutoff"
            values[":cutoff"] = attr_value(iso(now - older_than))
        names = {"#o": "outcome", "#at": "at"} if older_than is not None else {"#o": "outcome"}
        if cart_id is None:
            items: Iterable[dict[str, Any]] = self._scan(
                TableName=self.tables.sends,
                FilterExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            )
        else:
            items = self._query(
                TableName=self.tables.sends,
                KeyConditionExpression="cart_id = :c",
                FilterExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":c": attr_value(cart_id)},
                ConsistentRead=True,
            )
        out = []
        for item in list(items):
            record = msgspec.structs.replace(send_of(item), outcome=Outcome.UNCERTAIN)
            u = Update()
            u.set("outcome", str(Outcome.UNCERTAIN))
            cond = f"{u.name('outcome')} = {u.value(str(Outcome.CLAIMED))}"
            key = {"cart_id": record.cart_id, "step": record.step}
            entry = audit_rows.uncertain(record, now, audit_by)
            ops = [{"Update": u.request(self.tables.sends, key, cond)}, self._audit_put(entry)]
            if not self._write(ops):
                out.append(record)
        return out

    # ---- clicks and the owner's reads -----------------------------------------------------
    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        ts = f"{CLICK_PREFIX}{iso(at)}#{time.time_ns():020d}{secrets.token_hex(3)}"
        self._db.put_item(
            TableName=self.tables.audit,
            Item=to_item({"cart_id": cart_id, "ts": ts, "step": step, "at": iso(at)}),
        )

    def append_audit(self, entry: AuditEntry) -> None:
        self._write([self._audit_put(entry)])
