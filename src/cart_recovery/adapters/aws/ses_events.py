"""What SES tells us back about the mail it carried, as ``MailFeedback``.

Two layers, kept apart so that any way an SES message arrives can share the first:

- ``feedback_of(message)``: one SES event record (the JSON SES publishes for a configuration
  set's event destination, ``eventType`` ``Bounce`` or ``Complaint``; the identity
  notifications' ``notificationType`` is read the same way) → one ``MailFeedback`` per
  recipient. Pure. ``decode_message`` reads that JSON from text.
- ``sns_message(record)``: one record of the SNS → Lambda event (``Records[].Sns``) → its
  message id and the message text SES published.

A bounce's ``bounceType``: ``Permanent`` is a hard bounce; ``Transient`` is a soft one (counted);
``Undetermined`` (SES could not tell) is counted as a soft one too, so only a repeat suppresses.
Anything else (another event type, a missing field, a recipient that is no address) is a
``SesEventError`` naming the field, never the address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cart_recovery.domain.address import AddressError, recipient_address
from cart_recovery.domain.feedback import Feedback, MailFeedback

PROVIDER = "ses"

BOUNCE_KINDS = {
    "Permanent": Feedback.HARD_BOUNCE,
    "Transient": Feedback.SOFT_BOUNCE,
    "Undetermined": Feedback.SOFT_BOUNCE,
}


class SesEventError(ValueError):
    """Not an SES bounce or complaint we can read; the message says what was wrong."""


@dataclass(frozen=True)
class SnsMessage:
    message_id: str
    text: str  # what the publisher (SES) published: the event record's JSON


def sns_message(record: Any) -> SnsMessage:
    """The SNS message in one record of an SNS → Lambda event."""
    sns = record.get("Sns") if isinstance(record, Mapping) else None
    if not isinstance(sns, Mapping):
        raise SesEventError("the record has no Sns object: not an SNS delivery")
    message_id = sns.get("MessageId")
    text = sns.get("Message")
    if not isinstance(text, str) or not text:
        raise SesEventError("Sns.Message is missing or not text")
    return SnsMessage(message_id=str(message_id or ""), text=text)


def decode_message(text: str | bytes) -> Mapping[str, Any]:
    """An SES event record from its JSON text."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise SesEventError("the message is not JSON") from None
    if not isinstance(message, Mapping):
        raise SesEventError("the message is not a JSON object")
    return message


def feedback_of(message: Mapping[str, Any]) -> list[MailFeedback]:
    """One report per recipient of an SES ``Bounce`` or ``Complaint`` event record."""
    kind = message.get("eventType", message.get("notificationType"))
    if kind == "Bounce":
        return _bounce(_object(message, "bounce"))
    if kind == "Complaint":
        return _complaint(_object(message, "complaint"))
    if not isinstance(kind, str):
        raise SesEventError("eventType is missing")
    raise SesEventError(f"eventType {kind[:40]!r} is not a bounce or a complaint")


def _bounce(bounce: Mapping[str, Any]) -> list[MailFeedback]:
    bounce_type = bounce.get("bounceType")
    kind = BOUNCE_KINDS.get(bounce_type) if isinstance(bounce_type, str) else None
    if kind is None:
        shown = bounce_type[:40] if isinstance(bounce_type, str) else bounce_type
        raise SesEventError(
            f"bounce.bounceType {shown!r} is not one of {', '.join(sorted(BOUNCE_KINDS))}"
        )
    sub_type = _text(bounce.get("bounceSubType"))
    out = []
    for i, recipient in enumerate(_list(bounce, "bounce", "bouncedRecipients")):
        email = _address(recipient, f"bounce.bouncedRecipients[{i}]")
        words = [f"{bounce_type} {sub_type}".strip()]
        diagnostic = _text(recipient.get("diagnosticCode"))
        if diagnostic:
            words.append(diagnostic)
        out.append(MailFeedback(kind, email, PROVIDER, ": ".join(words)))
    return out


def _complaint(complaint: Mapping[str, Any]) -> list[MailFeedback]:
    feedback_type = _text(complaint.get("complaintFeedbackType"))
    reason = f"feedback type {feedback_type}" if feedback_type else ""
    return [
        MailFeedback(
            Feedback.COMPLAINT,
            _address(recipient, f"complaint.complainedRecipients[{i}]"),
            PROVIDER,
            reason,
        )
        for i, recipient in enumerate(_list(complaint, "complaint", "complainedRecipients"))
    ]


def _object(message: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = message.get(name)
    if not isinstance(value, Mapping):
        raise SesEventError(f"{name} is missing or not an object")
    return value


def _list(parent: Mapping[str, Any], where: str, name: str) -> list[Any]:
    value = parent.get(name)
    if not isinstance(value, list) or not value:
        raise SesEventError(f"{where}.{name} is missing or empty")
    return value


def _address(recipient: Any, where: str) -> str:
    raw = recipient.get("emailAddress") if isinstance(recipient, Mapping) else None
    if not isinstance(raw, str):
        raise SesEventError(f"{where}.emailAddress is missing")
    try:
        return recipient_address(raw)
    except AddressError:
        raise SesEventError(f"{where}.emailAddress is not an email address") from None


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""
