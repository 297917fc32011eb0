"""The CartStore contract for the unsubscribe list's reasons: bounces and complaints, counted
soft bounces, opting back in (never after a complaint), and the list as the owner reads it.
Run against every adapter (memory, SQLite, DynamoDB)."""

from __future__ import annotations

from typing import Any

from cart_recovery.domain import audit as audit_rows
from cart_recovery.ports import Claim, Suppression
from tests.conftest import T0, at
from tests.contract.test_owner_store import KEY, as_stored, put, store

__all__ = ["store"]

MAYA = "maya@example.com"


def test_a_bounce_keeps_its_source_reason_and_cart_and_is_audited_per_cart(store: Any) -> None:
    # Given two carts of Maya, c2 the newer
    put(store)
    put(store, cart_id="c2", created_at=at(hours=1))
    c1, _ = store.load("c1")
    # When a hard bounce suppresses her address
    reason = "ses hard_bounce: 550 5.1.1 user unknown"
    assert store.unsubscribe(MAYA, source="bounce", at=at(hours=3), reason=reason)
    # Then the list row says why, names her newest cart and no address
    row = store.suppression("Maya@Example.com")
    assert row == Suppression(KEY.digest(MAYA), at(hours=3), "bounce", reason, "c2")
    assert store.suppression_key(KEY.digest(MAYA)) == row
    assert "maya" not in repr(row)
    # And each cart has the domain's audit row, by the source, with the reason
    assert as_stored(store.audit("c1")[-1]) == as_stored(
        audit_rows.unsubscribed(c1, at(hours=3), "bounce", reason)
    )
    assert store.audit("c2")[-1].detail == reason
    # And the claim refuses her
    assert store.claim_send("c1", 1, MAYA, at(hours=4)) is Claim.UNSUBSCRIBED


def test_a_complaint_makes_an_earlier_unsubscribe_final(store: Any) -> None:
    put(store)
    assert store.unsubscribe(MAYA, source="shopper", at=at(hours=1))
    # A second shopper unsubscribe or a bounce changes nothing
    assert not store.unsubscribe(MAYA, source="bounce", at=at(hours=2), reason="late bounce")
    assert store.suppression(MAYA).source == "shopper"
    # A complaint replaces the row, and is audited
    assert store.unsubscribe(MAYA, source="complaint", at=at(hours=3), reason="abuse")
    row = store.suppression(MAYA)
    assert (row.source, row.reason, row.at) == ("complaint", "abuse", at(hours=3))
    assert [(r.action, r.by) for r in store.audit("c1")][-2:] == [
        ("unsubscribed", "shopper"),
        ("unsubscribed", "complaint"),
    ]
    # And a second complaint changes nothing
    assert not store.unsubscribe(MAYA, source="complaint", at=at(hours=4))
    assert store.suppression(MAYA).at == at(hours=3)


def test_opting_back_in_takes_the_address_off_the_list_and_is_audited(store: Any) -> None:
    put(store)
    c1, _ = store.load("c1")
    store.unsubscribe(MAYA, source="shopper", at=at(hours=1))
    store.note_soft_bounce(MAYA, at=at(hours=1), since=at(hours=0))
    digest = KEY.digest(MAYA)
    assert store.resubscribe_key(digest, at=at(hours=2), by="shopper", email=MAYA)
    assert store.suppression(MAYA) is None and not store.is_unsubscribed(MAYA)
    assert as_stored(store.audit("c1")[-1]) == as_stored(
        audit_rows.resubscribed(c1, at(hours=2), "shopper")
    )
    # Its soft bounces went with it: counting starts again
    assert store.note_soft_bounce(MAYA, at=at(hours=3), since=at(hours=0)) == 1
    # Not on the list: nothing to do
    assert not store.resubscribe_key(digest, at=at(hours=4), by="shopper", email=MAYA)
    assert store.claim_send("c1", 1, MAYA, at(hours=4)) is Claim.CLAIMED


def test_a_complaint_cannot_be_taken_off_the_list(store: Any) -> None:
    put(store)
    store.unsubscribe(MAYA, source="complaint", at=at(hours=1), reason="abuse")
    before = len(store.audit("c1"))
    assert not store.resubscribe_key(KEY.digest(MAYA), at=at(hours=2), by="shopper", email=MAYA)
    assert store.is_unsubscribed(MAYA) and len(store.audit("c1")) == before


def test_opting_back_in_by_digest_alone_writes_no_audit_row(store: Any) -> None:
    put(store, email="new@example.com")
    digest = KEY.digest(MAYA)
    store.unsubscribe_key(digest, source="shopper", at=at(hours=1), cart_id="c1")
    assert store.suppression_key(digest).cart_id == "c1"
    assert store.resubscribe_key(digest, at=at(hours=2), by="shopper", email="new@example.com")
    assert not store.is_unsubscribed(MAYA)
    assert [r.action for r in store.audit("c1")] == ["created"]


def test_soft_bounces_are_counted_per_address_within_the_window(store: Any) -> None:
    assert store.note_soft_bounce(MAYA, at=at(days=1), since=at(days=0)) == 1
    assert store.note_soft_bounce("MAYA@example.com", at=at(days=5), since=at(days=0)) == 2
    assert store.note_soft_bounce("sam@example.com", at=at(days=5), since=at(days=0)) == 1
    # The window's start leaves older ones out
    assert store.note_soft_bounce(MAYA, at=at(days=40), since=at(days=10)) == 1
    # Counting is not suppressing
    assert not store.is_unsubscribed(MAYA) and store.suppressions() == []
    assert store.unsubscribes_between(T0, at(days=50)) == 0


def test_the_list_newest_first_and_counted_by_source(store: Any) -> None:
    store.unsubscribe("a@example.com", source="shopper", at=at(hours=1))
    store.unsubscribe("b@example.com", source="bounce", at=at(hours=3), reason="550")
    store.unsubscribe("c@example.com", source="complaint", at=at(hours=2))
    store.note_soft_bounce("d@example.com", at=at(hours=2), since=T0)
    rows = store.suppressions()
    assert [r.source for r in rows] == ["bounce", "complaint", "shopper"]
    assert [r.digest for r in store.suppressions(limit=1)] == [KEY.digest("b@example.com")]
    assert store.suppressions_between(T0, at(hours=3)) == {"shopper": 1, "complaint": 1}
    assert store.suppressions_between(T0, at(days=1)) == {
        "shopper": 1,
        "complaint": 1,
        "bounce": 1,
    }
    assert store.unsubscribes_between(T0, at(days=1)) == 3
    assert store.suppressions_between(at(days=1), at(days=2)) == {}


def test_a_forgotten_address_is_listed_by_whoever_erased_it(store: Any) -> None:
    put(store)
    store.forget(MAYA, by="owner", at=at(hours=1))
    row = store.suppression(MAYA)
    assert row is not None and row.source == "owner" and row.at == at(hours=1)


def test_a_soft_bounce_redelivered_with_its_id_is_counted_once(store: Any) -> None:
    assert store.note_soft_bounce(MAYA, at=at(days=1), since=T0, event_id="pm:1") == 1
    assert store.note_soft_bounce(MAYA, at=at(days=1), since=T0, event_id="pm:1") == 1
    assert store.note_soft_bounce(MAYA, at=at(days=2), since=T0, event_id="pm:2") == 2
    assert store.note_soft_bounce(MAYA, at=at(days=2), since=T0) == 3  # no id: always counted
    # the same id for another address is another report
    assert store.note_soft_bounce("sam@example.com", at=at(days=2), since=T0, event_id="pm:1") == 1
    # and opting back in forgets the ids with the count
    store.unsubscribe(MAYA, source="bounce", at=at(days=3))
    assert store.resubscribe_key(KEY.digest(MAYA), at=at(days=4), by="shopper")
    assert store.note_soft_bounce(MAYA, at=at(days=5), since=T0, event_id="pm:1") == 1
