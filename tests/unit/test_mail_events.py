"""Each mail provider's normaliser on the provider's documented sample payloads, and its
signature check on the raw bytes (SNS's over real HTTP is in tests/e2e/test_mail_events.py)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cart_recovery.adapters.mail_events import mailgun, postmark, sendgrid, ses, sns
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.ports import RequestError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
NOW = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


def sample(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def kinds(found: tuple[MailFeedback, ...]) -> list[tuple[Feedback, str]]:
    return [(f.kind, f.email) for f in found]


# ---- SES (the report inside the SNS Message) ------------------------------------------------
def test_ses_permanent_bounce_is_a_hard_bounce_with_the_diagnostic_code() -> None:
    reported = ses.report(sample("ses_bounce_notification"))
    assert kinds(reported.feedback) == [(Feedback.HARD_BOUNCE, "jane@example.com")]
    (one,) = reported.feedback
    assert one.provider == "ses"
    assert one.reason == "Permanent General: smtp; 550 5.1.1 <jane@example.com>... User"


def test_ses_complaint_is_a_complaint_per_recipient() -> None:
    reported = ses.report(sample("ses_complaint_notification"))
    assert kinds(reported.feedback) == [(Feedback.COMPLAINT, "richard@example.com")]
    assert reported.feedback[0].reason == "feedback type abuse"


def test_ses_event_publishing_transient_bounce_is_a_soft_bounce() -> None:
    reported = ses.report(sample("ses_bounce_event"))
    assert kinds(reported.feedback) == [(Feedback.SOFT_BOUNCE, "recipient@example.com")]
    assert "MailboxFull" in reported.feedback[0].reason


def test_ses_undetermined_bounce_is_counted_as_soft() -> None:
    doc = sample("ses_bounce_notification")
    doc["bounce"]["bounceType"] = "Undetermined"
    assert kinds(ses.report(doc).feedback) == [(Feedback.SOFT_BOUNCE, "jane@example.com")]


def test_ses_delivery_and_not_spam_complaint_are_ignored() -> None:
    assert ses.report(sample("ses_delivery_notification")).feedback == ()
    doc = sample("ses_complaint_notification")
    doc["complaint"]["complaintFeedbackType"] = "not-spam"
    assert ses.report(doc).feedback == ()


def test_ses_bounce_without_a_recipient_address_is_refused_naming_the_field() -> None:
    doc = sample("ses_bounce_notification")
    del doc["bounce"]["bouncedRecipients"][0]["emailAddress"]
    with pytest.raises(RequestError) as err:
        ses.report(doc)
    assert err.value.status == 400
    assert err.value.field == "Message.bounce.bouncedRecipients[0].emailAddress"


# ---- SNS: what is signed, and where a certificate may come from -----------------------------
def test_sns_string_to_sign_follows_the_documented_fields_per_type() -> None:
    note = {
        "Type": "Notification",
        "MessageId": "m1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses",
        "Message": "{}",
        "Timestamp": "2026-05-12T14:00:00.000Z",
        "SignatureVersion": "2",
    }
    assert sns.string_to_sign(note) == (
        b"Message\n{}\nMessageId\nm1\nTimestamp\n2026-05-12T14:00:00.000Z\n"
        b"TopicArn\narn:aws:sns:us-east-1:123456789012:ses\nType\nNotification\n"
    )
    assert b"Subject\nHi\n" in sns.string_to_sign({**note, "Subject": "Hi"})
    confirm = {**note, "Type": "SubscriptionConfirmation", "Token": "t", "SubscribeURL": "u"}
    assert sns.string_to_sign(confirm) == (
        b"Message\n{}\nMessageId\nm1\nSubscribeURL\nu\nTimestamp\n2026-05-12T14:00:00.000Z\n"
        b"Token\nt\nTopicArn\narn:aws:sns:us-east-1:123456789012:ses\n"
        b"Type\nSubscriptionConfirmation\n"
    )


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com@evil.example/cert.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com:8443/cert.pem", False),
    ],
)
def test_sns_urls_must_come_from_an_sns_host(url: str, ok: bool) -> None:
    assert sns.allowed(url, re.compile(sns.CERT_URL_PATTERN)) is ok


# ---- Postmark -------------------------------------------------------------------------------
USER = "postmark:correct-horse-battery-staple"


def test_postmark_hard_bounce_and_spam_complaint() -> None:
    (bounce,) = postmark.read(raw("postmark_bounce")).feedback
    assert (bounce.kind, bounce.email, bounce.provider) == (
        Feedback.HARD_BOUNCE,
        "john@example.com",
        "postmark",
    )
    assert bounce.reason.startswith("HardBounce; The server was unable to deliver")
    (spam,) = postmark.read(raw("postmark_spam_complaint")).feedback
    assert (spam.kind, spam.email) == (Feedback.COMPLAINT, "john@example.com")


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [
        ("SoftBounce", Feedback.SOFT_BOUNCE),
        ("Transient", Feedback.SOFT_BOUNCE),
        ("DnsError", Feedback.SOFT_BOUNCE),
        ("BadEmailAddress", Feedback.HARD_BOUNCE),
        ("AutoResponder", None),
    ],
)
def test_postmark_bounce_types(bounce_type: str, kind: Feedback | None) -> None:
    doc = sample("postmark_bounce") | {"Type": bounce_type}
    found = postmark.read(json.dumps(doc).encode()).feedback
    assert [f.kind for f in found] == ([kind] if kind else [])


def test_postmark_delivery_is_ignored() -> None:
    assert postmark.read(raw("postmark_delivery")).ignored == "RecordType 'Delivery' is not used"


def test_postmark_basic_auth_must_be_a_configured_user() -> None:
    postmark.verify({"authorization": postmark.authorization(USER)["Authorization"]}, [USER])
    for headers in (
        {},
        {
            "authorization": postmark.authorization("postmark:wrong-password-000000")[
                "Authorization"
            ]
        },
        {"authorization": "Bearer " + USER},
        {"authorization": "Basic !!!"},
    ):
        with pytest.raises(RequestError) as err:
            postmark.verify(headers, [USER])
        assert err.value.status == 401


# ---- SendGrid -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def shown(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid shows it: base64 DER."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_sendgrid_bounce_blocked_and_spamreport_from_the_documented_events() -> None:
    found = sendgrid.read(raw("sendgrid_events")).feedback
    assert kinds(found) == [
        (Feedback.HARD_BOUNCE, "example@test.com"),
        (Feedback.SOFT_BOUNCE, "example2@test.com"),
        (Feedback.COMPLAINT, "example3@test.com"),
    ]
    assert found[0].reason == "5.0.0; 500 unknown recipient"


def test_sendgrid_signature_over_timestamp_and_raw_body(
    sendgrid_key: ec.EllipticCurvePrivateKey,
) -> None:
    public = sendgrid.load_public_key(shown(sendgrid_key))
    body = raw("sendgrid_events")
    headers = lower(sendgrid.sign(body, sendgrid_key, TS))
    sendgrid.verify(headers, body, public, NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    refused = [
        (headers, body + b" "),  # changed after signing
        (lower(sendgrid.sign(body, other, TS)), body),  # another key
        (lower(sendgrid.sign(body, sendgrid_key, TS - 301)), body),  # stale
        ({**headers, sendgrid.SIGNATURE_HEADER: "MEUCIQ=="}, body),  # not a signature
        ({sendgrid.TIMESTAMP_HEADER: str(TS)}, body),  # unsigned
    ]
    for bad_headers, bad_body in refused:
        with pytest.raises(RequestError) as err:
            sendgrid.verify(bad_headers, bad_body, public, NOW)
        assert err.value.status == 401


def test_sendgrid_public_key_must_be_p256(sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="P-256"):
        sendgrid.load_public_key(shown(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(ValueError, match="not a public key"):
        sendgrid.load_public_key("not-base64!")


# ---- Mailgun --------------------------------------------------------------------------------
MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"
TOKEN = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"


def signed(name: str, at: int = TS, key: str = MAILGUN_KEY) -> bytes:
    return json.dumps(mailgun.sign(sample(name), key, at, TOKEN)).encode()


def test_mailgun_failed_and_complained() -> None:
    (hard,) = mailgun.read(raw("mailgun_failed_permanent")).feedback
    assert (hard.kind, hard.email) == (Feedback.HARD_BOUNCE, "alice@example.com")
    assert hard.reason == "suppress-bounce; 605; Not delivering to previously bounced address"
    (soft,) = mailgun.read(raw("mailgun_failed_temporary")).feedback
    assert soft.kind is Feedback.SOFT_BOUNCE and "over quota" in soft.reason
    (spam,) = mailgun.read(raw("mailgun_complained")).feedback
    assert (spam.kind, spam.email) == (Feedback.COMPLAINT, "alice@example.com")
    assert mailgun.read(raw("mailgun_delivered")).feedback == ()


def test_mailgun_signature_over_timestamp_and_token() -> None:
    mailgun.verify(signed("mailgun_failed_permanent"), MAILGUN_KEY, NOW)
    tampered = signed("mailgun_failed_permanent").replace(b"alice@", b"carol@")
    for body in (
        signed("mailgun_failed_permanent", key="key-another-0123456789abcdef0123"),
        signed("mailgun_failed_permanent", at=TS - timedelta(minutes=6).seconds),
        raw("mailgun_failed_permanent"),
    ):
        with pytest.raises(RequestError) as err:
            mailgun.verify(body, MAILGUN_KEY, NOW)
        assert err.value.status == 401
    # The signature covers the timestamp and token only (Mailgun's scheme): a captured
    # signature sent again with another body is caught by its token, seen already.
    tokens = mailgun.Tokens()
    mailgun.verify(signed("mailgun_failed_permanent"), MAILGUN_KEY, NOW, tokens)
    with pytest.raises(RequestError) as err:
        mailgun.verify(tampered, MAILGUN_KEY, NOW, tokens)
    assert (err.value.status, err.value.code) == (401, "replayed")
    # and a token is forgotten once its timestamp is out of the window (refused as stale then)
    later = NOW + timedelta(minutes=6)
    fresh = json.dumps(mailgun.sign(sample("mailgun_complained"), MAILGUN_KEY, TS + 360, "t2"))
    mailgun.verify(fresh.encode(), MAILGUN_KEY, later, tokens)
    assert TOKEN not in tokens._seen
