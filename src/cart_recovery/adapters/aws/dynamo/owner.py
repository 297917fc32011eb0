"""The store's side for the shop owner: a cart's audit, events and clicks, searches and
counts for the dashboard and reports, and forgetting a shopper.

``forget`` cannot be one transaction (a shopper's rows may be more than one holds): it puts the
address on the unsubscribe list first, then erases each cart's audit rows, send records and
events, and the cart row last, so a run cut short is finished by running it again (the cart
row still links the address until its own erasure).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from cart_recovery.adapters.aws.dynamo.items import (
    CLICK_PREFIX,
    CLICK_QUERIES,
    CONFLICT_RETRIES,
    DAY_INDEX,
    Update,
    attr_value,
    audit_of,
    cart_of,
    event_decoder,
    event_encoder,
    from_iso,
    iso,
    json_encoder,
)
from cart_recovery.adapters.aws.dynamo.suppressions import Suppressions
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import AuditEntry, Cart
from cart_recovery.domain.privacy import (
    PERSONAL_FIELDS,
    Forgotten,
    anonymise_cart,
    anonymise_event,
    anonymise_snapshot,
)
from cart_recovery.ports import StaleCart, StoredEvent


class Owner(Suppressions):
    def audit(self, cart_id: str) -> list[AuditEntry]:
        return [audit_of(i) for i in self._audit_items(cart_id)]

    def _audit_items(self, cart_id: str) -> list[dict[str, Any]]:
        """The cart's audit rows (its clicks, sorted after them, are left out)."""
        return list(
            self._query(
                TableName=self.tables.audit,
                KeyConditionExpression="cart_id = :c AND #ts < :clicks",
                ExpressionAttributeNames={"#ts": "ts"},
                ExpressionAttributeValues={
                    ":c": attr_value(cart_id),
                    ":clicks": attr_value(CLICK_PREFIX),
                },
                ConsistentRead=True,
            )
        )

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        """One query of the ``by-day`` index per UTC day in [start, end) (a month: about 31)."""
        first, last = iso(start), iso(end)
        carts = []
        for day in _days(first[:10], last[:10]):
            for item in self._query(
                TableName=self.tables.state,
                IndexName=DAY_INDEX,
                KeyConditionExpression="created_day = :d AND created_at BETWEEN :s AND :e",
                ExpressionAttributeValues={
                    ":d": attr_value(day),
                    ":s": attr_value(first),
                    ":e": attr_value(last),
                },
            ):
                if item["created_at"]["S"] < last:
                    carts.append(cart_of(item))
        return sorted(carts, key=lambda c: (c.created_at, c.cart_id))

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        bounds = {":s": attr_value(iso(start)), ":e": attr_value(iso(end))}
        ids: set[str] = set()
        for table, attr in (
            (self.tables.state, "created_at"),
            (self.tables.event_ids, "received_at"),
            # audit ts starts with the ISO time (text order is time order; clicks sort after)
            (self.tables.audit, "ts"),
        ):
            for item in self._scan(
                TableName=table,
                FilterExpression="#t >= :s AND #t < :e",
                ExpressionAttributeNames={"#t": attr},
                ExpressionAttributeValues=bounds,
                ProjectionExpression="cart_id",
                ConsistentRead=True,
            ):
                ids.add(item["cart_id"]["S"])
        return sorted(ids)

    def clicks_for(self, cart_ids: Iterable[str]) -> dict[str, list[tuple[int, datetime]]]:
        """One query per cart; for many carts at once (a month's summary) one scan instead."""
        wanted = set(cart_ids)
        names = {"#at": "at", "#ts": "ts"}
        prefix = attr_value(CLICK_PREFIX)
        if len(wanted) > CLICK_QUERIES:
            items: Iterable[dict[str, Any]] = (
                i
                for i in self._scan(
                    TableName=self.tables.audit,
                    FilterExpression="begins_with(#ts, :p)",
                    ProjectionExpression="cart_id, step, #at",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":p": prefix},
                )
                if i["cart_id"]["S"] in wanted
            )
        else:
            items = (
                i
                for cart_id in sorted(wanted)
                for i in self._query(
                    TableName=self.tables.audit,
                    KeyConditionExpression="cart_id = :c AND begins_with(#ts, :p)",
                    ProjectionExpression="cart_id, step, #at",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":c": attr_value(cart_id), ":p": prefix},
                )
            )
        out: dict[str, list[tuple[int, datetime]]] = {}
        for i in items:
            out.setdefault(i["cart_id"]["S"], []).append(
                (int(i["step"]["N"]), from_iso(i["at"]["S"]))
            )
        return {c: sorted(v, key=lambda click: (click[1], click[0])) for c, v in out.items()}

    def _all_carts(self) -> Iterator[Cart]:
        for item in self._scan(
            TableName=self.tables.state,
            ProjectionExpression="#d, #v",
            ExpressionAttributeNames={"#d": "data", "#v": "version"},
            ConsistentRead=True,
        ):
            yield cart_of(item)

    def search(self, text: str, limit: int = 50) -> list[Cart]:
        """A scan of every cart (the owner's occasional look-up, not a hot path)."""
        exact = text.strip()
        needle = exact.casefold()
        if not needle:
            return []
        found = [
            c
            for c in self._all_carts()
            if needle in c.cart_id.casefold()
            or (c.email is not None and needle in normalise_email(c.email))
            or (c.name is not None and needle in c.name.casefold())
        ]
        found.sort(key=lambda c: c.cart_id)
        found.sort(key=lambda c: c.created_at, reverse=True)
        found.sort(key=lambda c: c.cart_id != exact)
        return found[: max(limit, 0)]

    def _event_items(self, cart_id: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                TableName=self.tables.event_ids,
                KeyConditionExpression="cart_id = :c",
                ExpressionAttributeValues={":c": attr_value(cart_id)},
                ConsistentRead=True,
            )
        )

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        """The events still kept (each is kept ``EVENT_ID_TTL`` after it arrived)."""
        events = [
            StoredEvent(event_decoder.decode(i["data"]["S"]), from_iso(i["received_at"]["S"]))
            for i in self._event_items(cart_id)
            if "data" in i
        ]
        return sorted(events, key=lambda e: (e.event.occurred_at, e.received_at, e.event.event_id))

    def linked_carts(self, email: str) -> list[str]:
        """The address's carts now (the ``by-email`` index), and carts with an event or a send
        record naming it (scans: a rare owner action)."""
        address = normalise_email(email)
        ids = {c.cart_id for c in self.carts_of(address)}
        for table, attr in ((self.tables.event_ids, "email"), (self.tables.sends, "recipient")):
            for item in self._scan(
                TableName=table,
                FilterExpression="#a = :e",
                ExpressionAttributeNames={"#a": attr},
                ExpressionAttributeValues={":e": attr_value(address)},
                ProjectionExpression="cart_id",
                ConsistentRead=True,
            ):
                ids.add(item["cart_id"]["S"])
        return sorted(ids)

    # ---- privacy --------------------------------------------------------------------------
    def forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        ids = self.linked_carts(email)
        newly = not self._write([self._unsubscribe_put(self._digest(email), by, at, None, None)])
        events = sends = rows = 0
        message_ids: list[str] = []
        for cart_id in ids:
            audit_items = self._audit_items(cart_id)
            rows += len(audit_items)
            for item in audit_items:
                self._anonymise_audit_row(item)
            for record in self._send_items(cart_id):
                if "message_id" in record:
                    message_ids.append(record["message_id"]["S"])
                if "recipient" in record or "address" in record:
                    sends += 1
                    key = {"cart_id": cart_id, "step": int(record["step"]["N"])}
                    u = Update()
                    u.set("recipient", None)
                    u.set("address", None)
                    self._db.update_item(**u.request(self.tables.sends, key))
            for item in self._event_items(cart_id):
                events += 1
                if "data" not in item:
                    continue
                event = anonymise_event(event_decoder.decode(item["data"]["S"]))
                u = Update()
                u.set("data", event_encoder.encode(event).decode())
                u.set("email", None)
                key = {"cart_id": cart_id, "event_id": item["event_id"]["S"]}
                self._db.update_item(**u.request(self.tables.event_ids, key))
            self._forget_cart(cart_id, by, at)
        return Forgotten(
            cart_ids=tuple(ids),
            events=events,
            sends=sends,
            audit_rows=rows,
            newly_unsubscribed=newly,
            message_ids=tuple(message_ids),
        )

    def _send_items(self, cart_id: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                TableName=self.tables.sends,
                KeyConditionExpression="cart_id = :c",
                ExpressionAttributeValues={":c": attr_value(cart_id)},
                ConsistentRead=True,
            )
        )

    def _anonymise_audit_row(self, item: Mapping[str, Any]) -> None:
        u = Update()
        for attr in ("before", "after"):
            if attr in item:
                snapshot = json.loads(item[attr]["S"])
                if any(snapshot.get(f) for f in PERSONAL_FIELDS):
                    u.set(attr, json_encoder.encode(anonymise_snapshot(snapshot)).decode())
        if u.sets:
            key = {"cart_id": item["cart_id"]["S"], "ts": item["ts"]["S"]}
            self._db.update_item(**u.request(self.tables.audit, key))

    def _forget_cart(self, cart_id: str, by: str, at: datetime) -> None:
        for _ in range(CONFLICT_RETRIES):
            cart, _sends = self.load(cart_id)
            if cart is None:
                return
            erased = anonymise_cart(cart)
            entry = audit_rows.forgotten(cart, erased, at, by)
            try:
                self.save_cart(erased, expected_version=cart.version, audit=entry, timer=None)
                return
            except StaleCart:
                continue
        raise StaleCart(f"cart {cart_id} kept changing while it was being erased")


def _days(first: str, last: str) -> list[str]:
    """The ISO dates from ``first`` to ``last`` inclusive."""
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out
