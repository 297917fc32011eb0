"""The CartStore on DynamoDB: five on-demand tables (Part 7 of the series).

============  =======================  ==================================================
table         key                      notes
============  =======================  ==================================================
cr-state      ``cart_id``              ``data`` (the cart as JSON, money as exact decimal
                                       text), ``version``, ``status``, ``email``
                                       (normalised; GSI ``by-email``), ``created_at``,
                                       ``abandoned_at``, ``total``, and the cart's one timer:
                                       ``schedule_name``, ``wake_at``, ``wake_kind``,
                                       ``wake_step``, ``previous_schedule``
cr-sends      ``cart_id`` + ``step``   ``outcome``, ``at``, ``recipient`` (normalised),
                                       ``address``, ``sent_at`` (only once sent: GSI
                                       ``by-recipient`` on ``recipient`` + ``sent_at``)
cr-audit      ``cart_id`` + ``ts``     ``ts`` = ISO time + ``#`` + a unique suffix; and
                                       the clicks on return links, ``ts`` = ``click#`` +
                                       ISO time + suffix (``step``, ``at``): they sort
                                       after every audit row and no audit read sees them
cr-unsub      ``email``                the keyed digest of the address (never the address:
                                       ``domain.privacy.EmailKey``), ``unsubscribed_at``,
                                       ``source``
cr-event-ids  ``cart_id`` + ``event_id``  processed events (``data``, ``email`` normalised,
                                       ``received_at``); TTL attribute ``expires_at``
============  =======================  ==================================================

Times are ISO 8601 UTC strings of fixed width (``2026-05-12T14:00:00.000000Z``), so they sort
and compare as text. Multi-row writes are ``TransactWriteItems``; the cart's ``version`` makes
every cart write conditional, and the ``CancellationReasons`` of a refused transaction tell
which condition failed.

Timers: the cart row records which timer is pending (and the schedule it replaced) inside the
same transaction as the write that decided it; right after the commit the store makes the
``TimerSink`` (EventBridge Scheduler) match the row, then reads the row again in case another
writer changed it meanwhile. A crash between the commit and the Scheduler call is repaired by
the next write or redelivery for that cart: a redelivered event that turns out to be processed
already still re-applies the row's timer. So an open cart always ends up with its schedule; at
worst a stale one fires early, and the waiter decides afresh.

``forget`` cannot be one transaction (a shopper's rows may be more than one holds): it puts the
address on the unsubscribe list first, then erases each cart's audit rows, send records and
events, and the cart row last, so a run cut short is finished by running it again (the cart
row still links the address until its own erasure).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from cart_recovery.adapters.aws.errors import client_error_type, error_code
from cart_recovery.adapters.aws.scheduler import STEP_EVENTS, NoSchedules, schedule_name
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CartEvent,
    Outcome,
    SendRecord,
    cart_snapshot,
)
from cart_recovery.domain.privacy import (
    PERSONAL_FIELDS,
    UNKEYED,
    EmailKey,
    Forgotten,
    anonymise_cart,
    anonymise_event,
    anonymise_snapshot,
)
from cart_recovery.domain.timers import Timer, TimerChange, TimerKind, timer_for
from cart_recovery.ports import Claim, StaleCart, StoredEvent, TimerSink

log = logging.getLogger("cart_recovery.aws.store")

EMAIL_INDEX = "by-email"
RECIPIENT_INDEX = "by-recipient"
EVENT_ID_TTL = timedelta(days=90)  # far beyond any redelivery (SQS keeps messages 14 days)
MAX_TRANSACTION = 100
CONFLICT_RETRIES = 6
RECONCILE_ROUNDS = 4
CLICK_QUERIES = 25  # above this many carts, clicks_for scans once instead of a query each
CLICK_PREFIX = "click#"  # audit sort keys of clicks: after every ISO time, so never audit rows

_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"
_cart_encoder = msgspec.json.Encoder(decimal_format="string")
_cart_decoder = msgspec.json.Decoder(Cart)
_event_encoder = msgspec.json.Encoder(decimal_format="string")
_event_decoder = msgspec.json.Decoder(CartEvent)
_json = msgspec.json.Encoder()


def iso(t: datetime) -> str:
    """A fixed-width UTC timestamp that sorts as text."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(UTC).strftime(_ISO)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, _ISO).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Tables:
    state: str = "cr-state"
    sends: str = "cr-sends"
    audit: str = "cr-audit"
    unsub: str = "cr-unsub"
    event_ids: str = "cr-event-ids"


# ---- attribute values ---------------------------------------------------------------------
def _av(value: Any) -> dict[str, Any]:
    """One DynamoDB attribute value (strings, integers, decimals, booleans)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _av(v) for k, v in values.items() if v is not None}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            out[key] = value["S"]
        elif "N" in value:
            out[key] = Decimal(value["N"])
        elif "BOOL" in value:
            out[key] = value["BOOL"]
    return out


class _Update:
    """Builds one UpdateExpression with placeholder names (many attribute names here are
    DynamoDB reserved words)."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        key = f"#{attr}"
        self.names[key] = attr
        return key

    def value(self, value: Any) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = _av(value)
        return key

    def set(self, attr: str, value: Any) -> None:
        if value is None:
            self.removes.append(self.name(attr))
        else:
            self.sets.append(f"{self.name(attr)} = {self.value(value)}")

    def set_raw(self, attr: str, expression: str) -> None:
        self.sets.append(f"{self.name(attr)} = {expression}")

    def request(
        self, table: str, key: Mapping[str, Any], condition: str | None = None
    ) -> dict[str, Any]:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        out: dict[str, Any] = {
            "TableName": table,
            "Key": _item(key),
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": dict(self.names),
        }
        if condition is not None:
            out["ConditionExpression"] = condition
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


def _cart_update(cart: Cart, version: int, u: _Update) -> None:
    stored = msgspec.structs.replace(cart, version=version)
    u.set("data", _cart_encoder.encode(stored).decode())
    u.set("version", version)
    u.set("status", str(cart.status))
    u.set("email", normalise_email(cart.email) if cart.email else None)
    u.set("created_at", iso(cart.created_at))
    u.set("abandoned_at", iso(cart.abandoned_at))
    u.set("total", cart.total)
    u.set("currency", cart.currency)


def _timer_update(cart_id: str, change: TimerChange, u: _Update) -> None:
    """Record the cart's one pending timer, keeping the name of the schedule it replaces."""
    none = u.value("")
    u.set_raw("previous_schedule", f"if_not_exists({u.name('schedule_name')}, {none})")
    timer = timer_for(cart_id, change)
    if timer is None:
        u.set_raw("schedule_name", none)
        for attr in ("wake_at", "wake_kind", "wake_step"):
            u.set(attr, None)
        return
    u.set("schedule_name", schedule_name(cart_id, timer))
    u.set("wake_at", iso(timer.due))
    u.set("wake_kind", str(timer.kind))
    u.set("wake_step", timer.step)


def _cart_of(item: Mapping[str, Any]) -> Cart:
    cart = _cart_decoder.decode(item["data"]["S"])
    return msgspec.structs.replace(cart, version=int(item["version"]["N"]))


def _send_of(item: Mapping[str, Any]) -> SendRecord:
    v = _plain(item)
    return SendRecord(
        cart_id=v["cart_id"],
        step=int(v["step"]),
        outcome=Outcome(v["outcome"]),
        at=from_iso(v["at"]),
        recipient=v.get("address"),
        reason=v.get("reason"),
        due=from_iso(v["due"]) if v.get("due") else None,
        message_id=v.get("message_id"),
    )


def _send_values(r: SendRecord) -> dict[str, Any]:
    return {
        "cart_id": r.cart_id,
        "step": r.step,
        "outcome": str(r.outcome),
        "at": iso(r.at),
        "recipient": normalise_email(r.recipient) if r.recipient else None,
        "address": r.recipient,
        "reason": r.reason,
        "due": iso(r.due) if r.due else None,
        "message_id": r.message_id,
        "sent_at": iso(r.at) if r.outcome is Outcome.SENT and r.recipient else None,
        "move": STEP_EVENTS.get(r.step),
        "channel": "email",
    }


def _audit_of(item: Mapping[str, Any]) -> AuditEntry:
    v = _plain(item)
    return AuditEntry(
        cart_id=v["cart_id"],
        at=from_iso(v["at"]),
        by=v["by_user"],
        action=v["action"],
        before=json.loads(v["before"]) if "before" in v else None,
        after=json.loads(v["after"]) if "after" in v else None,
        detail=v.get("detail"),
    )


def _timer_of(item: Mapping[str, Any]) -> Timer | None:
    v = _plain(item)
    if not v.get("wake_at"):
        return None
    step = v.get("wake_step")
    return Timer(
        cart_id=v["cart_id"],
        due=from_iso(v["wake_at"]),
        kind=TimerKind(v.get("wake_kind", "wake")),
        step=None if step is None else int(step),
    )


class DynamoStore:
    """CartStore on DynamoDB (and a WakeQueue over the rows' timers, for a runtime that fires
    its own: on AWS the ``TimerSink``, EventBridge Scheduler, fires them instead)."""

    def __init__(
        self,
        client: Any,
        *,
        tables: Tables | None = None,
        timers: TimerSink | None = None,
        email_key: EmailKey | Callable[[], EmailKey] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``email_key`` keys the unsubscribe list (``EmailKey.from_signing_key``; a callable
        is asked once, when an address is first looked up)."""
        self._db = client
        self._wall_clock = wall_clock
        self._email_key = email_key or UNKEYED
        self.tables = tables or Tables()
        self.timers: TimerSink = timers or NoSchedules()
        self._client_error = client_error_type()

    # ---- low-level ------------------------------------------------------------------------
    def _digest(self, email: str) -> str:
        if not isinstance(self._email_key, EmailKey):
            self._email_key = self._email_key()
        return self._email_key.digest(email)

    def _write(self, ops: list[dict[str, Any]]) -> list[int]:
        """Run ``ops`` (``{"Put"|"Update"|"ConditionCheck": request}``) all or nothing. Returns
        the indexes of the ops whose condition failed ([] when everything was written).
        A transaction that lost a race with another one is retried."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                if len(ops) == 1 and "ConditionCheck" not in ops[0]:
                    ((kind, request),) = ops[0].items()
                    if kind == "Put":
                        self._db.put_item(**request)
                    else:
                        self._db.update_item(**request)
                else:
                    self._db.transact_write_items(TransactItems=ops)
                return []
            except self._client_error as e:
                code = error_code(e)
                if code == "ConditionalCheckFailedException":
                    return [0]
                if code != "TransactionCanceledException":
                    raise
                reasons = [
                    r.get("Code", "None")
                    for r in getattr(e, "response", {}).get("CancellationReasons", [])
                ]
                failed = [i for i, c in enumerate(reasons) if c == "ConditionalCheckFailed"]
                if failed:
                    return failed
                if not any(c in ("TransactionConflict", "ThrottlingError") for c in reasons):
                    raise
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise StaleCart("a transaction kept conflicting with concurrent writes")

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._db.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan(self, **request: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._db.scan(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _get(self, table: str, key: Mapping[str, Any], **extra: Any) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.get_item(
            TableName=table, Key=_item(key), ConsistentRead=True, **extra
        ).get("Item")
        return item

    def _state_update(
        self,
        cart_id: str,
        u: _Update,
        expected_version: int | str | None,
    ) -> dict[str, Any]:
        """An Update of the cart row, conditional on its version (None: no row yet;
        ``"exists"``: any version)."""
        if expected_version is None:
            condition = "attribute_not_exists(cart_id)"
        elif expected_version == "exists":
            condition = "attribute_exists(cart_id)"
        else:
            condition = f"{u.name('version')} = {u.value(expected_version)}"
        return {"Update": u.request(self.tables.state, {"cart_id": cart_id}, condition)}

    def _audit_put(self, entry: AuditEntry) -> dict[str, Any]:
        # The sort key is unique and keeps rows in the order they were written.
        ts = f"{iso(entry.at)}#{time.time_ns():020d}{secrets.token_hex(3)}"
        values = {
            "cart_id": entry.cart_id,
            "ts": ts,
            "at": iso(entry.at),
            "by_user": entry.by,
            "action": entry.action,
            "before": None if entry.before is None else _json.encode(entry.before).decode(),
            "after": None if entry.after is None else _json.encode(entry.after).decode(),
            "detail": entry.detail,
        }
        return {
            "Put": {
                "TableName": self.tables.audit,
                "Item": _item(values),
                "ConditionExpression": "attribute_not_exists(ts)",
            }
        }

    # ---- timers: the row says what is pending; the sink is made to match ------------------
    def _reconcile(self, cart_id: str) -> None:
        ensured: str | None = None
        for _ in range(RECONCILE_ROUNDS):
            item = self._get(
                self.tables.state,
                {"cart_id": cart_id},
                ProjectionExpression=(
                    "cart_id, schedule_name, previous_schedule, wake_at, wake_kind, wake_step"
                ),
            )
            values = _plain(item) if item else {}
            current = values.get("schedule_name") or None
            previous = values.get("previous_schedule") or None
            if ensured is not None and ensured != current:
                self.timers.remove(ensured)  # ours went stale while we made it
            if previous is not None and previous not in (current, ensured):
                self.timers.remove(previous)
            timer = _timer_of(item) if item else None
            if current is None or timer is None or current == ensured:
                return
            self.timers.ensure(cart_id, timer, current)
            ensured = current
        log.warning("the cart's timer kept changing", extra={"cart_id": cart_id})

    # ---- reads ----------------------------------------------------------------------------
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        item = self._get(self.tables.state, {"cart_id": cart_id})
        sends = self._query(
            TableName=self.tables.sends,
            KeyConditionExpression="cart_id = :c",
            ExpressionAttributeValues={":c": {"S": cart_id}},
            ConsistentRead=True,
        )
        records = sorted((_send_of(s) for s in sends), key=lambda r: r.step)
        return (_cart_of(item) if item else None), records

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        items = self._query(
            TableName=self.tables.sends,
            IndexName=RECIPIENT_INDEX,
            KeyConditionExpression="recipient = :r AND sent_at >= :s",
            ExpressionAttributeValues={":r": _av(normalise_email(email)), ":s": _av(iso(since))},
        )
        records = [_send_of(i) for i in items]
        return sorted(
            (r for r in records if r.outcome is Outcome.SENT), key=lambda r: (r.at, r.cart_id)
        )

    def is_unsubscribed(self, email: str) -> bool:
        return self._get(self.tables.unsub, {"email": self._digest(email)}) is not None

    def audit(self, cart_id: str) -> list[AuditEntry]:
        return [_audit_of(i) for i in self._audit_items(cart_id)]

    def _audit_items(self, cart_id: str) -> list[dict[str, Any]]:
        """The cart's audit rows (its clicks, sorted after them, are left out)."""
        return list(
            self._query(
                TableName=self.tables.audit,
                KeyConditionExpression="cart_id = :c AND #ts < :clicks",
                ExpressionAttributeNames={"#ts": "ts"},
                ExpressionAttributeValues={":c": _av(cart_id), ":clicks": _av(CLICK_PREFIX)},
                ConsistentRead=True,
            )
        )

    def carts_of(self, email: str) -> list[Cart]:
        items = self._query(
            TableName=self.tables.state,
            IndexName=EMAIL_INDEX,
            KeyConditionExpression="email = :e",
            ExpressionAttributeValues={":e": _av(normalise_email(email))},
        )
        return sorted((_cart_of(i) for i in items), key=lambda c: c.cart_id)

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        items = self._scan(
            TableName=self.tables.state,
            FilterExpression="created_at >= :s AND created_at < :e",
            ExpressionAttributeValues={":s": _av(iso(start)), ":e": _av(iso(end))},
            ConsistentRead=True,
        )
        return sorted((_cart_of(i) for i in items), key=lambda c: (c.created_at, c.cart_id))

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        bounds = {":s": _av(iso(start)), ":e": _av(iso(end))}
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

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        request: dict[str, Any] = {
            "TableName": self.tables.unsub,
            "FilterExpression": "unsubscribed_at >= :s AND unsubscribed_at < :e",
            "ExpressionAttributeValues": {":s": _av(iso(start)), ":e": _av(iso(end))},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        count = 0
        while True:
            page = self._db.scan(**request)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
            "data": _event_encoder.encode(event).decode(),
            "email": normalise_email(event.email) if event.email else None,
        }
        ops: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.tables.event_ids,
                    "Item": _item(record),
                    "ConditionExpression": "attribute_not_exists(event_id)",
                }
            }
        ]
        if cart is not None:
            u = _Update()
            _cart_update(cart, 0 if expected_version is None else expected_version + 1, u)
            if timer is not None:
                _timer_update(event.cart_id, timer, u)
            ops.append(self._state_update(event.cart_id, u, expected_version))
        elif timer is not None:
            u = _Update()
            _timer_update(event.cart_id, timer, u)
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
        u = _Update()
        _cart_update(cart, version, u)
        if timer is not None:
            _timer_update(cart.cart_id, timer, u)
        ops = [self._state_update(cart.cart_id, u, expected_version)]
        if audit is not None:
            ops.append(self._audit_put(audit))
        if self._write(ops):
            raise StaleCart(cart.cart_id)
        if timer is not None:
            self._reconcile(cart.cart_id)
        return msgspec.structs.replace(cart, version=version)

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        u = _Update()
        _timer_update(cart_id, change, u)
        if self._write([self._state_update(cart_id, u, expected_version)]):
            raise StaleCart(cart_id)
        self._reconcile(cart_id)

    def _with_timer(
        self, ops: list[dict[str, Any]], cart_id: str, timer: TimerChange | None
    ) -> list[int]:
        """Write ``ops`` plus the cart's timer change; a cart row that is gone only loses the
        timer (the send record is still written)."""
        if timer is None:
            return self._write(ops)
        u = _Update()
        _timer_update(cart_id, timer, u)
        failed = self._write([*ops, self._state_update(cart_id, u, "exists")])
        if failed == [len(ops)]:
            return self._write(ops)
        if not failed:
            self._reconcile(cart_id)
        return failed

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        put = {
            "Put": {
                "TableName": self.tables.sends,
                "Item": _item(_send_values(record)),
                "ConditionExpression": "attribute_not_exists(cart_id) OR #o = :deferred",
                "ExpressionAttributeNames": {"#o": "outcome"},
                "ExpressionAttributeValues": {":deferred": _av(str(Outcome.DEFERRED))},
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
                    "Key": _item({"cart_id": cart_id}),
                    "ConditionExpression": "#s = :open",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":open": _av("open")},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.tables.unsub,
                    "Key": _item({"email": self._digest(recipient)}),
                    "ConditionExpression": "attribute_not_exists(email)",
                }
            },
            {
                "Put": {
                    "TableName": self.tables.sends,
                    "Item": _item(_send_values(claim)),
                    "ConditionExpression": "attribute_not_exists(cart_id) OR #o = :deferred",
                    "ExpressionAttributeNames": {"#o": "outcome"},
                    "ExpressionAttributeValues": {":deferred": _av(str(Outcome.DEFERRED))},
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
    ) -> None:
        u = _Update()
        u.set("outcome", str(outcome))
        u.set("at", iso(at))
        u.set("message_id", message_id)
        u.set("reason", reason)
        u.set("due", iso(due) if due else None)
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
        values: dict[str, Any] = {":claimed": _av(str(Outcome.CLAIMED))}
        if older_than is not None:
            condition += " AND #at <= :cutoff"
            values[":cutoff"] = _av(iso(now - older_than))
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
                ExpressionAttributeValues={**values, ":c": _av(cart_id)},
                ConsistentRead=True,
            )
        out = []
        for item in list(items):
            record = msgspec.structs.replace(_send_of(item), outcome=Outcome.UNCERTAIN)
            u = _Update()
            u.set("outcome", str(Outcome.UNCERTAIN))
            cond = f"{u.name('outcome')} = {u.value(str(Outcome.CLAIMED))}"
            key = {"cart_id": record.cart_id, "step": record.step}
            entry = AuditEntry(
                cart_id=record.cart_id,
                at=now,
                by=audit_by,
                action="uncertain",
                detail=f"step {record.step}: claimed before a crash; not resent",
            )
            ops = [{"Update": u.request(self.tables.sends, key, cond)}, self._audit_put(entry)]
            if not self._write(ops):
                out.append(record)
        return out

    def _unsubscribe_put(self, email: str, source: str, at: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.tables.unsub,
                "Item": _item(
                    {"email": self._digest(email), "unsubscribed_at": iso(at), "source": source}
                ),
                "ConditionExpression": "attribute_not_exists(email)",
            }
        }

    def unsubscribe(self, email: str, *, source: str, at: datetime) -> bool:
        key = normalise_email(email)
        entries = [
            self._audit_put(
                AuditEntry(
                    cart_id=cart.cart_id,
                    at=at,
                    by=source,
                    action="unsubscribed",
                    before=cart_snapshot(cart),
                    after=cart_snapshot(cart),
                )
            )
            for cart in self.carts_of(key)
        ]
        put = self._unsubscribe_put(email, source, at)
        first, rest = entries[: MAX_TRANSACTION - 1], entries[MAX_TRANSACTION - 1 :]
        if self._write([put, *first]) == [0]:
            return False
        for op in rest:  # an address with more carts than one transaction holds
            self._write([op])
        return True

    # ---- clicks and the owner's reads -----------------------------------------------------
    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        ts = f"{CLICK_PREFIX}{iso(at)}#{time.time_ns():020d}{secrets.token_hex(3)}"
        self._db.put_item(
            TableName=self.tables.audit,
            Item=_item({"cart_id": cart_id, "ts": ts, "step": step, "at": iso(at)}),
        )

    def clicks_for(self, cart_ids: Iterable[str]) -> dict[str, list[tuple[int, datetime]]]:
        """One query per cart; for many carts at once (a month's summary) one scan instead."""
        wanted = set(cart_ids)
        names = {"#at": "at", "#ts": "ts"}
        prefix = _av(CLICK_PREFIX)
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
                    ExpressionAttributeValues={":c": _av(cart_id), ":p": prefix},
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
            yield _cart_of(item)

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
                ExpressionAttributeValues={":c": _av(cart_id)},
                ConsistentRead=True,
            )
        )

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        """The events still kept (each is kept ``EVENT_ID_TTL`` after it arrived)."""
        events = [
            StoredEvent(_event_decoder.decode(i["data"]["S"]), from_iso(i["received_at"]["S"]))
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
                ExpressionAttributeValues={":e": _av(address)},
                ProjectionExpression="cart_id",
                ConsistentRead=True,
            ):
                ids.add(item["cart_id"]["S"])
        return sorted(ids)

    def append_audit(self, entry: AuditEntry) -> None:
        self._write([self._audit_put(entry)])

    # ---- privacy --------------------------------------------------------------------------
    def forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        ids = self.linked_carts(email)
        newly = not self._write([self._unsubscribe_put(email, by, at)])
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
                    u = _Update()
                    u.set("recipient", None)
                    u.set("address", None)
                    self._db.update_item(**u.request(self.tables.sends, key))
            for item in self._event_items(cart_id):
                events += 1
                if "data" not in item:
                    continue
                event = anonymise_event(_event_decoder.decode(item["data"]["S"]))
                u = _Update()
                u.set("data", _event_encoder.encode(event).decode())
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
                ExpressionAttributeValues={":c": _av(cart_id)},
                ConsistentRead=True,
            )
        )

    def _anonymise_audit_row(self, item: Mapping[str, Any]) -> None:
        u = _Update()
        for attr in ("before", "after"):
            if attr in item:
                snapshot = json.loads(item[attr]["S"])
                if any(snapshot.get(f) for f in PERSONAL_FIELDS):
                    u.set(attr, _json.encode(anonymise_snapshot(snapshot)).decode())
        if u.sets:
            key = {"cart_id": item["cart_id"]["S"], "ts": item["ts"]["S"]}
            self._db.update_item(**u.request(self.tables.audit, key))

    def _forget_cart(self, cart_id: str, by: str, at: datetime) -> None:
        for _ in range(CONFLICT_RETRIES):
            cart, _sends = self.load(cart_id)
            if cart is None:
                return
            erased = anonymise_cart(cart)
            entry = AuditEntry(
                cart_id=cart_id,
                at=at,
                by=by,
                action="forgotten",
                before=anonymise_snapshot(cart_snapshot(cart)),
                after=cart_snapshot(msgspec.structs.replace(erased, version=cart.version + 1)),
                detail="the shopper's personal data was erased",
            )
            try:
                self.save_cart(erased, expected_version=cart.version, audit=entry, timer=None)
                return
            except StaleCart:
                continue
        raise StaleCart(f"cart {cart_id} kept changing while it was being erased")

    # ---- WakeQueue over the rows (local runs and tests; on AWS the Scheduler fires) -------
    def _timers(self) -> list[Timer]:
        items = self._scan(
            TableName=self.tables.state,
            FilterExpression="attribute_exists(wake_at)",
            ProjectionExpression="cart_id, wake_at, wake_kind, wake_step",
            ConsistentRead=True,
        )
        timers = [t for t in (_timer_of(i) for i in items) if t is not None]
        return sorted(timers, key=lambda t: (t.due, t.cart_id))

    def due(self, now: datetime, limit: int) -> list[Timer]:
        return [t for t in self._timers() if t.due <= now][:limit]

    def next_due(self) -> datetime | None:
        timers = self._timers()
        return timers[0].due if timers else None

    def pending(self) -> int:
        return len(self._timers())
