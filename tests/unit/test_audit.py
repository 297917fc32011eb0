"""The audit rows every store writes on its own: an uncertain claim, an unsubscribe, an erasure."""

from __future__ import annotations

import msgspec

from cart_recovery.domain.audit import forgotten, uncertain, unsubscribed
from cart_recovery.domain.model import Outcome, SendRecord, cart_snapshot
from cart_recovery.domain.privacy import anonymise_cart
from tests.conftest import T0, at, make_cart


def test_a_claim_found_at_start_up_is_audited_as_uncertain_and_not_resent() -> None:
    # Given step 2 of cart c1, claimed before a crash
    record = SendRecord(cart_id="c1", step=2, outcome=Outcome.UNCERTAIN, at=T0)
    # When start-up marks it uncertain
    row = uncertain(record, at(hours=1), "system")
    # Then the row names the step and says it is not resent, with no cart snapshot
    assert (row.cart_id, row.at, row.by, row.action) == ("c1", at(hours=1), "system", "uncertain")
    assert row.detail == "step 2: claimed before a crash; not resent"
    assert (row.before, row.after) == (None, None)


def test_an_unsubscribe_is_audited_on_the_cart_with_the_same_snapshot_before_and_after() -> None:
    # Given Maya's cart at version 3
    cart = make_cart(cart_id="c7", version=3)
    # When her address unsubscribes from an action link
    row = unsubscribed(cart, at(hours=2), "shopper")
    # Then the row is on her cart, by the source, and the cart itself did not change
    assert (row.cart_id, row.at, row.by, row.action) == (
        "c7",
        at(hours=2),
        "shopper",
        "unsubscribed",
    )
    assert row.detail is None
    assert row.before == row.after == cart_snapshot(cart)


def test_an_erasure_is_audited_without_the_shopper_and_with_the_erased_cart_stored() -> None:
    # Given Maya's cart at version 3, and the same cart erased
    cart = make_cart(version=3)
    erased = anonymise_cart(cart)
    # When the owner forgets her
    row = forgotten(cart, erased, at(hours=5), "owner")
    # Then the row says so, and neither snapshot names her
    assert (row.cart_id, row.at, row.by, row.action) == ("c1", at(hours=5), "owner", "forgotten")
    assert row.detail == "the shopper's personal data was erased"
    assert row.before is not None and row.after is not None
    for snap in (row.before, row.after):
        assert (snap["email"], snap["name"], snap["return_url"]) == (None, None, None)
    # and before keeps what is not personal; after is the erased cart one version on
    whole = cart_snapshot(cart)
    assert whole is not None
    kept = ("cart_id", "status", "total", "currency", "created_at", "version")
    assert {k: row.before[k] for k in kept} == {k: whole[k] for k in kept}
    assert list(row.before["items"]) == []
    assert row.after == cart_snapshot(msgspec.structs.replace(erased, version=4))
