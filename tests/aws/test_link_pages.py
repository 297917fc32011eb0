"""The link pages (``/u``, ``/r``, ``/a``) answer the same on both runtimes: the embedded app
(Starlette on SQLite, through its test client) and the unsubscribe Lambda (Function URL events
through its handler, on DynamoDB Local and moto). Each request goes to both, against the same
stored cart; the status, the body (tokens aside), the headers that matter and the stored effect
must be the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cart_recovery.adapters.storefronts.generic import sign
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.lambdas import unsub_handler
from tests.aws.world import World, decode_body, world

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
EMAIL = "lee@example.com"
CART = "c-links"
ONE_CLICK = b"List-Unsubscribe=One-Click"
HEADERS = (
    "content-type",
    "location",
    "cache-control",
    "content-security-policy",
    "referrer-policy",
    "x-frame-options",
)

LEFT_CART = {
    "event_id": "e1",
    "type": "cart.updated",
    "cart_id": CART,
    "occurred_at": T0.isoformat().replace("+00:00", "Z"),
    "email": EMAIL,
    "name": "Lee",
    "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "120.00"}],
    "total": "120.00",
    "currency": "USD",
    "return_url": f"https://shop.example/cart/{CART}",
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str | None]


@dataclass
class Both:
    """The two runtimes, holding the same cart, on clocks at the same time."""

    w: World
    rt: Embedded
    client: TestClient

    def set_clock(self, to: datetime) -> None:
        self.w.clock.set(to)
        assert isinstance(self.rt.clock, VirtualClock)
        self.rt.clock.set(to)

    def ask(self, method: str, kind: str, make: Any, body: bytes = b"") -> tuple[Answer, Answer]:
        """Send ``method /kind/<token>`` to both, each with a token of its own signer
        (``make(tokens)``), and give both answers with the token replaced by TOKEN."""
        aws_token, embedded_token = make(self.w.app.tokens), make(self.rt.tokens)
        event = self.w.page_event(f"/{kind}/{aws_token}")
        event["requestContext"]["http"]["method"] = method
        if body:
            event = self.w.unsubscribe_event(aws_token)
            assert event["requestContext"]["http"]["method"] == method
        aws = unsub_handler.handler(event, None)
        local = self.client.request(
            method,
            f"/{kind}/{embedded_token}",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"} if body else {},
            follow_redirects=False,
        )
        aws_headers = {k.lower(): v for k, v in aws["headers"].items()}
        # A body-less answer (the redirect) has no content type of its own; Mangum, as Function
        # URLs do, then says application/json.
        names = HEADERS if local.content else HEADERS[1:]
        return (
            Answer(
                aws["statusCode"],
                decode_body(aws).replace(aws_token, "TOKEN"),
                {k: aws_headers.get(k) for k in names},
            ),
            Answer(
                local.status_code,
                local.text.replace(embedded_token, "TOKEN"),
                {k: local.headers.get(k) for k in names},
            ),
        )

    def last_audit(self) -> tuple[tuple[str, str, str | None], tuple[str, str, str | None]]:
        """The cart's latest audit row (who, what, how) in each store."""
        aws, local = self.w.app.store.audit(CART)[-1], self.rt.store.audit(CART)[-1]
        return (aws.by, aws.action, aws.detail), (local.by, local.action, local.detail)


@pytest.fixture
def both(moto_server: str, dynamodb_local: str, tmp_path: Path) -> Iterator[Both]:
    # Given the same left cart, delivered by a signed webhook, in each runtime
    data = tmp_path / "data"
    init_data_dir(data)
    settings = load_settings(data, {})
    with world(moto_server, dynamodb_local, T0) as w:
        rt = embedded(settings, clock=VirtualClock(T0), run_timers=False)
        try:
            with TestClient(rt.app, base_url="http://testserver") as client:
                raw = json.dumps(LEFT_CART).encode()
                signed = sign(raw, settings.webhook_secrets[0], int(T0.timestamp()))
                assert client.post("/webhooks/cart", content=raw, headers=signed).is_success
                assert w.post_webhook(LEFT_CART)["statusCode"] == 200
                w.intake_all()
                yield Both(w, rt, client)
        finally:
            rt.close()


@pytest.mark.parametrize("kind", ["by digest", "first kind"])
def test_the_unsubscribe_page_and_the_one_click_post_answer_alike(both: Both, kind: str) -> None:
    # (the link emails carry now, and one of the first kind, address inside, from older emails)
    def unsubscribe(tokens: Any) -> str:
        if kind == "first kind":
            return str(tokens.unsubscribe(EMAIL))
        return str(tokens.unsubscribe_key(EMAIL, CART))

    # When the link is opened (a mail scanner, or the shopper), nothing changes on either side
    aws, local = both.ask("GET", "u", unsubscribe)
    assert aws == local and aws.status == 200 and 'action="/u/TOKEN"' in aws.body
    assert not both.w.app.store.is_unsubscribed(EMAIL)
    assert not both.rt.store.is_unsubscribed(EMAIL)

    # When the mail client sends the RFC 8058 one-click POST
    aws, local = both.ask("POST", "u", unsubscribe, body=b"List-Unsubscribe=One-Click")

    # Then both answer the same JSON and both stores hold the unsubscribe
    assert aws == local
    assert (aws.status, json.loads(aws.body)) == (200, {"status": "unsubscribed"})
    assert both.w.app.store.is_unsubscribed(EMAIL) and both.rt.store.is_unsubscribed(EMAIL)
    on_aws, embedded_side = both.last_audit()
    assert on_aws == embedded_side and on_aws[:2] == ("shopper", "unsubscribed")

    # And a forged link gets the same refusal
    aws, local = both.ask("GET", "u", lambda _tokens: "forged")
    assert aws == local and aws.status == 404


def test_the_return_link_records_the_click_and_redirects_alike(both: Both) -> None:
    # When the shopper follows reminder 1's return link an hour later
    clicked_at = T0 + timedelta(hours=1)
    both.set_clock(clicked_at)
    aws, local = both.ask("GET", "r", lambda tokens: tokens.return_link(CART, 1))

    # Then both redirect to the stored URL and both record the click
    assert aws == local
    assert (aws.status, aws.headers["location"]) == (303, LEFT_CART["return_url"])
    assert aws.headers["referrer-policy"] == "no-referrer"
    clicks = {CART: [(1, clicked_at)]}
    assert both.w.app.store.clicks_for([CART]) == clicks == both.rt.store.clicks_for([CART])


def test_an_owner_action_link_is_shown_then_done_then_refused_alike(both: Both) -> None:
    def suppress(tokens: Any) -> str:
        return str(tokens.action("suppress", CART))

    # When the owner opens the link: the same confirmation, nothing done
    aws, local = both.ask("GET", "a", suppress)
    assert aws == local and aws.status == 200 and "Suppress cart c-links?" in aws.body
    assert "$120.00" in aws.body
    assert both.w.app.store.load(CART)[0].is_open  # type: ignore[union-attr]
    assert both.rt.store.load(CART)[0].is_open  # type: ignore[union-attr]

    # When the owner presses the button
    aws, local = both.ask("POST", "a", suppress)

    # Then both say it is done and both carts are suppressed, audited as the owner's action
    assert aws == local and aws.status == 200 and "Cart c-links is suppressed" in aws.body
    for store in (both.w.app.store, both.rt.store):
        cart, _ = store.load(CART)
        assert cart is not None and cart.close_reason == "suppressed"
    on_aws, embedded_side = both.last_audit()
    assert on_aws == embedded_side == ("owner", "suppressed", "action link")

    # And pressing it again is refused the same way on both
    aws, local = both.ask("POST", "a", suppress)
    assert aws == local and aws.status == 409


def test_an_expired_action_link_gets_the_same_page_on_both(both: Both) -> None:
    # Given a link made now and used 14 days and a minute later
    def suppress(tokens: Any) -> str:
        return str(tokens.action("suppress", CART))

    made = {id(both.w.app.tokens): suppress(both.w.app.tokens), id(both.rt.tokens): ""}
    made[id(both.rt.tokens)] = suppress(both.rt.tokens)
    both.set_clock(max(T0, datetime.now(UTC)) + timedelta(days=14, minutes=1))
    for method in ("GET", "POST"):
        aws, local = both.ask(method, "a", lambda tokens: made[id(tokens)])
        # Then both refuse it with the embedded app's wording, and nothing is done
        assert aws == local and aws.status == 403 and "This link has expired" in aws.body
    assert both.w.app.store.load(CART)[0].is_open  # type: ignore[union-attr]
    assert both.rt.store.load(CART)[0].is_open  # type: ignore[union-attr]


def test_opting_back_in_answers_alike_and_a_complaint_is_final_on_both(both: Both) -> None:
    def again(tokens: Any) -> str:
        return f"{tokens.unsubscribe_key(EMAIL, CART)}/again"

    # Given the shopper unsubscribed with the one-click POST
    both.ask("POST", "u", lambda t: t.unsubscribe_key(EMAIL, CART), body=ONE_CLICK)
    assert both.w.app.store.is_unsubscribed(EMAIL) and both.rt.store.is_unsubscribed(EMAIL)

    # When they press "Get reminders again"
    aws, local = both.ask("POST", "u", again)

    # Then both say so, both lists let them go, audited as the shopper
    assert aws == local and aws.status == 200 and "Reminders are back on" in aws.body
    assert not both.w.app.store.is_unsubscribed(EMAIL)
    assert not both.rt.store.is_unsubscribed(EMAIL)
    on_aws, embedded_side = both.last_audit()
    assert on_aws == embedded_side and on_aws[:2] == ("shopper", "resubscribed")

    # And after a spam complaint, the same button is refused alike and changes nothing
    complaint = MailFeedback(Feedback.COMPLAINT, EMAIL, "ses", "abuse")
    both.w.app.service.mail_feedback(complaint, T0)
    both.rt.service.mail_feedback(complaint, T0)
    aws, local = both.ask("POST", "u", again)
    assert aws == local and aws.status == 409 and "reported as spam" in aws.body
    assert both.w.app.store.is_unsubscribed(EMAIL) and both.rt.store.is_unsubscribed(EMAIL)
