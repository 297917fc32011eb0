"""Applying events to a cart row: upserts, checkout always wins, out-of-order safety."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from cart_recovery.domain.cart import MAX_ITEMS, EventError, apply_event, validate_event
from cart_recovery.domain.model import CHECKED_OUT, SAVED, Item, Status
from tests.conftest import T0, at, make_event


def test_first_update_creates_the_cart_and_asks_for_a_wake_up() -> None:
    applied = apply_event(None, make_event(), now=T0)
    assert applied.action == "created" and applied.reschedule
    assert applied.cart is not None
    assert applied.cart.abandoned_at == T0 and applied.cart.total == Decimal("120.00")


def test_update_moves_abandoned_at_and_keeps_known_fields() -> None:
    cart = apply_event(None, make_event(), now=T0).cart
    later = make_event(event_id="e2", occurred_at=at(hours=1), email=None, name=None)
    applied = apply_event(cart, later, now=at(hours=1))
    assert applied.cart is not None
    assert applied.cart.abandoned_at == at(hours=1)
    assert applied.cart.email == "maya@example.com" and applied.cart.name == "Maya"


def test_total_defaults_to_the_sum_of_items() -> None:
    items = (Item(title="Candle", quantity=2, unit_price=Decimal("18.00")),)
    applied = apply_event(None, make_event(items=items), now=T0)
    assert applied.cart is not None and applied.cart.total == Decimal("36.00")


def test_checkout_wins_even_when_it_arrives_out_of_order() -> None:
    cart = apply_event(None, make_event(occurred_at=at(hours=2)), now=at(hours=2)).cart
    early_checkout = make_event(event_id="e0", type=CHECKED_OUT, occurred_at=at(hours=1))
    applied = apply_event(cart, early_checkout, now=at(hours=3))
    assert applied.cart is not None and applied.cart.status is Status.BOUGHT
    assert applied.cancel


def test_checkout_before_any_update_records_a_bought_cart() -> None:
    applied = apply_event(None, make_event(type=CHECKED_OUT), now=T0)
    assert applied.cart is not None and applied.cart.status is Status.BOUGHT
    assert not applied.reschedule


def test_stale_update_changes_nothing() -> None:
    cart = apply_event(None, make_event(occurred_at=at(hours=2)), now=at(hours=2)).cart
    stale = make_event(event_id="old", occurred_at=at(hours=1), email="other@example.com")
    applied = apply_event(cart, stale, now=at(hours=3))
    assert applied.cart is None and applied.action == "ignored_stale"


def test_update_after_checkout_is_recorded_but_changes_nothing() -> None:
    cart = apply_event(None, make_event(type=CHECKED_OUT), now=T0).cart
    applied = apply_event(cart, make_event(event_id="e2", occurred_at=at(hours=1)), now=at(hours=1))
    assert applied.cart is None and applied.action == "ignored_finished"


def test_saved_sets_the_flag_without_moving_the_timing() -> None:
    cart = apply_event(None, make_event(), now=T0).cart
    saved = make_event(event_id="s", type=SAVED, occurred_at=at(hours=1))
    applied = apply_event(cart, saved, now=at(hours=1))
    assert applied.cart is not None and applied.cart.saved_link
    assert applied.cart.abandoned_at == T0 and not applied.reschedule


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": Decimal("-1")}, "total"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "not-an-address"}, "email"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"wait_override": ("5 hours", "1 hour")}, "wait_override"),
        ({"wait_override": ("soon", "later")}, "wait_override"),
    ],
)
def test_invalid_events_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(EventError) as e:
        validate_event(msgspec.structs.replace(make_event(), **change))
    assert e.value.field == field


def test_wait_override_is_parsed_onto_the_cart() -> None:
    event = validate_event(make_event(wait_override=("30 minutes", "5 hours")))
    cart = apply_event(None, event, now=T0).cart
    assert cart is not None and cart.wait_override is not None
    assert [w.total_seconds() for w in cart.wait_override] == [1800, 18000]


def test_a_cart_of_more_lines_than_the_contract_allows_is_refused() -> None:
    # Given the contract's limit of 1,000 lines
    line = Item(title="Shirt", unit_price=Decimal("1.00"))
    # Then 1,000 lines are taken and 1,001 refused, naming the field
    assert len(validate_event(make_event(items=(line,) * MAX_ITEMS)).items or ()) == MAX_ITEMS
    with pytest.raises(EventError) as e:
        validate_event(make_event(items=(line,) * (MAX_ITEMS + 1)))
    assert e.value.field == "items"


@pytest.mark.parametrize("name", ["url", "image_url"])
def test_item_links_must_be_http(name: str) -> None:
    item = Item(title="Shirt", **{name: "javascript:alert(document.cookie)"})  # type: ignore[arg-type]
    with pytest.raises(EventError) as e:
        validate_event(msgspec.structs.replace(make_event(), items=(item,)))
    assert e.value.field == f"items[0].{name}"
