"""Bounces, complaints and opting back in: what the mail providers report suppresses the
address through the one unsubscribe path, and only the shopper's own link can take it off the
list again (never after a complaint)."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from cart_recovery.domain.feedback import (
    SOFT_BOUNCE_LIMIT,
    SOFT_BOUNCE_WINDOW,
    Feedback,
    MailFeedback,
    Suppression,
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


@dataclass(frozen=True)
class Suppressed:
    """One address on the unsubscribe list as the owner sees it: the list's row, and the
    address itself when the cart that led to it still names it (the list keeps no address)."""

    row: Suppression
    email: str | None


class FeedbackHandling:
    """The feedback and opt-back-in methods of ``Service`` (see ``service.core``)."""

    store: CartStore

    def mail_feedback(self, feedback: MailFeedback, now: datetime) -> Heard:
        """Apply one bounce or complaint report. A hard bounce or a complaint suppresses the
        address; a soft bounce is counted, and enough of them within the window suppress."""
        reason = reason_text(feedback)
        if feedback.kind is Feedback.SOFT_BOUNCE:
            count = self.store.note_soft_bounce(
                feedback.email,
                at=now,
                since=now - SOFT_BOUNCE_WINDOW,
                event_id=f"{feedback.provider}:{feedback.event_id}" if feedback.event_id else "",
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

    def suppressed(self, limit: int = 200) -> list[Suppressed]:
        """The unsubscribe list, newest first, with each address where its cart still names
        it (not after an erasure, nor when the cart's address changed since)."""
        out = []
        for row in self.store.suppressions(limit):
            email = None
            if row.cart_id is not None:
                cart, _sends = self.store.load(row.cart_id)
                if cart is not None and cart.email:
                    same = self.store.suppression(cart.email)
                    email = cart.email if same is not None and same.digest == row.digest else None
            out.append(Suppressed(row, email))
        return out


__all__ = ["SOFT_BOUNCE_LIMIT", "FeedbackHandling", "Heard", "OptIn", "Suppressed"]
