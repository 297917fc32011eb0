"""The store's reads for intake, waking and sending: a cart with its sends, what was sent
to an address, who unsubscribed, an address's carts, and the WakeQueue over the rows' timers
(local runs and tests; on AWS the Scheduler fires them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cart_recovery.adapters.aws.dynamo.client import Client
from cart_recovery.adapters.aws.dynamo.items import (
    EMAIL_INDEX,
    RECIPIENT_INDEX,
    attr_value,
    cart_of,
    iso,
    send_of,
    timer_of,
)
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import Cart, Outcome, SendRecord
from cart_recovery.domain.timers import Timer


class Reads(Client):
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        item = self._get(self.tables.state, {"cart_id": cart_id})
        sends = self._query(
            TableName=self.tables.sends,
            KeyConditionExpression="cart_id = :c",
            ExpressionAttributeValues={":c": {"S": cart_id}},
            ConsistentRead=True,
        )
        records = sorted((send_of(s) for s in sends), key=lambda r: r.step)
        return (cart_of(item) if item else None), records

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        items = self._query(
            TableName=self.tables.sends,
            IndexName=RECIPIENT_INDEX,
            KeyConditionExpression="recipient = :r AND sent_at >= :s",
            ExpressionAttributeValues={
                ":r": attr_value(normalise_email(email)),
                ":s": attr_value(iso(since)),
            },
        )
        records = [send_of(i) for i in items]
        return sorted(
            (r for r in records if r.outcome is Outcome.SENT), key=lambda r: (r.at, r.cart_id)
        )

    def sent_between(self, start: datetime, end: datetime) -> int:
        """One counting scan of the sends table (only the count comes back); the owner's
        rare reads use it, never a send."""
        request: dict[str, Any] = {
            "TableName": self.tables.sends,
            "Select": "COUNT",
            "FilterExpression": "outcome = :sent AND #at >= :s AND #at < :e",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": {
                ":sent": attr_value(str(Outcome.SENT)),
                ":s": attr_value(iso(start)),
                ":e": attr_value(iso(end)),
            },
            "ConsistentRead": True,
        }
        count = 0
        while True:
            page = self._db.scan(**request)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def is_unsubscribed(self, email: str) -> bool:
        return self._get(self.tables.unsub, {"email": self._digest(email)}) is not None

    def carts_of(self, email: str) -> list[Cart]:
        items = self._query(
            TableName=self.tables.state,
            IndexName=EMAIL_INDEX,
            KeyConditionExpression="email = :e",
            ExpressionAttributeValues={":e": attr_value(normalise_email(email))},
        )
        return sorted((cart_of(i) for i in items), key=lambda c: c.cart_id)

    def _timers(self) -> list[Timer]:
        items = self._scan(
            TableName=self.tables.state,
            FilterExpression="attribute_exists(wake_at)",
            ProjectionExpression="cart_id, wake_at, wake_kind, wake_step",
            ConsistentRead=True,
        )
        timers = [t for t in (timer_of(i) for i in items) if t is not None]
        return sorted(timers, key=lambda t: (t.due, t.cart_id))

    def due(self, now: datetime, limit: int) -> list[Timer]:
        return [t for t in self._timers() if t.due <= now][:limit]

    def next_due(self) -> datetime | None:
        timers = self._timers()
        return timers[0].due if timers else None

    def pending(self) -> int:
        return len(self._timers())
