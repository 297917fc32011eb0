"""What SES tells us back about the mail it carried, as ``MailFeedback``.

Two layers, kept apart so that any way an SES message arrives can share the first:

- ``feedback_of(message)``: one SES event record (the JSON SES publishes for a configuration
  set's event destination, ``eventType`` ``Bounce`` or ``Complaint``; the identity
  notifications' ``notificationType`` is read the same way) → one ``MailFeedback`` per
  recipient. Pure. ``decode_message`` reads that JSON from text.
- ``sns_message(record)``: one record of the SNS → Lambda event (``Records[].Sns``) → its
  message id and the message text SES published.

What a bounce or a complaint means is ``adapters.mail_events.ses``'s to say (one reader for
both runtimes). Anything that is not one (another event type, a not-spam complaint, a missing
field, a recipient that is no address) is a ``SesEventError`` naming the field, never the
address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cart_recovery.adapters.mail_events import ses
from cart_recovery.domain.feedback import MailFeedback
from cart_recovery.ports import RequestError


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
    """One report per recipient of an SES ``Bounce`` or ``Complaint`` event record, read by the
    one SES reader (``adapters.mail_events.ses``, which the embedded SNS webhook uses too)."""
    try:
        reported = ses.report(dict(message))
    except RequestError as e:
        raise SesEventError(str(e)) from None
    if not reported.feedback:
        raise SesEventError(reported.ignored or "no recipient reported")
    return list(reported.feedback)
