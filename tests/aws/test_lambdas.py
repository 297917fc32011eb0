"""The AWS runtime end to end: the Lambda handlers, given events shaped like the real ones, on
DynamoDB Local and moto (SQS, EventBridge, Scheduler, SES, S3, SSM, Secrets Manager), with
Scheduler's firing played on a virtual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cart_recovery.lambdas import ingest_webhook, nightly_export, summary, unsub_handler
from tests.aws.services import client
from tests.aws.world import (
    BASE_URL,
    SENDER_ARN,
    WAITER_ARN,
    World,
    body_text,
    one_click_token,
    sample,
    world,
)
from tests.fakes.model_server import Reply, running

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


@pytest.fixture
def w(moto_server: str, dynamodb_local: str) -> Iterator[World]:
    with world(moto_server, dynamodb_local, T0) as made:
        yield made


def cart_event(cart_id: str, event_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": "cart.updated",
        "cart_id": cart_id,
        "occurred_at": T0.isoformat().replace("+00:00", "Z"),
        "email": "maya@example.com",
        "name": "Maya",
        "items": [
            {"title": "Linen shirt", "quantity": 1, "unit_price": "120.00"},
            {"title": "Canvas tote", "quantity": 2, "unit_price": "14.50"},
        ],
        "total": "149.00",
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart_id}",
    }
    body.update(over)
    return body


def test_a_left_cart_gets_its_reminder_and_an_unsubscribe_stops_all_mail(w: World) -> None:
    # Given a signed webhook for a $149 cart (medium: 2 hours, then 22)
    response = w.post_webhook(cart_event("c-maya", "e1"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "accepted", "event_id": "e1"}

    # When the intake takes the batch off cr-events
    [record] = w.queued()
    assert w.deliver([record]) == {"batchItemFailures": []}

    # Then one one-off schedule wakes the waiter at 12:00 New York time
    [wake] = w.schedules()
    assert (wake.expression, wake.timezone) == ("at(2026-05-12T12:00:00)", "America/New_York")
    assert wake.target_arn == WAITER_ARN and wake.input == {"cart_id": "c-maya"}
    assert wake.raw["ActionAfterCompletion"] == "NONE"  # kept after firing, updated in place
    assert wake.raw["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert len(wake.name) <= 64 and "c-maya" not in wake.name

    # And an SQS redelivery of the same message changes nothing
    audit_before = w.app.store.audit("c-maya")
    assert w.deliver([record]) == {"batchItemFailures": []}
    assert [s.name for s in w.schedules()] == [wake.name]
    assert w.app.store.audit("c-maya") == audit_before
    assert w.app.store.load("c-maya")[0].version == 0  # type: ignore[union-attr]

    # When the schedule fires: the waiter hands step 1 to the sender over EventBridge
    w.run_until(T0 + timedelta(hours=2))
    assert [name for name, _ in w.invocations] == ["waiter", "sender"]
    assert w.invocations[1][1]["detail-type"] == "first_reminder"
    assert w.invocations[1][1]["detail"]["cart_id"] == "c-maya"

    # Then SES holds one raw message with the items and the RFC 8058 headers
    [mail] = w.mail_to("maya@example.com")
    assert mail["From"] == "Linen & Co <shop@example.com>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["List-Unsubscribe"]).startswith(f"<{BASE_URL}/u/")
    assert mail["Message-ID"].endswith("@example.com>")
    text = body_text(mail)
    assert "Linen shirt" in text and "Canvas tote" in text and "$149.00" in text

    # And the second reminder is scheduled (22 hours after the cart was left)
    [second] = w.schedules_of("c-maya")
    assert (second.expression, second.timezone) == ("at(2026-05-13T08:00:00)", "America/New_York")

    # When Maya uses the one-click unsubscribe (a Function URL POST)
    answer = unsub_handler.handler(w.unsubscribe_event(one_click_token(mail)), None)
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"status": "unsubscribed"}

    # And she leaves another cart behind
    w.post_webhook(cart_event("c-maya-2", "e2", total="30.00"))
    w.intake_all()
    w.run_until(T0 + timedelta(days=3))

    # Then no more mail goes to her address, from either cart
    assert len(w.mail_to("maya@example.com")) == 1
    for cart_id in ("c-maya", "c-maya-2"):
        _, sends = w.app.store.load(cart_id)
        skipped = [s for s in sends if s.reason == "unsubscribed"]
        assert skipped, sends


def test_a_checkout_deletes_the_schedule_and_no_email_follows(w: World) -> None:
    # Given a left cart with its wake-up scheduled
    w.post_webhook(cart_event("c-jo", "e1", email="jo@example.com"))
    w.intake_all()
    assert len(w.schedules_of("c-jo")) == 1

    # When the shopper checks out an hour later
    w.clock.set(T0 + timedelta(hours=1))
    paid = cart_event(
        "c-jo",
        "e2",
        type="cart.checked_out",
        email="jo@example.com",
        occurred_at=(T0 + timedelta(hours=1)).isoformat(),
    )
    assert w.post_webhook(paid)["statusCode"] == 200
    w.intake_all()

    # Then the schedule is gone, and nothing is sent however long we wait
    assert w.schedules_of("c-jo") == []
    w.run_until(T0 + timedelta(days=8))
    assert w.mail_to("jo@example.com") == []
    cart, sends = w.app.store.load("c-jo")
    assert cart is not None and cart.status == "bought" and sends == []


def test_the_webhook_refuses_bad_input_with_a_4xx_and_enqueues_nothing(w: World) -> None:
    good = w.webhook_event(cart_event("c1", "e1"))
    forged = dict(good, headers={**good["headers"], "x-cart-signature": "sha256=" + "0" * 64})
    unsigned = dict(good, headers={"content-type": "application/json"})
    bad_field = w.webhook_event(cart_event("c1", "e1", items=[{"title": "", "quantity": 1}]))
    for event, status, code in (
        (forged, 401, "bad_signature"),
        (unsigned, 401, "unsigned"),
        (bad_field, 400, "invalid_event"),
    ):
        answer = ingest_webhook.handler(event, None)
        assert answer["statusCode"] == status and json.loads(answer["body"])["error"] == code
    answer = ingest_webhook.handler(bad_field, None)
    assert json.loads(answer["body"])["field"].startswith("items[0]")
    assert w.queued() == []


def test_a_reminder_due_in_quiet_hours_is_deferred_by_a_schedule_for_the_sender(w: World) -> None:
    # Given a $30 cart (small: 4 hours) left at 8pm New York time
    evening = datetime(2026, 5, 13, 0, 0, tzinfo=UTC)
    w.clock.set(evening)
    w.post_webhook(
        cart_event("c-late", "e1", total="30.00", occurred_at=evening.isoformat(), items=None)
    )
    w.intake_all()
    [wake] = w.schedules_of("c-late")
    assert wake.expression == "at(2026-05-13T00:00:00)"  # midnight in New York

    # When it fires, the sender finds it inside quiet hours (9pm to 8am)
    w.run_until(evening + timedelta(hours=4))

    # Then the only pending schedule re-invokes the sender at 8am with the same payload
    [deferral] = w.schedules_of("c-late")
    assert deferral.target_arn == SENDER_ARN
    assert (deferral.expression, deferral.timezone) == (
        "at(2026-05-13T08:00:00)",
        "America/New_York",
    )
    assert deferral.input["detail-type"] == "first_reminder"
    assert w.mail_to("maya@example.com") == []

    # And at 8am the reminder goes out
    w.run_until(evening + timedelta(hours=12))
    [mail] = w.mail_to("maya@example.com")
    assert "Date" in mail and mail["Subject"]


def test_an_intake_crash_before_scheduling_is_repaired_by_the_sqs_redelivery(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the intake dies right after its DynamoDB commit, before the Scheduler call
    w.post_webhook(cart_event("c-crash", "e1"))
    real = type(w.app.timers).ensure
    calls = {"n": 0}

    def dies_once(self: Any, cart_id: str, timer: Any, name: str, **hint: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("the function timed out here")
        real(self, cart_id, timer, name, **hint)

    monkeypatch.setattr(type(w.app.timers), "ensure", dies_once)
    [record] = w.queued()
    assert w.deliver([record]) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert w.schedules_of("c-crash") == []

    # When SQS redelivers the message
    [again] = w.queued()
    assert w.deliver([again]) == {"batchItemFailures": []}

    # Then the cart has its wake-up after all, and nothing was applied twice
    [wake] = w.schedules_of("c-crash")
    assert wake.expression == "at(2026-05-12T12:00:00)"
    assert [a.action for a in w.app.store.audit("c-crash")] == ["created"]


def test_a_batch_reports_only_the_record_that_failed(w: World) -> None:
    w.post_webhook(cart_event("c-ok", "e1"))
    records = w.queued()
    broken = dict(records[0], messageId="broken-1", body='{"event_id": "x"}')
    result = w.deliver([broken, *records])
    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-1"}]}
    assert w.app.store.load("c-ok")[0] is not None


def test_links_pages_and_owner_actions_through_the_unsub_handler(w: World) -> None:
    w.post_webhook(cart_event("c-links", "e1", email="lee@example.com"))
    w.intake_all()
    tokens = w.app.tokens

    # The unsubscribe link's page changes nothing (mail scanners prefetch it)
    page = unsub_handler.handler(w.page_event(f"/u/{tokens.unsubscribe('lee@example.com')}"), None)
    assert page["statusCode"] == 200 and "<form" in page["body"]
    assert not w.app.store.is_unsubscribed("lee@example.com")
    assert unsub_handler.handler(w.page_event("/u/forged"), None)["statusCode"] == 404

    # The return link goes to the cart's stored URL only
    back = unsub_handler.handler(w.page_event(f"/r/{tokens.return_link('c-links', 1)}"), None)
    assert back["statusCode"] == 303
    assert back["headers"]["location"] == "https://shop.example/cart/c-links"
    assert w.app.store.clicks_for(["c-links"]) == {"c-links": [(1, w.clock.now())]}

    # An owner's signed action link: GET shows it, POST suppresses the cart and its schedule
    link = f"/a/{tokens.action('suppress', 'c-links')}"
    shown = unsub_handler.handler(w.page_event(link), None)
    assert shown["statusCode"] == 200 and "Suppress" in shown["body"]
    assert w.app.store.load("c-links")[0].is_open  # type: ignore[union-attr]
    post = w.page_event(link)
    post["requestContext"]["http"]["method"] = "POST"
    assert unsub_handler.handler(post, None)["statusCode"] == 200
    cart, _ = w.app.store.load("c-links")
    assert cart is not None and cart.close_reason == "suppressed"
    assert w.schedules_of("c-links") == []
    assert unsub_handler.handler(post, None)["statusCode"] == 409  # nothing left to do


def test_the_monthly_summary_is_mailed_to_the_owner_and_the_export_runs(w: World) -> None:
    w.post_webhook(cart_event("c-month", "e1"))
    w.intake_all()
    w.run_until(datetime(2026, 6, 1, 13, 0, tzinfo=UTC))  # first Monday of June, 9am New York
    answer = summary.handler(sample("scheduler-summary.json"), None)
    assert answer["month"] == "2026-05" and answer["figures"]["carts_seen"] == 1
    [mail] = w.mail_to("owner@example.com")
    assert "Cart recovery" in str(mail["Subject"])
    # with the month chart: weekly bars in the text, an inline PNG under the HTML
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    assert text is not None and "Recovered revenue per week (USD)" in text.get_content()
    [image] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    html = mail.get_body(("html",))
    assert html is not None and f'src="cid:{image["Content-ID"].strip("<>")}"' in html.get_content()
    assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    exported = nightly_export.handler(sample("scheduler-nightly-export.json"), None)
    bucket = w.environ["CR_EXPORTS_BUCKET"]
    assert exported == {
        "day": "2026-05-31",
        "written": [
            f"s3://{bucket}/exports/carts.xlsx",
            f"s3://{bucket}/exports/daily/carts-2026-05-31.xlsx",
            f"s3://{bucket}/exports/carts.csv",
            f"s3://{bucket}/exports/daily/carts-2026-05-31.csv",
        ],
    }


def test_the_sender_polishes_the_opening_line_with_bedrock(
    moto_server: str, dynamodb_local: str
) -> None:
    # Given the sender wired to Bedrock (a fake Converse endpoint on 127.0.0.1)
    with running() as bedrock:
        bedrock.reply = Reply.good("Your linen shirt is still waiting in your cart.")
        env = {
            "CR_BEDROCK_MODEL": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        }
        with world(moto_server, dynamodb_local, T0, extra_env=env) as w:
            w.post_webhook(cart_event("c-polish", "e1", email="ana@example.com"))
            w.intake_all()
            # When the reminder goes out
            w.run_until(T0 + timedelta(hours=2))
            # Then its opening is the model's line, and the model was asked once, by Converse
            [mail] = w.mail_to("ana@example.com")
            assert "Your linen shirt is still waiting in your cart." in body_text(mail)
            [asked] = bedrock.requests
            assert asked.path.endswith("/converse")


def test_a_message_the_intake_cannot_apply_ends_in_the_dead_letter_queue(w: World) -> None:
    # Given a message on cr-events that is not a cart event
    client("sqs", w.moto).send_message(QueueUrl=w.queue_url, MessageBody='{"event_id": "x"}')
    # When the intake fails it as many times as the redrive policy allows
    for _ in range(5):
        [record] = w.queued()
        assert w.deliver([record]) == {
            "batchItemFailures": [{"itemIdentifier": record["messageId"]}]
        }
    # Then SQS moves it to cr-events-dlq (where the depth alarm sees it)
    assert w.queued() == []
    [dead] = client("sqs", w.moto).receive_message(QueueUrl=w.dlq_url)["Messages"]
    assert json.loads(dead["Body"]) == {"event_id": "x"}
