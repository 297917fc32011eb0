"""Bounces, complaints and opting back in: what the mail providers report suppresses the
address through the one unsubscribe path, and only the shopper's own link can take it off the
list again (never after a complaint)."""

from __future__ import annotations

import enum
import logging
from datetime import datetime

from cart_recovery.domain.feedback import (
    SOFT_BOUNCE_LIMIT,
    SOFT_BOUNCE_WINDOW,
    Feedback,
    MailFeedback,
    is_final,
    reason_text,
    soft_bounces_suppress,
    source_of,
)
from cart_recovery.ports import CartStore, UnsubscribeLink

log = logging.getLogger("cart_recovery.feedback")

SHOPPER = "shopper"


class Heard(enum.StrEnum):
    """What one report did."""

    SUPPRESSED = "suppressed"  # the address went on the list (or its row became final)
    ALREADY = "already"  # it was on the list already
    COUNTED = "counted"  # a soft bounce, counted; not enough to suppress yet


class OptIn(enum.StrEnum):
    """What a shopper's "get reminders again" did."""

    BACK = "back"  # off the list: reminders again
    NOT_LISTED = "not_listed"  # the address was not on the list
    FINAL = "final"  # suppressed by a complaint: it stays


class FeedbackHandling:
    """The feedback and opt-back-in methods of ``Service`` (see ``service.core``)."""

    store: CartStore

    def mail_feedback(self, feedback: MailFeedback, now: datetime) -> Heard:
        """Apply one bounce or complaint report. A hard bounce or a complaint suppresses the
        address; a soft bounce is counted, and enough of them within the window suppress."""
        reason = reason_text(feedback)
        if feedback.kind is Feedback.SOFT_BOUNCE:
            count = self.store.note_soft_bounce(
                feedback.email, at=now, since=now - SOFT_BOUNCE_WINDOW
            )
            if not soft_bounces_suppress(count):
                return Heard.COUNTED
            reason = f"{reason} ({count} soft bounces in {SOFT_BOUNCE_WINDOW.days} days)"
        source = source_of(feedback.kind)
        done = self.store.unsubscribe(feedback.email, source=source, at=now, reason=reason)
        log.info(
            "mail feedback",
            extra={"provider": feedback.provider, "kind": str(feedback.kind), "suppressed": done},
        )
        return Heard.SUPPRESSED if done else Heard.ALREADY

    def opt_back_in(self, link: UnsubscribeLink, now: datetime) -> OptIn:
        """The shopper's own signed link asks for reminders again. Never after a complaint."""
        email: str | None
        if link.email is not None:
            email = link.email
            row = self.store.suppression(email)
        else:
            cart, _sends = self.store.load(link.cart_id)
            email = cart.email if cart is not None else None
            row = self.store.suppression_key(link.digest)
        if row is None:
            return OptIn.NOT_LISTED
        if is_final(row.source):
            return OptIn.FINAL
        done = self.store.resubscribe_key(row.digest, at=now, by=SHOPPER, email=email)
        return OptIn.BACK if done else OptIn.FINAL


__all__ = ["SOFT_BOUNCE_LIMIT", "FeedbackHandling", "Heard", "OptIn"]
