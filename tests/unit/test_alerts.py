"""The owner's alert rules (domain/alerts.py): thresholds, windows and words, time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cart_recovery.domain.alerts import (
    AlertKind,
    MailAttempts,
    complaint_alert,
    doc_refused_alert,
    mail_alert,
    recent_since,
    throttled_since,
    uncertain_alert,
)
from cart_recovery.service.alerts import without_addresses

T = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
REFUSED = "SMTP connecting to 127.0.0.1:2525: [Errno 111] Connection refused"


def failing(minutes: float, *, sent: int = 0, failed: int = 3) -> MailAttempts:
    return MailAttempts(T - timedelta(minutes=minutes), REFUSED, sent, failed)


def test_mail_failing_for_under_30_minutes_is_not_an_alert_yet() -> None:
    assert mail_alert(failing(29.99), T) is None


def test_mail_failing_for_30_minutes_is_an_alert_that_says_what_to_check() -> None:
    alert = mail_alert(failing(30), T)
    assert alert is not None and alert.kind == AlertKind.MAIL_FAILING and alert.at == T
    assert "for 30 minutes" in alert.body
    assert "could not be reached" in alert.body and "smtp_url" in alert.body


def test_a_refused_login_points_at_the_smtp_password() -> None:
    error = "SMTP logging in to smtp.example.com:587 as 'shop': (535, b'5.7.8 bad credentials')"
    alert = mail_alert(MailAttempts(T - timedelta(hours=1), error, 0, 4), T)
    assert alert is not None and "user name and password" in alert.body


def test_mail_that_works_again_is_not_failing() -> None:
    assert mail_alert(MailAttempts(None, REFUSED, sent=40, failed=0), T) is None


def test_more_than_one_percent_of_a_days_attempts_failing_is_an_alert_from_five_failures() -> None:
    # one failure in three attempts is a blip, not a rate
    assert mail_alert(MailAttempts(None, REFUSED, sent=2, failed=1), T) is None
    assert mail_alert(MailAttempts(None, REFUSED, sent=10, failed=4), T) is None
    # 5 of 400 is 1.25%: over; 5 of 600 is 0.83%: under
    over = mail_alert(MailAttempts(None, REFUSED, sent=395, failed=5), T)
    assert over is not None and "5 of the last day's 400 attempts" in over.body
    assert mail_alert(MailAttempts(None, REFUSED, sent=595, failed=5), T) is None


def test_complaints_over_a_tenth_of_a_percent_of_the_sends_are_an_alert() -> None:
    assert complaint_alert(0, 0, T) is None
    assert complaint_alert(1, 1000, T) is None  # exactly 0.1%: not over
    alert = complaint_alert(2, 1000, T)
    assert alert is not None and alert.kind == AlertKind.COMPLAINT_RATE
    assert "2 shoppers" in alert.body and "0.20%" in alert.body and "voice doc" in alert.body
    assert complaint_alert(1, 0, T) is not None  # a complaint with nothing sent is over


def test_a_refused_doc_lists_its_problems_and_where_to_fix_them() -> None:
    alert = doc_refused_alert("rules", ["line 3: 'wait' needs a duration"], "the dashboard", T)
    assert alert.kind == AlertKind.DOC_REFUSED and alert.title == "Your rules doc was not applied"
    assert "line 3: 'wait' needs a duration" in alert.body and "the dashboard" in alert.body
    assert "last good version" in alert.body


def test_uncertain_steps_are_named_and_none_are_no_alert() -> None:
    assert uncertain_alert([], T) is None
    alert = uncertain_alert([("c1", 1), ("c7", 2)], T)
    assert alert is not None and alert.kind == AlertKind.UNCERTAIN_STEPS
    assert "cart c1, reminder 1" in alert.body and "cart c7, reminder 2" in alert.body
    many = uncertain_alert([(f"c{i}", 1) for i in range(12)], T)
    assert many is not None and "... and 2 more" in many.body


def test_the_throttle_is_six_hours_and_the_banner_two_days() -> None:
    assert throttled_since(T) == T - timedelta(hours=6)
    assert recent_since(T) == T - timedelta(hours=48)


def test_a_mail_servers_answer_loses_any_address_in_it() -> None:
    text = "SMTP sending: (451, b'4.2.0 <maya@example.com>: try later')"
    assert without_addresses(text) == "SMTP sending: (451, b'4.2.0 <<address>>: try later')"
