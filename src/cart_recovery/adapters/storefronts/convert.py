"""Turning a source's plain JSON into a validated CartEvent, with errors in the source's terms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from cart_recovery.adapters.storefronts.base import RequestError, bad_money_text
from cart_recovery.adapters.storefronts.generic import field_of
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CartEvent

json_decoder = msgspec.json.Decoder(float_hook=Decimal)  # prices keep every digit

_HEAD = re.compile(r"^(?P<name>[A-Za-z_]+)(?P<rest>.*)$")


def decode_json(body: bytes) -> Any:
    try:
        return json_decoder.decode(body)
    except msgspec.DecodeError as e:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {e}", "$") from None


def rename(field: str, names: Mapping[str, str], prefix: str = "") -> str:
    """Our field path (``items[0].unit_price``) in the source's terms (``line_items[0].price``).
    ``names`` maps our top-level names and ``items.<name>`` item names to the source's."""
    parts = field.split(".")
    head = _HEAD.match(parts[0])
    if head:
        parts[0] = names.get(head.group("name"), head.group("name")) + head.group("rest")
        if head.group("name") == "items" and len(parts) > 1:
            parts[1] = names.get(f"items.{parts[1]}", parts[1])
    return prefix + ".".join(parts)


def to_event(fields: dict[str, Any], names: Mapping[str, str], prefix: str = "") -> CartEvent:
    """Validate ``fields`` (plain values; None means absent) as a cart event, or raise
    RequestError(400) naming the field as the source calls it."""
    clean = {k: v for k, v in fields.items() if v is not None}
    bad = bad_money_text(clean)
    if bad is not None:
        message = f"{bad}: a price is a number or a plain decimal string"
        raise RequestError(400, "invalid_event", message, rename(bad, names, prefix))
    try:
        event = msgspec.convert(clean, CartEvent)
        return validate_event(event)
    except msgspec.ValidationError as e:
        field = field_of(e)
        raise RequestError(
            400, "invalid_event", str(e), "$" if field == "$" else rename(field, names, prefix)
        ) from None
    except EventError as e:
        raise RequestError(400, "invalid_event", str(e), rename(e.field, names, prefix)) from None
