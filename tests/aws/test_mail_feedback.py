"""The mail-feedback function: SES bounce and complaint events, published to SNS on moto and
handed to the function as SNS invokes it, put the address on the unsubscribe list in DynamoDB
Local (a hard bounce, a complaint, the third soft bounce in 30 days), and the reminders that
follow are skipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cart_recovery.domain.audit import UNSUBSCRIBED
from cart_recovery.lambdas import mail_feedback
from tests.aws.world import World, sample, world

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
MAYA = "maya@example.com"
NOTHING = {"suppressed": 0, "already": 0, "counted": 0, "skipped": 0}


@pytest.fixture
def w(moto_server: str, dynamodb_local: str) -> Iterator[World]:
    with world(moto_server, dynamodb_local, T0) as made:
        yield made


def left_cart(w: World, cart_id: str, email: str = MAYA) -> None:
    """A $149 cart (medium: first reminder after 2 hours, the second after 22)."""
    body = {
        "event_id": f"e-{cart_id}",
        "type": "cart.updated",
        "cart_id": cart_id,
        "occurred_at": w.clock.now().isoformat(),
        "email": email,
        "name": "Maya",
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "149.00"}],
        "total": "149.00",
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart_id}",
    }
    assert w.post_webhook(body)["statusCode"] == 200
    w.intake_all()


def heard(**counts: int) -> dict[str, int]:
    return {**NOTHING, **counts}


def test_a_hard_bounce_suppresses_the_address_and_the_next_reminder_is_skipped(w: World) -> None:
    # Given Maya's first reminder went out
    left_cart(w, "c-maya")
    w.run_until(T0 + timedelta(hours=2))
    assert len(w.mail_to(MAYA)) == 1

    # When SES publishes a permanent bounce for it to the configuration set's SNS topic
    w.publish_ses(w.ses_event("bounce", MAYA))
    answers = w.deliver_feedback()

    # Then the function suppressed her address, for the bounce, with SES's words
    assert answers == [heard(suppressed=1)]
    row = w.app.store.suppression(MAYA)
    assert row is not None and row.source == "bounce" and row.cart_id == "c-maya"
    assert row.reason == "ses hard_bounce: Permanent General: smtp; 550 5.1.1 user unknown"
    # and her cart's audit says so
    [audit] = [a for a in w.app.store.audit("c-maya") if a.action == UNSUBSCRIBED]
    assert (audit.by, audit.detail) == ("bounce", row.reason)

    # When the second reminder's time comes
    w.run_until(T0 + timedelta(days=2))

    # Then nothing more is mailed: the step is skipped as unsubscribed
    assert len(w.mail_to(MAYA)) == 1
    _, sends = w.app.store.load("c-maya")
    assert [(s.step, s.outcome, s.reason) for s in sends if s.step == 2] == [
        (2, "skipped", "unsubscribed")
    ]


def test_a_soft_bounce_is_counted_and_only_the_third_in_30_days_suppresses(w: World) -> None:
    # Given Maya's first reminder went out
    left_cart(w, "c-maya")
    w.run_until(T0 + timedelta(hours=2))

    def transient(n: int) -> dict[str, Any]:
        """SES's n-th transient bounce report (each report has its own feedbackId)."""
        return w.ses_event(
            "bounce",
            MAYA,
            bounceType="Transient",
            bounceSubType="MailboxFull",
            feedbackId=f"0100-soft-{n}",
            bouncedRecipients=[
                {"emailAddress": MAYA, "status": "4.2.2", "diagnosticCode": "smtp; 452 4.2.2 full"}
            ],
        )

    # When SES reports one transient bounce (and SNS delivers it twice: at least once)
    w.publish_ses(transient(1))
    w.publish_ses(transient(1))
    assert w.deliver_feedback() == [heard(counted=1), heard(counted=1)]

    # Then she is not suppressed, and the second reminder still goes out
    assert w.app.store.suppression(MAYA) is None
    w.run_until(T0 + timedelta(days=2))
    assert len(w.mail_to(MAYA)) == 2

    # When two more transient bounces come, days apart but within 30 days
    w.clock.set(T0 + timedelta(days=10))
    w.publish_ses(transient(2))
    assert w.deliver_feedback() == [heard(counted=1)]
    w.clock.set(T0 + timedelta(days=20))
    w.publish_ses(transient(3))
    assert w.deliver_feedback() == [heard(suppressed=1)]

    # Then the third suppresses her address, as a bounce
    row = w.app.store.suppression(MAYA)
    assert row is not None and row.source == "bounce"
    assert row.reason is not None and row.reason.startswith(
        "ses soft_bounce: Transient MailboxFull"
    )
    assert row.reason.endswith("(3 soft bounces in 30 days)")


def test_a_complaint_is_final(w: World) -> None:
    # Given Maya's address was suppressed by a hard bounce already
    left_cart(w, "c-maya")
    w.run_until(T0 + timedelta(hours=2))
    w.publish_ses(w.ses_event("bounce", MAYA))
    assert w.deliver_feedback() == [heard(suppressed=1)]

    # When her mail provider reports a complaint
    w.publish_ses(w.ses_event("complaint", MAYA))
    assert w.deliver_feedback() == [heard(suppressed=1)]

    # Then the list row is the complaint's, and nothing can take her off the list
    row = w.app.store.suppression(MAYA)
    assert row is not None and (row.source, row.reason) == (
        "complaint",
        "ses complaint: feedback type abuse",
    )
    assert not w.app.store.resubscribe_key(row.digest, at=w.clock.now(), by="shopper", email=MAYA)
    assert w.app.store.suppression(MAYA) == row
    # and the same complaint delivered again changes nothing
    w.publish_ses(w.ses_event("complaint", MAYA))
    assert w.deliver_feedback() == [heard(already=1)]


def test_what_is_not_a_bounce_or_complaint_is_skipped_without_naming_anyone(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given one SNS event whose records are: not SNS, not JSON, an SES delivery, a bounce
    # without its bounceType, and a good bounce
    good = sample("sns-mail-feedback-bounce.json")["Records"][0]
    good["Sns"]["Message"] = json.dumps(w.ses_event("bounce", MAYA))

    def carrying(message: Any) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(json.dumps(good))
        record["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
        return record

    delivery = {"eventType": "Delivery", "delivery": {"recipients": [MAYA]}, "mail": {}}
    no_type = w.ses_event("bounce", MAYA)
    del no_type["bounce"]["bounceType"]
    event = {
        "Records": [
            {"EventSource": "aws:sqs", "body": MAYA},
            carrying(f"{MAYA} bounced"),
            carrying(delivery),
            carrying(no_type),
            good,
        ]
    }

    # When the function is invoked with it
    with caplog.at_level(logging.INFO):
        answer = mail_feedback.handler(event, None)

    # Then the good bounce is applied and the other four are logged and skipped
    assert answer == heard(suppressed=1, skipped=4)
    assert w.app.store.suppression(MAYA) is not None
    problems = [getattr(r, "problem", "") for r in caplog.records if r.levelname == "WARNING"]
    assert problems == [
        "the record has no Sns object: not an SNS delivery",
        "the message is not JSON",
        "SES 'Delivery' is not a bounce or a complaint",
        "bounce.bounceType must be Permanent, Transient or Undetermined",
    ]
    # And no log line names the address
    assert MAYA not in caplog.text
    assert all(MAYA not in json.dumps(r.__dict__, default=str) for r in caplog.records)


def test_a_failed_write_raises_so_lambda_retries_and_the_retry_applies_once(
    w: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given DynamoDB refuses the write when the bounce first arrives
    left_cart(w, "c-maya")
    store_type = type(w.app.store)
    real = store_type.unsubscribe

    def unavailable(self: Any, email: str, **kw: Any) -> bool:
        raise ConnectionError("DynamoDB is unavailable")

    monkeypatch.setattr(store_type, "unsubscribe", unavailable)
    event = sample("sns-mail-feedback-bounce.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps(w.ses_event("bounce", MAYA))

    # When the function is invoked: it fails (Lambda's asynchronous retry will run it again)
    with pytest.raises(ConnectionError), caplog.at_level(logging.ERROR):
        mail_feedback.handler(event, None)
    assert w.app.store.suppression(MAYA) is None
    # and the error line (which the LogErrors filter counts) names the message, not the address
    [line] = [r for r in caplog.records if r.name == "cart_recovery.lambdas.mail_feedback"]
    assert (line.levelname, getattr(line, "message_id", None)) == (
        "ERROR",
        "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
    )
    assert MAYA not in caplog.text

    # Then the retry applies it, and a further duplicate delivery is a no-op
    monkeypatch.setattr(store_type, "unsubscribe", real)
    assert mail_feedback.handler(event, None) == heard(suppressed=1)
    assert mail_feedback.handler(event, None) == heard(already=1)
    rows = [a for a in w.app.store.audit("c-maya") if a.action == UNSUBSCRIBED]
    assert len(rows) == 1
