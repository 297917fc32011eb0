"""The generic signed JSON webhook (SPEC §3).

``X-Cart-Timestamp``: Unix seconds. ``X-Cart-Signature``: ``sha256=<hex>`` (several,
comma-separated, during a rotation): the hex HMAC-SHA256 of ``<timestamp>.<raw body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from ...domain.model import CartEvent

TIMESTAMP_HEADER = "x-cart-timestamp"
SIGNATURE_HEADER = "x-cart-signature"
REPLAY_WINDOW_SECONDS = 300
MAX_BODY = 256 * 1024

_decoder = msgspec.json.Decoder(CartEvent)
_AT = re.compile(r"at `\$\.?(?P<path>[^`]*)`")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


class RequestError(Exception):
    """A refused request: HTTP ``status``, a machine ``code``, the ``field`` at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.field = field
        super().__init__(message)

    def body(self) -> dict[str, str]:
        out = {"error": self.code, "message": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


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
    if not ts_raw.isdigit() or len(ts_raw) > 12:
        raise RequestError(
            401, "bad_timestamp", "X-Cart-Timestamp must be Unix seconds", TIMESTAMP_HEADER
        )
    ts = int(ts_raw)
    if abs(now.timestamp() - ts) > REPLAY_WINDOW_SECONDS:
        raise RequestError(
            401,
            "stale_timestamp",
            "X-Cart-Timestamp is more than 5 minutes from now (replay refused)",
            TIMESTAMP_HEADER,
        )
    offered = [p.strip()[7:] for p in sig_raw.split(",") if p.strip().lower().startswith("sha256=")]
    if not offered:
        raise RequestError(
            401, "bad_signature", "X-Cart-Signature must be sha256=<hex>", SIGNATURE_HEADER
        )
    signed = f"{ts_raw}.".encode() + body
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for candidate in offered[:4]:
            ok |= hmac.compare_digest(expected, candidate.lower())
    if not ok:
        raise RequestError(
            401, "bad_signature", "signature does not match the body", SIGNATURE_HEADER
        )


def decode_event(body: bytes) -> CartEvent:
    """The event in ``body``, or RequestError(400) naming the field at fault."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as e:
        text = str(e)
        m = _AT.search(text)
        field = m.group("path") if m else None
        missing = _MISSING.search(text)
        if missing:
            field = f"{field}.{missing.group('name')}" if field else missing.group("name")
        raise RequestError(400, "invalid_event", text, field or "$") from None
    except msgspec.DecodeError as e:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {e}", "$") from None
