"""Applying a cart event to the cart row (SPEC §3 and §6): pure, and safe out of order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from cart_recovery.domain.address import AddressError, recipient_address
from cart_recovery.domain.model import CHECKED_OUT, SAVED, UPDATED, Cart, CartEvent, Status
from cart_recovery.domain.rules import parse_wait_override


class EventError(ValueError):
    """An event that is well-formed JSON but not a valid cart event. ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _override(values: tuple[str, str]) -> tuple[timedelta, timedelta]:
    try:
        return parse_wait_override(values)
    except ValueError as e:
        raise EventError("wait_override", str(e)) from None


# A storefront's clock may run a little ahead; an event from further on is refused, since it
# would hold the cart's timeline (and every older event) hostage until then.
MAX_FUTURE = timedelta(days=1)
MAX_ITEMS = 1000  # lines of one cart (the contract's maxItems)


def validate_event(event: CartEvent, now: datetime | None = None) -> CartEvent:
    """Checks what the schema cannot; returns the event with its times in UTC. With ``now``,
    an ``occurred_at`` more than MAX_FUTURE ahead of it is refused."""
    if event.total is not None and (not event.total.is_finite() or event.total < 0):
        raise EventError("total", "must be a number of zero or more")
    if event.total is not None and event.total > Decimal("1e12"):
        raise EventError("total", "is too large")
    if event.items is not None and len(event.items) > MAX_ITEMS:
        raise EventError("items", f"has more than {MAX_ITEMS} lines")
    for i, item in enumerate(event.items or ()):
        if not item.unit_price.is_finite() or item.unit_price < 0 or item.unit_price > 10**12:
            raise EventError(f"items[{i}].unit_price", "must be a number of zero or more")
        for name in ("url", "image_url"):
            link = getattr(item, name)
            if link is not None and not link.lower().startswith(("https://", "http://")):
                raise EventError(f"items[{i}].{name}", "must be an http(s) URL")
    if event.timezone is not None:
        try:
            ZoneInfo(event.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder: OSError
            raise EventError("timezone", f"unknown IANA timezone {event.timezone!r}") from None
    if event.email is not None and event.email.strip():
        try:
            recipient_address(event.email)
        except AddressError as e:
            raise EventError("email", str(e)) from None
    if event.return_url is not None and not event.return_url.startswith(("https://", "http://")):
        raise EventError("return_url", "must be an http(s) URL")
    if event.wait_override is not None:
        _override(event.wait_override)
    if event.occurred_at.year < 2000:
        raise EventError("occurred_at", "is before the year 2000")
    if now is not None and event.occurred_at > now + MAX_FUTURE:
        raise EventError("occurred_at", "is more than a day in the future")
    return msgspec.structs.replace(event, occurred_at=utc(event.occurred_at))


@dataclass(frozen=True)
class Applied:
    """What an event does: the cart afterwards (``None``: nothing changes), and why."""

    cart: Cart | None
    action: str  # created, updated, saved, checked_out, ignored_stale, ignored_finished
    reschedule: bool  # the cart's wake-up must be (re)set from its new timeline
    cancel: bool  # everything pending for the cart is cancelled


def _merge(cart: Cart, event: CartEvent) -> Cart:
    changes: dict[str, object] = {}
    for name in ("email", "name", "return_url", "timezone", "locale", "marketing_consent"):
        value = getattr(event, name)
        if value is not None:
            changes[name] = value.strip() if isinstance(value, str) else value
    if changes.get("email") == "":
        changes["email"] = None
    if event.currency is not None:
        changes["currency"] = event.currency
    if event.items is not None:
        changes["items"] = event.items
    if event.total is not None:
        changes["total"] = event.total
    elif event.items is not None:
        changes["total"] = sum((i.line_total for i in event.items), Decimal(0))
    if event.saved_link is not None:
        changes["saved_link"] = event.saved_link
    if event.wait_override is not None:
        changes["wait_override"] = _override(event.wait_override)
    return msgspec.structs.replace(cart, **changes)


def apply_event(cart: Cart | None, event: CartEvent, now: datetime) -> Applied:
    """The cart row after ``event`` (already validated, times in UTC). Pure."""
    at = event.occurred_at
    if cart is None:
        fresh = Cart(cart_id=event.cart_id, created_at=now, abandoned_at=at, last_event_at=at)
        fresh = _merge(fresh, event)
        if event.type == CHECKED_OUT:
            fresh = msgspec.structs.replace(fresh, status=Status.BOUGHT, bought_at=at)
            return Applied(fresh, "checked_out", reschedule=False, cancel=True)
        if event.type == SAVED:  # a cart that starts from a saved link carries the tag
            fresh = msgspec.structs.replace(fresh, saved_link=True)
        return Applied(fresh, "created", reschedule=True, cancel=False)

    if event.type == CHECKED_OUT:
        if cart.status is Status.BOUGHT:
            return Applied(None, "ignored_finished", reschedule=False, cancel=False)
        bought = msgspec.structs.replace(
            _merge(cart, event) if at >= cart.last_event_at else cart,
            status=Status.BOUGHT,
            bought_at=at,
            last_event_at=max(at, cart.last_event_at),
        )
        return Applied(bought, "checked_out", reschedule=False, cancel=True)

    if not cart.is_open:
        return Applied(None, "ignored_finished", reschedule=False, cancel=False)
    if at < cart.last_event_at:
        return Applied(None, "ignored_stale", reschedule=False, cancel=False)

    merged = _merge(cart, event)
    if event.type == SAVED:
        saved = msgspec.structs.replace(merged, saved_link=True, last_event_at=at)
        return Applied(saved, "saved", reschedule=False, cancel=False)
    assert event.type == UPDATED
    updated = msgspec.structs.replace(merged, abandoned_at=at, last_event_at=at)
    return Applied(updated, "updated", reschedule=True, cancel=False)
