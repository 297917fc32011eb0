"""Nothing asynchronous is dropped silently: the per-cart schedules carry the dead-letter queue
the template gives (``CR_DEAD_LETTER_ARN``), and a reminder the sender cannot take ends up in
``cr-failed`` under the cr-reminders rule target's RetryPolicy and DeadLetterConfig."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cart_recovery.adapters.aws.dynamo.items import Tables
from cart_recovery.adapters.aws.schema import table_requests
from cart_recovery.lambdas import sender
from tests.aws.services import client
from tests.aws.test_lambdas import cart_event
from tests.aws.world import WAITER_ARN, World, body_text, reminders_retry_policy, world

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


@pytest.fixture
def w(moto_server: str, dynamodb_local: str) -> Iterator[World]:
    with world(moto_server, dynamodb_local, T0) as made:
        yield made


def failed_messages(w: World) -> list[dict[str, Any]]:
    answer = client("sqs", w.moto).receive_message(
        QueueUrl=w.failed_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


@contextmanager
def unsubscribe_list_gone(w: World) -> Iterator[None]:
    """The sender's unsubscribe list (a table only the sender reads of these functions) is
    missing for the block: every sender invocation fails; it is made again afterwards."""
    name = w.environ["CR_UNSUB_TABLE"]
    (request,) = [r for r in table_requests(Tables(unsub=name)) if r["TableName"] == name]
    db = client("dynamodb", w.dynamodb)
    db.delete_table(TableName=name)
    try:
        yield
    finally:
        db.create_table(**request)
        db.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )


def test_the_per_cart_schedules_carry_the_dead_letter_queue(w: World) -> None:
    # Given the template's CR_DEAD_LETTER_ARN (the world sets it to its cr-failed)
    failed_arn = w.environ["CR_DEAD_LETTER_ARN"]
    # When a left cart is taken in and its wake-up is scheduled
    w.post_webhook(cart_event("c-dlq", "e1"))
    w.intake_all()
    # Then the schedule Scheduler keeps sends what it cannot deliver there, after its retries
    [wake] = w.schedules()
    assert wake.target_arn == WAITER_ARN
    assert wake.raw["Target"]["DeadLetterConfig"] == {"Arn": failed_arn}
    assert wake.raw["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 86400,
        "MaximumRetryAttempts": 185,
    }


def test_a_reminder_the_sender_cannot_take_lands_in_cr_failed(w: World) -> None:
    # Given a left cart whose wake-up is due, and a sender that fails every time
    w.post_webhook(cart_event("c-lost", "e1"))
    w.intake_all()
    w.rule_retries = True
    policy = reminders_retry_policy()
    with unsubscribe_list_gone(w):
        # When the wake-up fires and the waiter hands the first reminder to the rule
        w.run_until(T0 + timedelta(hours=2))
    # Then the sender was tried once and then as often as the rule target's policy allows
    senders = [event for name, event in w.invocations if name == "sender"]
    assert len(senders) == 1 + policy["MaximumRetryAttempts"]
    assert {e["detail"]["cart_id"] for e in senders} == {"c-lost"}
    # And no email went out
    assert w.mail_to("maya@example.com") == []
    # And the reminder is not gone: it waits in cr-failed, the event as the sender would get
    # it, with what EventBridge says about the failure
    [message] = failed_messages(w)
    event = json.loads(message["Body"])
    assert event["source"] == "cart-recovery"
    assert event["detail-type"] == "first_reminder"
    assert event["detail"]["cart_id"] == "c-lost"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"].endswith(f":rule/{w.rule}")
    assert attributes["RETRY_ATTEMPTS"] == str(policy["MaximumRetryAttempts"])
    assert attributes["ERROR_CODE"]
    assert "maya@example.com" not in json.dumps(message)


def test_a_redriven_reminder_is_sent_once_the_sender_works_again(w: World) -> None:
    # Given a reminder that landed in cr-failed while the sender failed
    w.post_webhook(cart_event("c-again", "e1"))
    w.intake_all()
    w.rule_retries = True
    with unsubscribe_list_gone(w):
        w.run_until(T0 + timedelta(hours=2))
    [message] = failed_messages(w)
    # When the owner re-invokes the sender with it (docs/deploy-aws.md, "Failed work")
    w.rule_retries = False
    sender.handler(json.loads(message["Body"]), None)
    w.run_until(w.clock.now() + timedelta(hours=12))  # (a quiet-hours deferral fires)
    # Then the first reminder goes out after all, once
    [mail] = w.mail_to("maya@example.com")
    assert "Linen shirt" in body_text(mail)
