"""Reading SES's bounce and complaint event records (the documented samples, as the SNS
deliveries in ``infra/events/`` carry them) into one ``MailFeedback`` per recipient."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.aws.ses_events import (
    SesEventError,
    decode_message,
    feedback_of,
    sns_message,
)
from cart_recovery.domain.feedback import Feedback, MailFeedback, reason_text

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "events"


def delivery(name: str) -> dict[str, Any]:
    """The SNS → Lambda event of ``infra/events/sns-mail-feedback-<name>.json``."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"sns-mail-feedback-{name}.json").read_text())
    return loaded


def message(name: str) -> dict[str, Any]:
    """The SES event record that delivery carries."""
    record = sns_message(delivery(name)["Records"][0])
    return dict(decode_message(record.text))


def test_the_documented_bounce_is_a_hard_bounce_of_its_recipient() -> None:
    # Given the documented Bounce record, as SNS hands it to Lambda
    record = sns_message(delivery("bounce")["Records"][0])
    assert record.message_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    # When it is read
    [feedback] = feedback_of(decode_message(record.text))
    # Then it is one hard bounce, with SES's type, subtype and the receiver's diagnostic
    assert feedback == MailFeedback(
        Feedback.HARD_BOUNCE,
        "recipient@example.com",
        "ses",
        "Permanent General: smtp; 550 5.1.1 user unknown",
        # SES's id of the report, with the recipient's place in it (never the address)
        "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000/0",
    )


def test_the_documented_complaint_is_a_complaint_with_its_feedback_type() -> None:
    [feedback] = feedback_of(message("complaint"))
    assert feedback == MailFeedback(
        Feedback.COMPLAINT, "recipient@example.com", "ses", "feedback type abuse"
    )
    assert reason_text(feedback) == "ses complaint: feedback type abuse"


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [
        ("Permanent", Feedback.HARD_BOUNCE),
        ("Transient", Feedback.SOFT_BOUNCE),
        ("Undetermined", Feedback.SOFT_BOUNCE),  # SES could not tell: counted, not final
    ],
)
def test_bounce_types(bounce_type: str, kind: Feedback) -> None:
    ses = message("bounce")
    ses["bounce"]["bounceType"] = bounce_type
    [feedback] = feedback_of(ses)
    assert feedback.kind is kind


def test_one_report_per_recipient_each_with_its_own_diagnostic() -> None:
    # Given a bounce for two recipients, one without a diagnostic code
    ses = message("bounce")
    ses["bounce"]["bouncedRecipients"] = [
        {"emailAddress": "a@example.com", "diagnosticCode": "smtp; 550 5.1.1 <a@example.com>"},
        {"emailAddress": " b@example.com "},
    ]
    # Then each gets its own report; the reason kept never names an address
    first, second = feedback_of(ses)
    assert (first.email, second.email) == ("a@example.com", "b@example.com")
    assert second.reason == "Permanent General"
    assert reason_text(first) == "ses hard_bounce: Permanent General: smtp; 550 5.1.1 <recipient>"


def test_identity_notifications_read_the_same() -> None:
    # Given the older notification format (notificationType instead of eventType)
    ses = message("complaint")
    ses["notificationType"] = ses.pop("eventType")
    [feedback] = feedback_of(ses)
    assert feedback.kind is Feedback.COMPLAINT


def broken(name: str, change: Any) -> dict[str, Any]:
    ses = copy.deepcopy(message(name))
    change(ses)
    return ses


@pytest.mark.parametrize(
    ("ses", "problem"),
    [
        (
            broken("bounce", lambda m: m.pop("eventType")),
            "the SES report has neither notificationType nor eventType",
        ),
        (
            broken("bounce", lambda m: m.update(eventType="Delivery")),
            "SES 'Delivery' is not a bounce or a complaint",
        ),
        (broken("bounce", lambda m: m.pop("bounce")), "Message.bounce must be an object"),
        (
            broken("bounce", lambda m: m["bounce"].update(bounceType="Soft")),
            "bounce.bounceType must be Permanent, Transient or Undetermined",
        ),
        (
            broken("bounce", lambda m: m["bounce"].update(bouncedRecipients=[])),
            "no recipient reported",
        ),
        (
            broken("bounce", lambda m: m["bounce"]["bouncedRecipients"].append({})),
            "Message.bounce.bouncedRecipients[1].emailAddress must be an email address",
        ),
        (
            broken(
                "complaint",
                lambda m: m["complaint"].update(
                    complainedRecipients=[{"emailAddress": "maya at example.com"}]
                ),
            ),
            "Message.complaint.complainedRecipients[0].emailAddress must be an email address",
        ),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_field_never_the_address(
    ses: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SesEventError) as raised:
        feedback_of(ses)
    assert str(raised.value) == problem
    assert "example.com" not in str(raised.value)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"EventSource": "aws:sqs", "body": "{}"}, "the record has no Sns object"),
        ("not a record", "the record has no Sns object"),
        ({"Sns": {"MessageId": "m1"}}, "Sns.Message is missing or not text"),
    ],
)
def test_the_sns_envelope_is_checked(record: Any, problem: str) -> None:
    with pytest.raises(SesEventError, match=problem):
        sns_message(record)


@pytest.mark.parametrize(
    ("text", "problem"), [("not json", "not JSON"), ("[1, 2]", "not a JSON object")]
)
def test_the_message_must_be_a_json_object(text: str, problem: str) -> None:
    with pytest.raises(SesEventError, match=problem):
        decode_message(text)
