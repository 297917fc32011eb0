"""DynamoDB items of the store: the table names and indexes, fixed-width ISO times,
attribute values, the UpdateExpression builder, and rows to and from carts, sends, audit
entries and timers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from cart_recovery.adapters.aws.scheduler import STEP_EVENTS, schedule_name
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, Outcome, SendRecord
from cart_recovery.domain.timers import Timer, TimerChange, TimerKind, timer_for

EMAIL_INDEX = "by-email"
RECIPIENT_INDEX = "by-recipient"
# The before and after snapshots of one audit row, encoded, at most (an item holds 400 KB).
AUDIT_SNAPSHOTS_LIMIT = 300_000
DAY_INDEX = "by-day"  # cr-state by ``created_day`` (UTC date) and ``created_at``: a day's carts
EVENT_ID_TTL = timedelta(days=90)  # far beyond any redelivery (SQS keeps messages 14 days)
MAX_TRANSACTION = 100
CONFLICT_RETRIES = 6
RECONCILE_ROUNDS = 4
CLICK_QUERIES = 25  # above this many carts, clicks_for scans once instead of a query each
CLICK_PREFIX = "click#"  # audit sort keys of clicks: after every ISO time, so never audit rows

_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"
cart_encoder = msgspec.json.Encoder(decimal_format="string")
cart_decoder = msgspec.json.Decoder(Cart)
event_encoder = msgspec.json.Encoder(decimal_format="string")
event_decoder = msgspec.json.Decoder(CartEvent)
json_encoder = msgspec.json.Encoder()


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
    owners: str = "cr-owners"


# ---- attribute values ---------------------------------------------------------------------
def attr_value(value: Any) -> dict[str, Any]:
    """One DynamoDB attribute value (strings, integers, decimals, booleans)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attr_value(v) for k, v in values.items() if v is not None}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            out[key] = value["S"]
        elif "N" in value:
            out[key] = Decimal(value["N"])
        elif "BOOL" in value:
            out[key] = value["BOOL"]
    return out


class Update:
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
        self.values[key] = attr_value(value)
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
            "Key": to_item(key),
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": dict(self.names),
        }
        if condition is not None:
            out["ConditionExpression"] = condition
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


def cart_update(cart: Cart, version: int, u: Update) -> None:
    stored = msgspec.structs.replace(cart, version=version)
    u.set("data", cart_encoder.encode(stored).decode())
    u.set("version", version)
    u.set("status", str(cart.status))
    u.set("email", normalise_email(cart.email) if cart.email else None)
    u.set("created_at", iso(cart.created_at))
    u.set("created_day", iso(cart.created_at)[:10])
    u.set("abandoned_at", iso(cart.abandoned_at))
    u.set("total", cart.total)
    u.set("currency", cart.currency)


def timer_update(cart_id: str, change: TimerChange, u: Update) -> None:
    """Record the cart's one pending timer, keeping the name of the schedule it had before
    (the cart's own, or none, or one named in an earlier release's per-timer way)."""
    none = u.value("")
    u.set_raw("previous_schedule", f"if_not_exists({u.name('schedule_name')}, {none})")
    timer = timer_for(cart_id, change)
    if timer is None:
        u.set_raw("schedule_name", none)
        for attr in ("wake_at", "wake_kind", "wake_step"):
            u.set(attr, None)
        return
    u.set("schedule_name", schedule_name(cart_id))
    u.set("wake_at", iso(timer.due))
    u.set("wake_kind", str(timer.kind))
    u.set("wake_step", timer.step)


def cart_of(item: Mapping[str, Any]) -> Cart:
    cart = cart_decoder.decode(item["data"]["S"])
    return msgspec.structs.replace(cart, version=int(item["version"]["N"]))


def send_of(item: Mapping[str, Any]) -> SendRecord:
    v = plain(item)
    return SendRecord(
        cart_id=v["cart_id"],
        step=int(v["step"]),
        outcome=Outcome(v["outcome"]),
        at=from_iso(v["at"]),
        recipient=v.get("address"),
        reason=v.get("reason"),
        due=from_iso(v["due"]) if v.get("due") else None,
        message_id=v.get("message_id"),
        attempts=int(v.get("attempts") or 0),
    )


def send_values(r: SendRecord) -> dict[str, Any]:
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
        "attempts": r.attempts or None,
        "sent_at": iso(r.at) if r.outcome is Outcome.SENT and r.recipient else None,
        "move": STEP_EVENTS.get(r.step),
        "channel": "email",
    }


def audit_of(item: Mapping[str, Any]) -> AuditEntry:
    v = plain(item)
    return AuditEntry(
        cart_id=v["cart_id"],
        at=from_iso(v["at"]),
        by=v["by_user"],
        action=v["action"],
        before=json.loads(v["before"]) if "before" in v else None,
        after=json.loads(v["after"]) if "after" in v else None,
        detail=v.get("detail"),
    )


def timer_of(item: Mapping[str, Any]) -> Timer | None:
    v = plain(item)
    if not v.get("wake_at"):
        return None
    step = v.get("wake_step")
    return Timer(
        cart_id=v["cart_id"],
        due=from_iso(v["wake_at"]),
        kind=TimerKind(v.get("wake_kind", "wake")),
        step=None if step is None else int(step),
    )
