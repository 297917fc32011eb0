"""Applying a cart event to the cart row (SPEC §3 and §6): pure, and safe out of order."""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=256)  # pure; read once to validate an event, once to apply it
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
    total = event.total
    if total is not None and (not total.is_finite() or total < 0):
        raise EventError("total", "must be a number of zero or more")
    if total is not None and total > _MAX_AMOUNT:
        raise EventError("total", "is too large")
    items = event.items
    if items is not None:
        if len(items) > MAX_ITEMS:
            raise EventError("items", f"has more than {MAX_ITEMS} lines")
        for i, item in enumerate(items):
            price = item.unit_price
            if not price.is_finite() or price < 0 or price > _MAX_AMOUNT:
                raise EventError(f"items[{i}].unit_price", "must be a number of zero or more")
            if item.url is not None and not _is_web_link(item.url):
                raise EventError(f"items[{i}].url", "must be an http(s) URL")
            if item.image_url is not None and not _is_web_link(item.image_url):
                raise EventError(f"items[{i}].image_url", "must be an http(s) URL")
    if event.timezone is not None and not _is_zone(event.timezone):
        raise EventError("timezone", f"unknown IANA timezone {event.timezone!r}")
    if event.email is not None and event.email.strip():
        try:
            recipient_address(event.email)
        except AddressError as e:
            raise EventError("email", str(e)) from None
    if event.return_url is not None and not event.return_url.startswith(("https://", "http://")):
        raise EventError("return_url", "must be an http(s) URL")
    if event.wait_override is not None:
        _override(event.wait_override)
    at = event.occurred_at
    if at.year < 2000:
        raise EventError("occurred_at", "is before the year 2000")
    if now is not None and at > now + MAX_FUTURE:
        raise EventError("occurred_at", "is more than a day in the future")
    if at.tzinfo is UTC:  # as msgspec decodes "Z" and "+00:00": nothing to convert
        return event
    return msgspec.structs.replace(event, occurred_at=utc(at))


_MAX_AMOUNT = Decimal(10**12)


def _is_web_link(link: str) -> bool:
    return link.lower().startswith(("https://", "http://"))


@functools.lru_cache(maxsize=1024)  # pure: zoneinfo's answer for a name does not change
def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder: OSError
        return False
    return True


class Applied(msgspec.Struct, frozen=True, gc=False):
    """What an event does: the cart afterwards (``None``: nothing changes), and why. A
    Struct, as the model is: made once per event (``simulate`` makes millions)."""

    cart: Cart | None
    action: str  # created, updated, saved, checked_out, ignored_stale, ignored_finished
    reschedule: bool  # the cart's wake-up must be (re)set from its new timeline
    cancel: bool  # everything pending for the cart is cancelled


def _merge(cart: Cart, event: CartEvent, **fixed: object) -> Cart:
    """``cart`` with what ``event`` carries, then ``fixed`` over it, in one copy."""
    changes: dict[str, object] = {}
    if event.email is not None:
        changes["email"] = event.email.strip() or None
    if event.name is not None:
        changes["name"] = event.name.strip()
    if event.return_url is not None:
        changes["return_url"] = event.return_url.strip()
    if event.timezone is not None:
        changes["timezone"] = event.timezone.strip()
    if event.locale is not None:
        changes["locale"] = event.locale.strip()
    if event.marketing_consent is not None:
        changes["marketing_consent"] = event.marketing_consent
    if event.currency is not None:
        changes["currency"] = event.currency
    items = event.items
    if items is not None:
        changes["items"] = items
    if event.total is not None:
        changes["total"] = event.total
    elif items is not None:
        total = Decimal(0)
        for item in items:
            total += item.line_total
        changes["total"] = total
    if event.saved_link is not None:
        changes["saved_link"] = event.saved_link
    if event.wait_override is not None:
        changes["wait_override"] = _override(event.wait_override)
    changes.update(fixed)
    return msgspec.structs.replace(cart, **changes)


def apply_event(cart: Cart | None, event: CartEvent, now: datetime) -> Applied:
    """The cart row after ``event`` (already validated, times in UTC). Pure."""
    at = event.occurred_at
    if cart is None:
        fresh = Cart(cart_id=event.cart_id, created_at=now, abandoned_at=at, last_event_at=at)
        if event.type == CHECKED_OUT:
            fresh = _merge(fresh, event, status=Status.BOUGHT, bought_at=at)
            return Applied(fresh, "checked_out", reschedule=False, cancel=True)
        if event.type == SAVED:  # a cart that starts from a saved link carries the tag
            fresh = _merge(fresh, event, saved_link=True)
            return Applied(fresh, "created", reschedule=True, cancel=False)
        return Applied(_merge(fresh, event), "created", reschedule=True, cancel=False)

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

    if event.type == SAVED:
        saved = _merge(cart, event, saved_link=True, last_event_at=at)
        return Applied(saved, "saved", reschedule=False, cancel=False)
    assert event.type == UPDATED
    updated = _merge(cart, event, abandoned_at=at, last_event_at=at)
    return Applied(updated, "updated", reschedule=True, cancel=False)
