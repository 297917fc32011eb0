"""Amazon SES bounce and complaint reports, as SES publishes them to an SNS topic: the
notification format (``notificationType``) and the event-publishing format (``eventType``),
which share the ``bounce`` and ``complaint`` objects.

- ``Bounce`` with ``bounceType`` ``Permanent`` → a hard bounce per ``bouncedRecipients[]``;
  ``Transient`` or ``Undetermined`` → a soft bounce (counted);
- ``Complaint`` → a complaint per ``complainedRecipients[]`` (unless its feedback type is
  ``not-spam``: the recipient said it is not spam);
- anything else (``Delivery``, ``Send``, ``Open``, ``DeliveryDelay``, ...) is not used.
"""

from __future__ import annotations

from typing import Any

from cart_recovery.adapters.mail_events.base import (
    Reported,
    RequestError,
    feedback,
    items,
    obj,
    recipient,
    text_of,
)
from cart_recovery.domain.feedback import Feedback, MailFeedback

PROVIDER = "ses"
BOUNCE_KINDS = {
    "Permanent": Feedback.HARD_BOUNCE,
    "Transient": Feedback.SOFT_BOUNCE,
    "Undetermined": Feedback.SOFT_BOUNCE,
}


def _bounces(report: dict[str, Any]) -> tuple[MailFeedback, ...]:
    bounce = obj(report.get("bounce"), "Message.bounce")
    bounce_type = text_of(bounce.get("bounceType"))
    kind = BOUNCE_KINDS.get(bounce_type)
    if kind is None:
        raise RequestError(
            400,
            "invalid_event",
            "bounce.bounceType must be Permanent, Transient or Undetermined",
            "Message.bounce.bounceType",
        )
    sub_type = text_of(bounce.get("bounceSubType"))
    out = []
    for i, row in enumerate(items(bounce.get("bouncedRecipients"), "bounce.bouncedRecipients")):
        where = f"Message.bounce.bouncedRecipients[{i}]"
        row = obj(row, where)
        email = recipient(row.get("emailAddress"), f"{where}.emailAddress")
        said = text_of(row.get("diagnosticCode") or row.get("status")).strip()
        words = f"{bounce_type} {sub_type}".strip() + (f": {said}" if said else "")
        event_id = f"{text_of(bounce.get('feedbackId'))}/{i}"
        out.append(feedback(kind, email, PROVIDER, words, event_id=event_id))
    return tuple(out)


def _complaints(report: dict[str, Any]) -> tuple[MailFeedback, ...]:
    complaint = obj(report.get("complaint"), "Message.complaint")
    feedback_type = text_of(complaint.get("complaintFeedbackType"))
    if feedback_type == "not-spam":
        return ()
    rows = items(complaint.get("complainedRecipients"), "Message.complaint.complainedRecipients")
    out = []
    for i, row in enumerate(rows):
        where = f"Message.complaint.complainedRecipients[{i}]"
        email = recipient(obj(row, where).get("emailAddress"), f"{where}.emailAddress")
        words = f"feedback type {feedback_type}" if feedback_type else ""
        out.append(feedback(Feedback.COMPLAINT, email, PROVIDER, words))
    return tuple(out)


def report(message: object) -> Reported:
    """The feedback in one SES report (the JSON inside the SNS ``Message``)."""
    doc = obj(message, "Message")
    kind = text_of(doc.get("notificationType") or doc.get("eventType"))
    if kind == "Bounce":
        return Reported(_bounces(doc))
    if kind == "Complaint":
        found = _complaints(doc)
        return Reported(found) if found else Reported((), ignored="a not-spam complaint")
    if not kind:
        raise RequestError(
            400,
            "invalid_event",
            "the SES report has neither notificationType nor eventType",
            "Message.notificationType",
        )
    return Reported((), ignored=f"SES {kind!r} is not a bounce or a complaint")
