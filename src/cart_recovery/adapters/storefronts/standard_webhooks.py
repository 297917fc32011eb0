"""The Standard Webhooks scheme (standardwebhooks.com), carrying the one cart event.

Headers: ``webhook-id`` (the message id), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (space-separated ``v1,<base64>``: the HMAC-SHA256 of
``<id>.<timestamp>.<raw body>`` under the ``whsec_`` secret). The signature is computed by the
``standardwebhooks`` package; the timestamp is checked here against the service's clock (the
package's own check reads the wall clock, which a virtual clock must be able to replace).

The body is either the cart event itself, or the Standard Webhooks envelope
``{"type": "cart.updated", "timestamp": "<RFC 3339>", "data": {...the cart event...}}``, where
``data`` may leave out ``type`` and ``occurred_at`` (taken from the envelope). In both, an
absent ``event_id`` is the ``webhook-id``: a redelivered message is a no-op.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from cart_recovery.adapters.storefronts.base import Parsed, RequestError, any_match, check_timestamp
from cart_recovery.adapters.storefronts.convert import decode_json, to_event

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
MAX_SIGNATURES = 4
SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix, not a secret)


def load_secret(secret: str) -> Webhook:
    """A verifier for ``whsec_<base64>``; ValueError (without the secret) if it is malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a Standard Webhooks secret starts with whsec_")
    try:
        if len(base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)) < 16:
            raise ValueError("too short")
        return Webhook(secret)
    except (binascii.Error, ValueError, RuntimeError):
        raise ValueError(
            "a Standard Webhooks secret is whsec_<base64> of at least 16 bytes"
        ) from None


def sign(body: bytes, secret: str, msg_id: str, timestamp: int) -> dict[str, str]:
    """The headers a sender adds to ``body`` (with the standardwebhooks package)."""
    at = datetime.fromtimestamp(timestamp, UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def _offered(header: str) -> list[bytes]:
    out = []
    for part in header.split(" ")[: MAX_SIGNATURES * 2]:
        version, _, sig = part.partition(",")
        if version != "v1" or not sig:
            continue
        try:
            out.append(base64.b64decode(sig, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out[:MAX_SIGNATURES]


@dataclass(frozen=True)
class StandardWebhooksSource:
    """``POST /webhooks/standard``: a cart event signed with the Standard Webhooks headers."""

    secrets: Sequence[str]
    name: str = "standard"
    hooks: tuple[Webhook, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hooks", tuple(load_secret(s) for s in self.secrets))

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        msg_id = headers.get(ID_HEADER)
        sig_raw = headers.get(SIGNATURE_HEADER)
        if not msg_id:
            raise RequestError(401, "unsigned", "missing webhook-id header", ID_HEADER)
        if not sig_raw:
            raise RequestError(
                401, "unsigned", "missing webhook-signature header", SIGNATURE_HEADER
            )
        ts = check_timestamp(headers.get(TIMESTAMP_HEADER), now, "webhook-timestamp")
        offered = _offered(sig_raw)
        if not offered:
            raise RequestError(
                401, "bad_signature", "webhook-signature must be v1,<base64>", SIGNATURE_HEADER
            )
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(400, "invalid_json", "the body is not UTF-8 text", "$") from None
        at = datetime.fromtimestamp(ts, UTC)
        expected = [
            base64.b64decode(h.sign(msg_id=msg_id, timestamp=at, data=data).split(",", 1)[1])
            for h in self.hooks
        ]
        if not any_match(expected, offered):
            raise RequestError(
                401, "bad_signature", "webhook-signature does not match the body", SIGNATURE_HEADER
            )

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        payload = decode_json(body)
        if not isinstance(payload, Mapping):
            raise RequestError(400, "invalid_event", "the body must be a JSON object", "$")
        msg_id = (headers.get(ID_HEADER) or "").strip()
        prefix = ""
        fields: dict[str, Any]
        data = payload.get("data")
        if "data" in payload and "cart_id" not in payload:
            if not isinstance(data, Mapping):
                raise RequestError(400, "invalid_event", "data must be the cart event", "data")
            prefix = "data."
            fields = dict(data)
            fields.setdefault("type", payload.get("type"))
            fields.setdefault("occurred_at", payload.get("timestamp"))
        else:
            fields = dict(payload)
        if fields.get("event_id") is None:
            fields["event_id"] = msg_id
        return Parsed((to_event(fields, {}, prefix),))
