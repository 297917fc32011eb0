"""The storefront sources' parsers and signature checks, alone: property-based (hypothesis) over
arbitrary bytes, headers and payloads shaped like each source's, and worked examples.

The property every source must have: whatever comes in, ``verify`` and ``parse`` either return
or raise RequestError with a 4xx status: never another exception (which would be a 500)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cart_recovery.adapters.storefronts import generic, shopify, standard_webhooks
from cart_recovery.adapters.storefronts.base import Parsed, RequestError, bad_money_text
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CHECKED_OUT, UPDATED

NOW = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
SECRET = "unit-webhook-secret-0123456789abcdef"
SHOPIFY_SECRET = "unit-shopify-secret-0123456789abcdef"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"unit-standard-webhooks-secret-32").decode()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"

GENERIC = generic.GenericSource((SECRET,))
SHOPIFY = shopify.ShopifySource((SHOPIFY_SECRET,))
STANDARD = standard_webhooks.StandardWebhooksSource((STANDARD_SECRET,))
SOURCES = {"generic": GENERIC, "shopify": SHOPIFY, "standard": STANDARD}

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


# ---- strategies ------------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)


def mutate(value: Any, data: st.DataObject) -> Any:
    """The value with one nested field replaced by an arbitrary JSON value (or removed)."""
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        out = dict(value)
        choice = data.draw(st.integers(0, 3))
        if choice == 0:
            del out[key]
        elif choice == 1:
            out[key] = data.draw(json_values)
        else:
            out[key] = mutate(out[key], data)
        return out
    if isinstance(value, list) and value:
        i = data.draw(st.integers(0, len(value) - 1))
        out_list = list(value)
        out_list[i] = (
            mutate(out_list[i], data) if data.draw(st.booleans()) else data.draw(json_values)
        )
        return out_list
    return data.draw(json_values)


def only_request_errors(source: Any, headers: dict[str, str], body: bytes) -> Parsed | None:
    """Run verify + parse; any failure must be a 4xx RequestError."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        source.verify(lowered, body, NOW)
        parsed: Parsed = source.parse(lowered, body, NOW)
    except RequestError as e:
        assert 400 <= e.status < 500, e.body()
        assert e.code and str(e)
        return None
    for event in parsed.events:
        try:
            validate_event(event, NOW)
        except EventError as e:  # the service refuses it (400), naming the field
            assert e.field
    return parsed


# ---- properties: any bytes, any headers ------------------------------------------------------
@PROPERTY
@given(
    name=st.sampled_from(sorted(SOURCES)),
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "x-cart-timestamp",
                "x-cart-signature",
                "x-shopify-hmac-sha256",
                "x-shopify-topic",
                "x-shopify-webhook-id",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
            ]
        ),
        header_text,
        max_size=8,
    ),
)
def test_any_bytes_and_headers_give_a_4xx_or_an_event(
    name: str, body: bytes, headers: dict[str, str]
) -> None:
    assert only_request_errors(SOURCES[name], headers, body) is None  # unsigned: always refused


def signed_headers(name: str, body: bytes, extra: dict[str, str]) -> dict[str, str]:
    ts = int(NOW.timestamp())
    if name == "generic":
        return {**extra, **generic.sign(body, SECRET, ts)}
    if name == "shopify":
        return {**extra, **shopify.sign(body, SHOPIFY_SECRET)}
    try:
        signed = standard_webhooks.sign(body, STANDARD_SECRET, extra.get("webhook-id", "m"), ts)
    except UnicodeDecodeError:
        signed = {"webhook-id": "m", "webhook-timestamp": str(ts), "webhook-signature": "v1,AA=="}
    return {**extra, **signed}


@PROPERTY
@given(name=st.sampled_from(sorted(SOURCES)), body=st.binary(max_size=300), data=st.data())
def test_any_signed_bytes_give_a_4xx_or_an_event(
    name: str, body: bytes, data: st.DataObject
) -> None:
    extra = {
        "x-shopify-topic": data.draw(st.sampled_from([*sorted(shopify.TOPICS), "carts/update"])),
        "x-shopify-webhook-id": "wh-1",
        "webhook-id": "msg_1",
    }
    only_request_errors(SOURCES[name], signed_headers(name, body, extra), body)


@PROPERTY
@given(value=json_values, name=st.sampled_from(sorted(SOURCES)), data=st.data())
def test_any_signed_json_gives_a_4xx_or_an_event(
    value: Any, name: str, data: st.DataObject
) -> None:
    body = json.dumps(value).encode()
    extra = {
        "x-shopify-topic": data.draw(st.sampled_from(sorted(shopify.TOPICS))),
        "x-shopify-webhook-id": "wh-1",
        "webhook-id": "msg_1",
    }
    only_request_errors(SOURCES[name], signed_headers(name, body, extra), body)


GOOD_EVENT = {
    "event_id": "e1",
    "type": "cart.updated",
    "cart_id": "c1",
    "occurred_at": "2026-05-12T10:00:00-04:00",
    "email": "maya@example.com",
    "name": "Maya",
    "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}],
    "currency": "USD",
    "return_url": "https://shop.example/cart/c1",
}


@PROPERTY
@given(data=st.data(), name=st.sampled_from(["generic", "standard"]))
def test_mutated_cart_events_give_a_4xx_naming_a_field_or_an_event(
    data: st.DataObject, name: str
) -> None:
    body = json.dumps(mutate(GOOD_EVENT, data)).encode()
    only_request_errors(SOURCES[name], signed_headers(name, body, {"webhook-id": "m1"}), body)


@PROPERTY
@given(
    data=st.data(),
    which=st.sampled_from(
        [
            ("checkouts/create", "checkouts_create"),
            ("checkouts/update", "checkouts_update"),
            ("orders/create", "orders_create"),
        ]
    ),
)
def test_mutated_shopify_payloads_give_a_4xx_or_an_event(
    data: st.DataObject, which: tuple[str, str]
) -> None:
    topic, name = which
    body = json.dumps(mutate(fixture(name), data)).encode()
    headers = signed_headers(
        "shopify", body, {"x-shopify-topic": topic, "x-shopify-webhook-id": "wh-1"}
    )
    only_request_errors(SHOPIFY, headers, body)


@PROPERTY
@given(
    event=st.fixed_dictionaries(
        {
            "event_id": st.text(min_size=1, max_size=30),
            "type": st.sampled_from(["cart.updated", "cart.checked_out", "cart.saved"]),
            "cart_id": st.text(min_size=1, max_size=30),
            "occurred_at": st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2026, 5, 13),
                timezones=st.just(UTC),
            ).map(lambda t: t.isoformat()),
            "total": st.decimals(min_value=0, max_value=10**9, places=2).map(str),
            "currency": st.sampled_from(["USD", "EUR", "JPY"]),
        }
    )
)
def test_valid_events_round_trip_through_the_generic_parser(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    parsed = only_request_errors(GENERIC, signed_headers("generic", body, {}), body)
    assert parsed is not None
    [got] = parsed.events
    assert (got.event_id, got.cart_id, got.type) == (
        event["event_id"],
        event["cart_id"],
        event["type"],
    )
    assert got.total == Decimal(event["total"])


# ---- worked examples ------------------------------------------------------------------------
def test_shopify_checkout_maps_every_field() -> None:
    body = json.dumps(fixture("checkouts_update")).encode()
    headers = signed_headers(
        "shopify", body, {"x-shopify-topic": "checkouts/update", "x-shopify-webhook-id": "wh-7"}
    )
    parsed = only_request_errors(SHOPIFY, headers, body)
    assert parsed is not None
    [event] = parsed.events
    assert event.type == UPDATED and event.event_id == "wh-7"
    assert event.cart_id == "b1946ac92492d2347c6235b4d2611184"
    assert event.email == "maya@example.com" and event.name == "Maya"
    assert [(i.title, i.quantity, i.unit_price, i.sku) for i in event.items or ()] == [
        ("Linen shirt", 1, Decimal("68.00"), "LINEN-M"),
        ("Beeswax candle", 2, Decimal("18.00"), "CANDLE-BW"),
        ("Canvas tote", 1, Decimal("16.00"), "TOTE-CV"),
    ]
    assert event.total == Decimal("120.00") and event.currency == "USD"
    assert event.return_url is not None and event.return_url.endswith(
        "/recover?key=2a1c9e5f1e1b4f7d"
    )
    assert event.marketing_consent is True
    assert event.occurred_at == datetime(2026, 5, 12, 14, 20, tzinfo=UTC)


def test_a_completed_checkout_and_an_order_are_checkouts() -> None:
    done = {**fixture("checkouts_update"), "completed_at": "2026-05-12T11:00:00-04:00"}
    body = json.dumps(done).encode()
    headers = signed_headers(
        "shopify", body, {"x-shopify-topic": "checkouts/update", "x-shopify-webhook-id": "a"}
    )
    parsed = only_request_errors(SHOPIFY, headers, body)
    assert parsed is not None and parsed.events[0].type == CHECKED_OUT
    body = json.dumps(fixture("orders_create")).encode()
    headers = signed_headers(
        "shopify", body, {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "b"}
    )
    parsed = only_request_errors(SHOPIFY, headers, body)
    assert parsed is not None
    [order] = parsed.events
    assert order.type == CHECKED_OUT and order.cart_id == fixture("checkouts_create")["token"]


def test_a_saved_link_cart_attribute_tags_the_shopify_cart() -> None:
    saved = {
        **fixture("checkouts_create"),
        "note_attributes": [{"name": "saved_link", "value": "true"}],
    }
    body = json.dumps(saved).encode()
    headers = signed_headers(
        "shopify", body, {"x-shopify-topic": "checkouts/create", "x-shopify-webhook-id": "s"}
    )
    parsed = only_request_errors(SHOPIFY, headers, body)
    assert parsed is not None and parsed.events[0].saved_link is True


def test_the_shopify_signature_is_base64_hmac_of_the_raw_body() -> None:
    body = b'{"token":"abc"}'
    expected = base64.b64encode(
        __import__("hmac").new(SHOPIFY_SECRET.encode(), body, "sha256").digest()
    ).decode()
    assert shopify.sign(body, SHOPIFY_SECRET) == {"X-Shopify-Hmac-Sha256": expected}
    rotated = shopify.ShopifySource(("a-new-shopify-secret-000000000000", SHOPIFY_SECRET))
    rotated.verify({"x-shopify-hmac-sha256": expected}, body, NOW)  # the old one still works
    with pytest.raises(RequestError) as e:
        rotated.verify({"x-shopify-hmac-sha256": expected}, body + b" ", NOW)
    assert e.value.status == 401


def test_standard_webhooks_matches_the_package_and_checks_our_clock() -> None:
    from standardwebhooks.webhooks import Webhook

    body = json.dumps({**GOOD_EVENT, "event_id": None}).encode()
    ts = int(NOW.timestamp())
    headers = standard_webhooks.sign(body, STANDARD_SECRET, "msg_1", ts)
    expected = Webhook(STANDARD_SECRET).sign("msg_1", NOW, body.decode())
    assert headers["webhook-signature"] == expected
    STANDARD.verify(headers, body, NOW)
    [event] = STANDARD.parse(headers, body, NOW).events
    assert event.event_id == "msg_1"  # the message id is the idempotency key
    with pytest.raises(RequestError) as e:
        STANDARD.verify(headers, body, NOW + timedelta(minutes=6))
    assert e.value.code == "stale_timestamp"
    # several signatures (a rotation on the sender's side): any one that matches will do
    many = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    STANDARD.verify(many, body, NOW)


def test_standard_webhooks_secrets_must_be_whsec_base64() -> None:
    for bad in (
        "not-a-whsec-secret-000000",
        "whsec_!!!!",
        "whsec_" + base64.b64encode(b"x").decode(),
    ):
        with pytest.raises(ValueError, match="whsec_"):
            standard_webhooks.load_secret(bad)


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("68.00", None),
        ("0", None),
        ("1_000", "total"),
        (" 5", "total"),
        ("NaN", "total"),
        ("١٢", "total"),
        ("1e3", "total"),
        ("-1", "total"),
    ],
)
def test_string_prices_are_plain_decimals(text: str, bad: str | None) -> None:
    assert bad_money_text({"total": text}) == bad
    assert bad_money_text({"items": [{"unit_price": text}]}) == (
        None if bad is None else "items[0].unit_price"
    )


def test_generic_refuses_odd_timestamps_and_signatures_with_a_4xx() -> None:
    body = json.dumps(GOOD_EVENT).encode()
    for headers in (
        {"x-cart-timestamp": "²³", "x-cart-signature": "sha256=00"},
        {"x-cart-timestamp": str(int(NOW.timestamp())), "x-cart-signature": "sha256=é"},
        {"x-cart-timestamp": "1" * 40, "x-cart-signature": "sha256=00"},
    ):
        with pytest.raises(RequestError) as e:
            GENERIC.verify(headers, body, NOW)
        assert e.value.status == 401


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-301, False), (301, False), (-299, True), (299, True)],
    ids=["301 s old", "301 s ahead", "299 s old", "299 s ahead"],
)
def test_generic_accepts_a_signature_only_within_the_five_minute_window(
    offset: int, accepted: bool
) -> None:
    # Given an event signed with the right secret, at a time ``offset`` seconds from now
    body = json.dumps(GOOD_EVENT).encode()
    signed = generic.sign(body, SECRET, int(NOW.timestamp()) + offset)
    headers = {name.lower(): value for name, value in signed.items()}  # as the app hands them
    # When it is verified now
    if accepted:
        GENERIC.verify(headers, body, NOW)
        return
    # Then outside the replay window it is refused as stale
    with pytest.raises(RequestError) as e:
        GENERIC.verify(headers, body, NOW)
    assert (e.value.status, e.value.code) == (401, "stale_timestamp")
