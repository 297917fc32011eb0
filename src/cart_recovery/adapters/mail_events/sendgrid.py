"""SendGrid's Event Webhook, signed.

With "Signed Event Webhook Requests" on, SendGrid signs each delivery with ECDSA (P-256,
SHA-256) over the ``X-Twilio-Email-Event-Webhook-Timestamp`` header followed by the raw body;
the base64 DER signature is in ``X-Twilio-Email-Event-Webhook-Signature``, and the public key
SendGrid shows is base64 DER (SubjectPublicKeyInfo). A timestamp more than five minutes from
the clock is refused (a replay).

The body is a list of events: ``bounce`` with ``type`` ``bounce`` → a hard bounce, ``type``
``blocked`` → a soft bounce (counted); ``spamreport`` → a complaint. Deliveries, deferrals,
drops, opens, clicks and the rest are not used.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cart_recovery.adapters.mail_events.base import (
    Reported,
    RequestError,
    decode,
    feedback,
    fresh,
    items,
    obj,
    recipient,
    text_of,
)
from cart_recovery.domain.feedback import Feedback, MailFeedback

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
BOUNCE_KINDS = {"bounce": Feedback.HARD_BOUNCE, "blocked": Feedback.SOFT_BOUNCE}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER, or PEM); ValueError otherwise."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("is not a public key (base64 DER, as SendGrid shows it)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("is not a P-256 (ECDSA) public key")
    return key


def sign(body: bytes, key: ec.EllipticCurvePrivateKey, timestamp: int) -> dict[str, str]:
    """The headers SendGrid sends with ``body`` signed by ``key`` at ``timestamp``."""
    signature = key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
    }


def verify(
    headers: Mapping[str, str], body: bytes, key: ec.EllipticCurvePublicKey, now: datetime
) -> None:
    """Raises RequestError(401) unless ``key`` signed this timestamp and body just now."""
    raw = (headers.get(SIGNATURE_HEADER) or "").strip()
    if not raw:
        raise RequestError(401, "unsigned", "missing signature header", SIGNATURE_HEADER)
    stamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    fresh(stamp, now, TIMESTAMP_HEADER)
    try:
        signature = base64.b64decode(raw, validate=True)
        key.verify(signature, stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise RequestError(
            401, "bad_signature", "signature does not match the body", SIGNATURE_HEADER
        ) from None


def read(body: bytes) -> Reported:
    """The feedback in one delivery (a list of events)."""
    found: list[MailFeedback] = []
    for i, event in enumerate(items(decode(body), "body")):
        event = obj(event, f"[{i}]")
        name = text_of(event.get("event"))
        if name == "bounce":
            kind = BOUNCE_KINDS.get(text_of(event.get("type")) or "bounce")
            if kind is None:
                raise RequestError(
                    400, "invalid_event", "a bounce's type must be bounce or blocked", f"[{i}].type"
                )
        elif name == "spamreport":
            kind = Feedback.COMPLAINT
        else:
            continue
        email = recipient(event.get("email"), f"[{i}].email")
        said = (event.get("status"), event.get("reason"))
        found.append(feedback(kind, email, PROVIDER, *said, event_id=event.get("sg_event_id")))
    if not found:
        return Reported((), ignored="no bounce or spam report in the events")
    return Reported(tuple(found))


@dataclass(frozen=True)
class SendGridEvents:
    """``POST /webhooks/mail-events/sendgrid``."""

    public_key: ec.EllipticCurvePublicKey  # ``load_public_key`` of the key SendGrid shows
    name: str = PROVIDER

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify(headers, body, self.public_key, now)

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Reported:
        return read(body)
