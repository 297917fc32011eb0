"""The generic signed JSON webhook (SPEC §3): the body is the cart event itself.

``X-Cart-Timestamp``: Unix seconds. ``X-Cart-Signature``: ``sha256=<hex>`` (several,
comma-separated, during a rotation): the hex HMAC-SHA256 of ``<timestamp>.<raw body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from cart_recovery.adapters.storefronts.base import (
    MAX_BODY,
    REPLAY_WINDOW_SECONDS,
    Parsed,
    RequestError,
    any_match,
    bad_money_text,
    check_timestamp,
)
from cart_recovery.domain.model import CartEvent

__all__ = [
    "MAX_BODY",
    "REPLAY_WINDOW_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "GenericSource",
    "RequestError",
    "decode_event",
    "sign",
    "verify",
]

TIMESTAMP_HEADER = "x-cart-timestamp"
SIGNATURE_HEADER = "x-cart-signature"
MAX_SIGNATURES = 4

_decoder = msgspec.json.Decoder(CartEvent)


class _Money(msgspec.Struct):
    """Only the money fields, as written (to hold string prices to the schema's pattern)."""

    total: Any = None
    items: Any = None


_money = msgspec.json.Decoder(_Money)
_AT = re.compile(r"at `\$\.?(?P<path>[^`]*)`")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers a storefront sends with ``body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Cart-Timestamp": str(timestamp), "X-Cart-Signature": f"sha256={mac}"}


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: datetime) -> None:
    """Raises RequestError(401) unless one of ``secrets`` signed this body recently."""
    if not secrets:
        raise RequestError(503, "not_configured", "no webhook secret is configured")
    ts_raw = headers.get(TIMESTAMP_HEADER)
    sig_raw = headers.get(SIGNATURE_HEADER)
    if not ts_raw:
        raise RequestError(401, "unsigned", "missing X-Cart-Timestamp header", TIMESTAMP_HEADER)
    if not sig_raw:
        raise RequestError(401, "unsigned", "missing X-Cart-Signature header", SIGNATURE_HEADER)
    check_timestamp(ts_raw, now, "X-Cart-Timestamp")
    offered = [
        p.strip()[7:].lower().encode("utf-8", "surrogateescape")
        for p in sig_raw.split(",")
        if p.strip().lower().startswith("sha256=")
    ]
    if not offered:
        raise RequestError(
            401, "bad_signature", "X-Cart-Signature must be sha256=<hex>", SIGNATURE_HEADER
        )
    signed = f"{ts_raw}.".encode() + body
    expected = [
        hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode() for secret in secrets
    ]
    if not any_match(expected, offered[:MAX_SIGNATURES]):
        raise RequestError(
            401, "bad_signature", "signature does not match the body", SIGNATURE_HEADER
        )


def decode_event(body: bytes) -> CartEvent:
    """The event in ``body``, or RequestError(400) naming the field at fault."""
    try:
        event = _decoder.decode(body)
    except msgspec.ValidationError as e:
        raise RequestError(400, "invalid_event", str(e), field_of(e)) from None
    except msgspec.DecodeError as e:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {e}", "$") from None
    if event.total is not None or event.items:
        money = _money.decode(body)
        bad = bad_money_text({"total": money.total, "items": money.items})
        if bad is not None:
            raise RequestError(
                400, "invalid_event", f"{bad}: a price is a number or a plain decimal string", bad
            )
    return event


def field_of(error: msgspec.ValidationError) -> str:
    """The field a msgspec validation error is about, as ``items[0].quantity`` (``$``: the
    whole body)."""
    text = str(error)
    m = _AT.search(text)
    field = m.group("path") if m else None
    missing = _MISSING.search(text)
    if missing:
        field = f"{field}.{missing.group('name')}" if field else missing.group("name")
    return field or "$"


@dataclass(frozen=True)
class GenericSource:
    """``POST /webhooks/cart``: the cart event as the body, signed with the webhook secret."""

    secrets: Sequence[str]
    name: str = "generic"

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify(headers, body, self.secrets, now)

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        return Parsed((decode_event(body),))
