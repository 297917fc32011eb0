"""Shopify webhooks: ``checkouts/create``, ``checkouts/update`` and ``orders/create``.

Verified with ``X-Shopify-Hmac-Sha256``: the base64 HMAC-SHA256 of the raw body under the
app's shared secret (two are accepted during a rotation). Shopify signs no timestamp, so a
replay is caught by the delivery id instead: ``X-Shopify-Webhook-Id`` becomes the event's
``event_id``, and the store's ``(cart_id, event_id)`` idempotency drops a repeat.

A checkout's ``token`` is the cart id; an order names its checkout in ``checkout_token`` and
becomes that cart's ``cart.checked_out``. Prices and ``total_price`` are in the shopper's
(presentment) currency, so ``presentment_currency`` is preferred over the shop's ``currency``.
A cart attribute ``saved_link`` (a note attribute on the checkout) set to a true value marks
a cart the shopper saved: the reminder then opens with the saved-cart line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import Struct

from cart_recovery.adapters.storefronts.base import Parsed, RequestError, any_match
from cart_recovery.adapters.storefronts.generic import field_of
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CHECKED_OUT, UPDATED, AwareTime, CartEvent

HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
CHECKOUT_TOPICS = frozenset({"checkouts/create", "checkouts/update"})
ORDER_TOPICS = frozenset({"orders/create"})
TOPICS = CHECKOUT_TOPICS | ORDER_TOPICS
SAVED_ATTRIBUTE = "saved_link"
_TRUE = frozenset({"true", "yes", "1", "on"})


class Customer(Struct, kw_only=True):
    first_name: str | None = None
    email: str | None = None


class LineItem(Struct, kw_only=True):
    title: str | None = None
    presentment_title: str | None = None
    name: str | None = None
    quantity: int = 1
    price: Decimal | None = None
    sku: str | None = None


class NoteAttribute(Struct, kw_only=True):
    name: str | None = None
    value: str | int | float | bool | None = None


class Checkout(Struct, kw_only=True):
    """The fields of a Shopify checkout this service reads (the rest is ignored)."""

    token: str
    email: str | None = None
    customer: Customer | None = None
    line_items: list[LineItem] | None = None
    abandoned_checkout_url: str | None = None
    total_price: Decimal | None = None
    currency: str | None = None
    presentment_currency: str | None = None
    buyer_accepts_marketing: bool | None = None
    customer_locale: str | None = None
    note_attributes: list[NoteAttribute] | None = None
    created_at: AwareTime | None = None
    updated_at: AwareTime | None = None
    completed_at: AwareTime | None = None


class Order(Struct, kw_only=True):
    """The fields of a Shopify order this service reads."""

    checkout_token: str | None = None
    email: str | None = None
    contact_email: str | None = None
    customer: Customer | None = None
    line_items: list[LineItem] | None = None
    total_price: Decimal | None = None
    currency: str | None = None
    presentment_currency: str | None = None
    created_at: AwareTime | None = None
    processed_at: AwareTime | None = None


_checkout = msgspec.json.Decoder(Checkout)
_order = msgspec.json.Decoder(Order)
_ITEM_FIELD = re.compile(r"^items\[(?P<i>\d+)\]\.(?P<name>\w+)")
_ITEM_SOURCE = {"title": "title", "quantity": "quantity", "unit_price": "price", "sku": "sku"}


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The signature header Shopify sends with ``body``."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode()}


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
    """Raises RequestError(401) unless one of ``secrets`` signed this body."""
    if not secrets:
        raise RequestError(503, "not_configured", "no Shopify secret is configured")
    offered = (headers.get(HMAC_HEADER) or "").strip()
    if not offered:
        raise RequestError(401, "unsigned", "missing X-Shopify-Hmac-Sha256 header", HMAC_HEADER)
    expected = [
        base64.b64encode(hmac.new(s.encode(), body, hashlib.sha256).digest()) for s in secrets
    ]
    if not any_match(expected, [offered.encode("utf-8", "surrogateescape")]):
        raise RequestError(401, "bad_signature", "signature does not match the body", HMAC_HEADER)


def _name(customer: Customer | None) -> str | None:
    return customer.first_name if customer is not None else None


def _items(lines: list[LineItem] | None) -> list[dict[str, Any]] | None:
    if lines is None:
        return None
    out = []
    for line in lines:
        item: dict[str, Any] = {
            "title": line.title or line.presentment_title or line.name or "",
            "quantity": line.quantity,
        }
        if line.price is not None:
            item["unit_price"] = line.price
        if line.sku:
            item["sku"] = line.sku
        out.append(item)
    return out


def _saved(attributes: list[NoteAttribute] | None) -> bool | None:
    for attribute in attributes or ():
        if attribute.name == SAVED_ATTRIBUTE:
            return str(attribute.value).strip().lower() in _TRUE
    return None


@dataclass(frozen=True)
class _Build:
    """An event as builtins plus where each field came from (to name it in an error)."""

    values: dict[str, Any]
    where: dict[str, str]

    def event(self) -> CartEvent:
        try:
            return validate_event(msgspec.convert(self.values, CartEvent))
        except msgspec.ValidationError as e:
            raise RequestError(400, "invalid_event", str(e), self._source(field_of(e))) from None
        except EventError as e:
            raise RequestError(400, "invalid_event", str(e), self._source(e.field)) from None

    def _source(self, field: str) -> str:
        m = _ITEM_FIELD.match(field)
        if m:
            name = _ITEM_SOURCE.get(m.group("name"), m.group("name"))
            return f"line_items[{m.group('i')}].{name}"
        return self.where.get(field, field)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise RequestError(400, "invalid_event", str(e), field_of(e)) from None
    except msgspec.DecodeError as e:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {e}", "$") from None


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise RequestError(400, "missing_header", f"missing {name} header", name)
    return value


def checkout_event(checkout: Checkout, webhook_id: str) -> CartEvent:
    """``checkouts/create`` and ``checkouts/update`` → ``cart.updated`` (or, once the checkout
    is completed, ``cart.checked_out``)."""
    occurred = checkout.completed_at or checkout.updated_at or checkout.created_at
    when = (
        "completed_at"
        if checkout.completed_at
        else "updated_at"
        if checkout.updated_at
        else "created_at"
    )
    if occurred is None:
        raise RequestError(
            400, "invalid_event", "updated_at or created_at is required", "updated_at"
        )
    email = checkout.email or (checkout.customer.email if checkout.customer else None)
    values: dict[str, Any] = {
        "event_id": webhook_id,
        "type": CHECKED_OUT if checkout.completed_at else UPDATED,
        "cart_id": checkout.token,
        "occurred_at": occurred,
        "email": email,
        "name": _name(checkout.customer),
        "items": _items(checkout.line_items),
        "total": checkout.total_price,
        "currency": checkout.presentment_currency or checkout.currency,
        "return_url": checkout.abandoned_checkout_url,
        "marketing_consent": checkout.buyer_accepts_marketing,
        "locale": checkout.customer_locale,
        "saved_link": _saved(checkout.note_attributes),
    }
    where = {
        "event_id": WEBHOOK_ID_HEADER,
        "cart_id": "token",
        "occurred_at": when,
        "email": "email" if checkout.email else "customer.email",
        "name": "customer.first_name",
        "total": "total_price",
        "currency": "presentment_currency" if checkout.presentment_currency else "currency",
        "return_url": "abandoned_checkout_url",
        "locale": "customer_locale",
    }
    return _Build({k: v for k, v in values.items() if v is not None}, where).event()


def order_event(order: Order, webhook_id: str) -> CartEvent | None:
    """``orders/create`` → its checkout's ``cart.checked_out`` (None: no checkout to stop)."""
    if not order.checkout_token:
        return None
    occurred = order.created_at or order.processed_at
    if occurred is None:
        raise RequestError(
            400, "invalid_event", "created_at or processed_at is required", "created_at"
        )
    email = (
        order.email
        or order.contact_email
        or (order.customer.email if order.customer is not None else None)
    )
    values: dict[str, Any] = {
        "event_id": webhook_id,
        "type": CHECKED_OUT,
        "cart_id": order.checkout_token,
        "occurred_at": occurred,
        "email": email,
        "name": _name(order.customer),
        "items": _items(order.line_items),
        "total": order.total_price,
        "currency": order.presentment_currency or order.currency,
    }
    where = {
        "event_id": WEBHOOK_ID_HEADER,
        "cart_id": "checkout_token",
        "occurred_at": "created_at" if order.created_at else "processed_at",
        "email": "email",
        "name": "customer.first_name",
        "total": "total_price",
        "currency": "presentment_currency" if order.presentment_currency else "currency",
    }
    return _Build({k: v for k, v in values.items() if v is not None}, where).event()


def parse(headers: Mapping[str, str], body: bytes) -> Parsed:
    """The cart event in a verified Shopify delivery (none for a topic this service skips)."""
    topic = _required_header(headers, TOPIC_HEADER)
    if topic not in TOPICS:
        return Parsed((), ignored=f"topic {topic!r} is not used")
    webhook_id = _required_header(headers, WEBHOOK_ID_HEADER)
    if topic in CHECKOUT_TOPICS:
        return Parsed((checkout_event(_decode(_checkout, body), webhook_id),))
    event = order_event(_decode(_order, body), webhook_id)
    if event is None:
        return Parsed((), ignored="the order has no checkout_token (not from an online checkout)")
    return Parsed((event,))


@dataclass(frozen=True)
class ShopifySource:
    """``POST /webhooks/shopify``."""

    secrets: Sequence[str]
    name: str = "shopify"

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify(headers, body, self.secrets)

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        return parse(headers, body)
