"""How the SQLite store writes values: times as integer microseconds since the Unix epoch
(UTC), carts and events as msgspec JSON, and send rows back into SendRecords."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import Cart, CartEvent, Outcome, SendRecord
from cart_recovery.domain.privacy import anonymise_snapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

cart_encoder = msgspec.json.Encoder(decimal_format="string")
cart_decoder = msgspec.json.Decoder(Cart)
event_encoder = msgspec.json.Encoder(decimal_format="number")
event_decoder = msgspec.json.Decoder(CartEvent)
json_encoder = msgspec.json.Encoder()


def to_us(t: datetime) -> int:
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def fold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def address(value: object) -> str | None:
    return normalise_email(value) if isinstance(value, str) else None


def anonymous_json(blob: bytes | None) -> bytes | None:
    if blob is None:
        return None
    return json_encoder.encode(anonymise_snapshot(msgspec.json.decode(blob)))


def send_record(row: tuple[Any, ...]) -> SendRecord:
    cart_id, step, outcome, at, recipient, reason, due, message_id, attempts = row
    return SendRecord(
        cart_id=cart_id,
        step=step,
        outcome=Outcome(outcome),
        at=from_us(at),
        recipient=recipient,
        reason=reason,
        due=None if due is None else from_us(due),
        message_id=message_id,
        attempts=attempts,
    )


SEND_COLS = "cart_id, step, outcome, at, recipient, reason, due, message_id, attempts"
IN_CHUNK = 500  # ids per ``IN (...)``: well under SQLite's limit on parameters
