"""What the mail providers tell us back (bounces and complaints), and the rules of what
suppresses an address. Written once: the embedded webhooks, the AWS function and the SMTP
refusal at send time all turn what they hear into one ``MailFeedback``. Pure.

- a hard bounce (the address does not exist, the domain refuses it for good) suppresses;
- a spam complaint suppresses, and is final: no link can put the address back;
- a soft bounce (mailbox full, greylisted, a temporary refusal) is counted, and
  ``SOFT_BOUNCE_LIMIT`` of them within ``SOFT_BOUNCE_WINDOW`` suppress.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# The unsubscribe list's sources for feedback (the others: "shopper", "owner", ...).
BOUNCE = "bounce"
COMPLAINT = "complaint"
# Sources that no opt-back-in link can undo.
FINAL_SOURCES = frozenset({COMPLAINT})

# Spam complaints per reminder sent that mailbox providers ask bulk senders to stay under
# (0.3% is where they start refusing mail).
COMPLAINT_RATE_LIMIT = 0.001

SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=30)
REASON_LIMIT = 300


@dataclass(frozen=True)
class Suppression:
    """One row of the unsubscribe list: the address's keyed digest (never the address), when,
    why (``source``: "shopper", "owner", "bounce", "complaint", ...; ``reason``: the provider's
    words, naming nobody) and the cart that led to it, if one did."""

    digest: str
    at: datetime
    source: str
    reason: str | None = None
    cart_id: str | None = None


class Feedback(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class MailFeedback:
    """One provider report about one recipient: what happened, to whom, the provider's words."""

    kind: Feedback
    email: str
    provider: str  # "ses", "postmark", "sendgrid", "mailgun", "smtp"
    reason: str = ""
    # The provider's id of the report (a redelivery carries the same one, so a soft bounce is
    # counted once); empty when it gives none.
    event_id: str = ""


def source_of(kind: Feedback) -> str:
    """The unsubscribe list's source for feedback that suppresses."""
    return COMPLAINT if kind is Feedback.COMPLAINT else BOUNCE


def is_final(source: str) -> bool:
    """True when an address on the list for ``source`` can never be put back by a link."""
    return source in FINAL_SOURCES


def replaces(new_source: str, old_source: str) -> bool:
    """Whether an unsubscribe from ``new_source`` replaces the list's row from ``old_source``
    (a complaint makes any earlier row final; nothing else changes an existing row)."""
    return is_final(new_source) and not is_final(old_source)


def soft_bounces_suppress(count: int) -> bool:
    """``count`` soft bounces within the window are enough to suppress the address."""
    return count >= SOFT_BOUNCE_LIMIT


def reason_text(feedback: MailFeedback) -> str:
    """The reason kept on the list and in the audit: the provider and its words, one line, the
    recipient's address (which providers often echo) replaced by ``<recipient>``, and capped."""
    words = " ".join(feedback.reason.split())
    if feedback.email:
        email = re.escape(feedback.email.strip())
        words = re.sub(rf"<{email}>|{email}", "<recipient>", words, flags=re.I)
    # Any other address the provider quoted goes too: the reason never names anyone.
    words = re.sub(r"[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+", "<address>", words)
    text = f"{feedback.provider} {feedback.kind}" + (f": {words}" if words else "")
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"
