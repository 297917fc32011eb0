"""The service's one path for what the mail providers report: the rules of domain.feedback
applied through the store (in memory; the stores' own contract covers each store)."""

from __future__ import annotations

from datetime import timedelta

from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.service import Heard
from tests.conftest import T0

MAYA = "maya@example.com"


def soft(event_id: str = "") -> MailFeedback:
    return MailFeedback(Feedback.SOFT_BOUNCE, MAYA, "postmark", "mailbox full", event_id)


def test_three_soft_bounces_within_30_days_suppress_and_a_redelivery_counts_once() -> None:
    service = in_memory()
    assert service.mail_feedback(soft("1"), T0) is Heard.COUNTED
    assert service.mail_feedback(soft("1"), T0 + timedelta(minutes=5)) is Heard.COUNTED
    assert service.mail_feedback(soft("2"), T0 + timedelta(days=10)) is Heard.COUNTED
    assert not service.store.is_unsubscribed(MAYA)
    # the third distinct one within 30 days suppresses, saying so
    assert service.mail_feedback(soft("3"), T0 + timedelta(days=29)) is Heard.SUPPRESSED
    row = service.store.suppression(MAYA)
    assert row is not None and row.source == "bounce"
    assert row.reason == "postmark soft_bounce: mailbox full (3 soft bounces in 30 days)"


def test_soft_bounces_further_apart_than_the_window_never_suppress() -> None:
    service = in_memory()
    for i, day in enumerate((0, 20, 40, 60)):
        assert service.mail_feedback(soft(str(i)), T0 + timedelta(days=day)) is Heard.COUNTED
    assert not service.store.is_unsubscribed(MAYA)


def test_a_hard_bounce_then_a_complaint_then_a_repeat() -> None:
    service = in_memory()
    hard = MailFeedback(Feedback.HARD_BOUNCE, MAYA, "smtp", "550 <maya@example.com> unknown")
    assert service.mail_feedback(hard, T0) is Heard.SUPPRESSED
    reason = service.store.suppression(MAYA).reason  # type: ignore[union-attr]
    assert reason == "smtp hard_bounce: 550 <recipient> unknown"
    assert service.mail_feedback(hard, T0) is Heard.ALREADY
    complaint = MailFeedback(Feedback.COMPLAINT, MAYA, "ses", "abuse")
    assert service.mail_feedback(complaint, T0) is Heard.SUPPRESSED  # the row becomes final
    assert service.mail_feedback(complaint, T0) is Heard.ALREADY
