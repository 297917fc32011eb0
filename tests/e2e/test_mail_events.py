"""Bounce and complaint webhooks end to end: each provider's delivery, signed as the provider
signs it, posted to the running app (uvicorn on 127.0.0.1), suppresses the address with an
audit row; the same delivery tampered is refused and changes nothing. SES comes through a fake
SNS on 127.0.0.1 that serves its own signing certificate and subscription link."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cart_recovery.adapters.mail_events import mailgun, postmark, sendgrid
from tests.e2e.harness import LiveService
from tests.fakes.sns import TOPIC_ARN, FakeSns

pytestmark = pytest.mark.e2e

START = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
POSTMARK_USER = "postmark-hooks:correct-horse-battery-staple"
MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def sample(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def shown(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture
def sns_fake() -> Iterator[FakeSns]:
    fake = FakeSns(START)
    fake.serve()
    yield fake
    fake.close()


@pytest.fixture
def live(tmp_path: Path, sns_fake: FakeSns) -> Iterator[LiveService]:
    env = {
        "CART_RECOVERY_SNS_TOPIC_ARNS": TOPIC_ARN,
        "CART_RECOVERY_SNS_CERT_URL_PATTERN": r"http://127\.0\.0\.1:[0-9]+",
        "CART_RECOVERY_POSTMARK_WEBHOOK_USERS": POSTMARK_USER,
        "CART_RECOVERY_SENDGRID_WEBHOOK_PUBLIC_KEY": shown(SENDGRID_KEY),
        "CART_RECOVERY_MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    }
    service = LiveService(tmp_path / "data", START, run_timers=False, env=env)
    yield service
    service.close()


def with_cart(live: LiveService, email: str) -> str:
    """Given a cart of ``email`` (so its suppression is audited on that cart)."""
    cart_id = "cart-" + email.split("@")[0]
    answer = live.post_event(
        {
            "event_id": f"e-{cart_id}",
            "type": "cart.updated",
            "cart_id": cart_id,
            "occurred_at": START.isoformat(),
            "email": email,
            "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}],
            "total": "68.00",
            "currency": "USD",
        }
    )
    assert answer.status_code == 200, answer.text
    return cart_id


def feedback_rows(live: LiveService, cart_id: str) -> list[tuple[str, str, str]]:
    return [
        (row.action, row.by, row.detail or "")
        for row in live.rt.store.audit(cart_id)
        if row.action == "unsubscribed"
    ]


def post(live: LiveService, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return live.post_raw(f"/webhooks/mail-events/{provider}", body, headers)


def assert_refused(answer: httpx.Response, live: LiveService, email: str, cart_id: str) -> None:
    assert 400 <= answer.status_code < 500, answer.text
    assert not live.rt.store.is_unsubscribed(email)
    assert feedback_rows(live, cart_id) == []


# ---- SES through SNS ------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1", "2"])
def test_an_ses_bounce_through_sns_suppresses_the_address(
    live: LiveService, sns_fake: FakeSns, version: str
) -> None:
    # Given Jane's cart, and SES's report that her address does not exist, signed by SNS
    cart_id = with_cart(live, "jane@example.com")
    message = sns_fake.notification(sample("ses_bounce_notification"), START, version=version)
    # When SNS posts it
    answer = post(live, "ses", json.dumps(message).encode(), {"x-amz-sns-message-type": "x"})
    # Then it is accepted, the address is suppressed and her cart's audit says why
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "suppressed": 1}
    assert live.rt.store.is_unsubscribed("jane@example.com")
    ((action, by, detail),) = feedback_rows(live, cart_id)
    assert (action, by) == ("unsubscribed", "bounce")
    assert detail == "ses hard_bounce: Permanent General: smtp; 550 5.1.1 <recipient>... User"
    # and the certificate was fetched once, then served from the cache
    again = sns_fake.notification(sample("ses_complaint_notification"), START, version=version)
    assert post(live, "ses", json.dumps(again).encode(), {}).status_code == 200
    assert sns_fake.hits.count("/SimpleNotificationService-0000000000000000000000.pem") == 1


def test_an_ses_complaint_through_sns_is_a_complaint(live: LiveService, sns_fake: FakeSns) -> None:
    cart_id = with_cart(live, "richard@example.com")
    message = sns_fake.notification(sample("ses_complaint_notification"), START)
    answer = post(live, "ses", json.dumps(message).encode(), {})
    assert answer.status_code == 200, answer.text
    assert live.rt.store.is_unsubscribed("richard@example.com")
    assert feedback_rows(live, cart_id) == [
        ("unsubscribed", "complaint", "ses complaint: feedback type abuse")
    ]


def test_sns_deliveries_that_are_not_signed_right_are_refused(
    live: LiveService, sns_fake: FakeSns
) -> None:
    cart_id = with_cart(live, "jane@example.com")
    report = sample("ses_bounce_notification")
    good = sns_fake.notification(report, START)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    changed = {**good, "Message": good["Message"].replace("jane@", "mary@")}
    refused = {
        "changed after signing": (changed, 401),
        "another key": (sns_fake.notification(report, START, key=other_key), 401),
        "no signature": ({k: v for k, v in good.items() if k != "Signature"}, 401),
        "cert URL off the SNS hosts": (
            sns_fake.notification(
                report, START, cert_url="https://sns.example.com/SimpleNotificationService.pem"
            ),
            401,
        ),
        "another topic": (
            sns_fake.sign({**good, "TopicArn": "arn:aws:sns:us-east-1:999999999999:other"}),
            403,
        ),
    }
    for why, (message, status) in refused.items():
        answer = post(live, "ses", json.dumps(message).encode(), {})
        assert answer.status_code == status, (why, answer.text)
        assert_refused(answer, live, "jane@example.com", cart_id)
    assert not live.rt.store.is_unsubscribed("mary@example.com")
    assert not any("sns.example.com" in hit for hit in sns_fake.hits)


def test_an_sns_subscription_is_confirmed_after_its_signature_checks(
    live: LiveService, sns_fake: FakeSns
) -> None:
    # Given SNS asks to confirm the HTTPS subscription
    confirmation = sns_fake.confirmation(START)
    # When it posts the SubscriptionConfirmation
    answer = post(live, "ses", json.dumps(confirmation).encode(), {})
    # Then the app visits the SubscribeURL, and says so
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ignored", "reason": "subscription confirmed"}
    confirms = [hit for hit in sns_fake.hits if "Action=ConfirmSubscription" in hit]
    assert confirms == [confirmation["SubscribeURL"].removeprefix(sns_fake.base_url)]
    # and a confirmation whose signature does not check is not visited
    forged = {**sns_fake.confirmation(START), "Token": "forged"}
    assert post(live, "ses", json.dumps(forged).encode(), {}).status_code == 401
    assert len([hit for hit in sns_fake.hits if "Action=ConfirmSubscription" in hit]) == 1


# ---- Postmark -------------------------------------------------------------------------------
def test_a_postmark_bounce_with_the_url_credentials_suppresses(live: LiveService) -> None:
    cart_id = with_cart(live, "john@example.com")
    body = (FIXTURES / "postmark_bounce.json").read_bytes()
    wrong = postmark.authorization("postmark-hooks:not-the-password-at-all")
    for headers in ({}, wrong):
        assert_refused(post(live, "postmark", body, headers), live, "john@example.com", cart_id)
    answer = post(live, "postmark", body, postmark.authorization(POSTMARK_USER))
    assert answer.status_code == 200, answer.text
    assert live.rt.store.is_unsubscribed("john@example.com")
    ((_a, by, detail),) = feedback_rows(live, cart_id)
    assert by == "bounce" and detail.startswith("postmark hard_bounce: HardBounce")


# ---- SendGrid -------------------------------------------------------------------------------
def test_a_signed_sendgrid_batch_suppresses_bounces_and_spam_reports(live: LiveService) -> None:
    hard = with_cart(live, "example@test.com")
    spam = with_cart(live, "example3@test.com")
    body = (FIXTURES / "sendgrid_events.json").read_bytes()
    ts = int(live.clock.now().timestamp())
    signed = sendgrid.sign(body, SENDGRID_KEY, ts)
    refused = [
        (body.replace(b"example@", b"victim@"), signed),
        (body, sendgrid.sign(body, ec.generate_private_key(ec.SECP256R1()), ts)),
        (body, sendgrid.sign(body, SENDGRID_KEY, ts - 301)),
        (
            body,
            {
                **signed,
                "X-Twilio-Email-Event-Webhook-Signature": signed[
                    "X-Twilio-Email-Event-Webhook-Signature"
                ][:-8]
                + "AAAAAAA=",
            },
        ),
    ]
    for bad_body, headers in refused:
        assert_refused(post(live, "sendgrid", bad_body, headers), live, "example@test.com", hard)
    answer = post(live, "sendgrid", body, signed)
    assert answer.status_code == 200, answer.text
    # one hard bounce and one spam report suppress; the "blocked" bounce is only counted
    assert answer.json() == {"status": "accepted", "suppressed": 2, "counted": 1}
    assert live.rt.store.is_unsubscribed("example@test.com")
    assert live.rt.store.is_unsubscribed("example3@test.com")
    assert not live.rt.store.is_unsubscribed("example2@test.com")
    assert feedback_rows(live, hard) == [
        ("unsubscribed", "bounce", "sendgrid hard_bounce: 5.0.0; 500 unknown recipient")
    ]
    assert feedback_rows(live, spam) == [("unsubscribed", "complaint", "sendgrid complaint")]


# ---- Mailgun --------------------------------------------------------------------------------
def mailgun_body(
    name: str, at: datetime, token: str, key: str = MAILGUN_KEY, event_id: str | None = None
) -> bytes:
    """A documented sample, signed; ``event_id``: another report than the sample's."""
    payload = sample(name)
    if event_id is not None:
        payload["event-data"]["id"] = event_id
    return json.dumps(mailgun.sign(payload, key, int(at.timestamp()), token)).encode()


def test_a_signed_mailgun_failure_suppresses_and_a_replay_is_refused(live: LiveService) -> None:
    cart_id = with_cart(live, "alice@example.com")
    now = live.clock.now()
    for body in (
        mailgun_body("mailgun_failed_permanent", now, "t" * 50, key="key-not-the-right-one-000000"),
        mailgun_body("mailgun_failed_permanent", now - timedelta(minutes=6), "t" * 50),
    ):
        assert_refused(post(live, "mailgun", body, {}), live, "alice@example.com", cart_id)
    good = mailgun_body("mailgun_failed_permanent", now, "u" * 50)
    answer = post(live, "mailgun", good, {})
    assert answer.status_code == 200, answer.text
    assert live.rt.store.is_unsubscribed("alice@example.com")
    ((_a, by, detail),) = feedback_rows(live, cart_id)
    assert (by, detail) == (
        "bounce",
        "mailgun hard_bounce: suppress-bounce; 605; Not delivering to previously bounced address",
    )
    # the same signature again, the body changed after signing: refused, nothing changes
    bob = with_cart(live, "bob@example.com")
    replay = good.replace(b"alice@example.com", b"bob@example.com")
    assert_refused(post(live, "mailgun", replay, {}), live, "bob@example.com", bob)


def test_three_soft_bounces_within_30_days_suppress(live: LiveService) -> None:
    # Given Alice's mailbox is full on days 0, 20 and 35: the first is out of the window by then
    cart_id = with_cart(live, "alice@example.com")
    for n, day in enumerate((0, 20, 35)):
        live.clock.set(START + timedelta(days=day))
        body = mailgun_body(
            "mailgun_failed_temporary", live.clock.now(), f"soft-{n}" * 8, event_id=f"ev-{n}"
        )
        answer = post(live, "mailgun", body, {})
        assert answer.json() == {"status": "accepted", "counted": 1}, answer.text
        assert not live.rt.store.is_unsubscribed("alice@example.com")
    # When it is full again on day 45 (days 20, 35 and 45 are within 30 days)
    live.clock.set(START + timedelta(days=45))
    body = mailgun_body("mailgun_failed_temporary", live.clock.now(), "soft-3" * 8, event_id="ev-3")
    answer = post(live, "mailgun", body, {})
    # Then the third soft bounce in the window suppresses the address
    assert answer.json() == {"status": "accepted", "suppressed": 1}, answer.text
    assert live.rt.store.is_unsubscribed("alice@example.com")
    ((_a, by, detail),) = feedback_rows(live, cart_id)
    assert by == "bounce" and detail.endswith("(3 soft bounces in 30 days)")
    assert detail.startswith("mailgun soft_bounce: generic; 452; 4.2.2")


# ---- the route ------------------------------------------------------------------------------
def test_unknown_and_unconfigured_providers_answer_404(tmp_path: Path) -> None:
    service = LiveService(tmp_path / "bare", START, run_timers=False)
    try:
        for provider, code in (("ses", "not_configured"), ("sparkpost", "unknown_provider")):
            answer = post(service, provider, b"{}", {})
            assert (answer.status_code, answer.json()["error"]) == (404, code)
        assert "sns_topic_arns" in post(service, "ses", b"{}", {}).json()["message"]
    finally:
        service.close()
