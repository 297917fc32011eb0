"""The CartStore contract for clicks, the owner's reads and privacy, run against every adapter
(memory, SQLite, DynamoDB)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.model import AuditEntry, Outcome, Status, cart_snapshot
from cart_recovery.domain.privacy import EmailKey, anonymise_cart
from cart_recovery.domain.timers import SetWake
from cart_recovery.ports import Claim
from tests.aws.services import contract_store
from tests.conftest import T0, at, make_cart, make_event

KEY = EmailKey.from_signing_key("contract-signing-key-0123456789")


@pytest.fixture(params=["memory", "sqlite", pytest.param("dynamodb", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore(email_key=KEY)
    elif request.param == "dynamodb":
        with contract_store(request.getfixturevalue("dynamodb_local"), email_key=KEY) as s:
            yield s
    else:
        s = SqliteStore(tmp_path / "db.sqlite3", email_key=KEY)
        yield s
        s.close()


def put(store: Any, event_id: str | None = None, **over: Any) -> None:
    """Given a cart written by an event that carries the same personal data."""
    cart = make_cart(**over)
    fields = {k: v for k, v in over.items() if k in ("email", "name", "return_url")}
    event = make_event(
        cart_id=cart.cart_id,
        event_id=event_id or f"create-{cart.cart_id}",
        occurred_at=cart.created_at,
        **fields,
    )
    assert store.apply_event(
        event,
        cart=cart,
        expected_version=None,
        audit=AuditEntry(
            cart_id=cart.cart_id,
            at=cart.created_at,
            by="system",
            action="created",
            after={"cart_id": cart.cart_id, "email": cart.email, "name": cart.name},
        ),
        timer=SetWake(at(hours=2)),
        now=cart.created_at,
    )


def send(store: Any, cart_id: str, step: int, to: str, when: Any) -> None:
    assert store.claim_send(cart_id, step, to, when) is Claim.CLAIMED
    store.finish_send(cart_id, step, Outcome.SENT, at=when, message_id=f"<m-{cart_id}-{step}>")


# ---- clicks -------------------------------------------------------------------------------


def test_clicks_are_kept_each_and_returned_per_cart_in_time_order(store: Any) -> None:
    # Given two carts, the first clicked three times (twice on reminder 1)
    put(store)
    put(store, cart_id="c2")
    store.record_click("c1", 2, at(hours=30))
    store.record_click("c1", 1, at(hours=3))
    store.record_click("c1", 1, at(hours=3))
    store.record_click("c2", 1, at(hours=4))
    # When the clicks of some carts are asked for
    clicks = store.clicks_for(["c1", "c2", "nope"])
    # Then each cart maps to its clicks by time, repeats kept; a cart without clicks is absent
    assert clicks == {
        "c1": [(1, at(hours=3)), (1, at(hours=3)), (2, at(hours=30))],
        "c2": [(1, at(hours=4))],
    }
    assert store.clicks_for([]) == {}
    assert store.clicks_for(iter(["c2"])) == {"c2": [(1, at(hours=4))]}


def test_a_click_changes_no_cart_and_no_audit(store: Any) -> None:
    put(store)
    before = store.load("c1")
    store.record_click("c1", 1, at(hours=3))
    assert store.load("c1") == before
    assert [a.action for a in store.audit("c1")] == ["created"]


def test_clicks_for_many_carts_at_once(store: Any) -> None:
    for i in range(1200):
        store.record_click(f"cart-{i:04d}", 1, at(minutes=i))
    clicks = store.clicks_for(f"cart-{i:04d}" for i in range(0, 1200, 2))
    assert len(clicks) == 600 and clicks["cart-1198"] == [(1, at(minutes=1198))]


# ---- the owner's reads ----------------------------------------------------------------------


def test_carts_between_is_by_creation_time_half_open(store: Any) -> None:
    put(store, cart_id="b", created_at=at(hours=1))
    put(store, cart_id="a", created_at=at(hours=1))
    put(store, cart_id="edge", created_at=at(hours=24))
    put(store, cart_id="before", created_at=at(hours=-1))
    found = store.carts_between(at(hours=0), at(hours=24))
    assert [c.cart_id for c in found] == ["a", "b"]


def test_search_finds_by_part_of_id_address_or_name_casefolded(store: Any) -> None:
    # Given three carts
    put(store, cart_id="order-77", email="Maya.Lind@Example.com", name="Maya", created_at=at())
    put(
        store, cart_id="order-78", email="jo@shop.example", name="Jo Grüber", created_at=at(hours=1)
    )
    put(store, cart_id="x-1", email="sam@example.com", name="Sam", created_at=at(hours=2))
    # Then the address, name and id match in any case, newest first
    assert [c.cart_id for c in store.search("maya.LIND")] == ["order-77"]
    assert [c.cart_id for c in store.search("GRÜBER")] == ["order-78"]
    assert [c.cart_id for c in store.search(" ORDER-7 ")] == ["order-78", "order-77"]
    assert [c.cart_id for c in store.search("example.com")] == ["x-1", "order-77"]
    assert store.search("nobody") == []
    assert store.search("   ") == []
    assert [c.cart_id for c in store.search("order", limit=1)] == ["order-78"]


def test_search_puts_an_exact_id_first(store: Any) -> None:
    put(store, cart_id="c1", created_at=at())
    put(store, cart_id="c10", created_at=at(hours=5))
    put(store, cart_id="c11", created_at=at(hours=5))
    assert [c.cart_id for c in store.search("c1")] == ["c1", "c10", "c11"]


def test_events_of_gives_every_event_with_its_arrival_in_time_order(store: Any) -> None:
    put(store, event_id="first")
    # a later event that arrived first, and one that changed nothing (no cart write)
    store.apply_event(
        make_event(event_id="late", occurred_at=at(hours=2), name="Maya L."),
        cart=None,
        expected_version=0,
        audit=None,
        timer=None,
        now=at(hours=1),
    )
    events = store.events_of("c1")
    assert [(e.event.event_id, e.received_at) for e in events] == [
        ("first", T0),
        ("late", at(hours=1)),
    ]
    assert events[1].event.name == "Maya L." and events[0].event.items is not None
    assert store.events_of("nope") == []


def test_linked_carts_follow_the_address_in_rows_events_and_sends(store: Any) -> None:
    # Given a cart of Maya's, a cart whose address changed away from hers after a reminder,
    # and someone else's cart
    put(store, cart_id="mine", email="maya@example.com")
    put(store, cart_id="changed", email="MAYA@example.com")
    send(store, "changed", 1, "Maya@Example.com", at(hours=2))
    cart, _ = store.load("changed")
    store.save_cart(
        make_cart(cart_id="changed", email="new@example.com"),
        expected_version=cart.version,
        audit=None,
        timer=None,
    )
    put(store, cart_id="other", email="sam@example.com")
    # Then both of hers are linked to her address, in any case
    assert store.linked_carts(" maya@EXAMPLE.com") == ["changed", "mine"]
    assert store.linked_carts("nobody@example.com") == []


def test_append_audit_adds_a_row_without_touching_the_cart(store: Any) -> None:
    put(store)
    before = store.load("c1")
    entry = AuditEntry(cart_id="c1", at=at(hours=1), by="owner", action="exported")
    store.append_audit(entry)
    assert store.audit("c1")[-1] == entry and store.load("c1") == before


# ---- privacy ------------------------------------------------------------------------------


def test_forget_erases_personal_fields_and_keeps_the_anonymous_rest(store: Any) -> None:
    # Given Maya's cart with an event, a sent reminder, a click and audit rows
    put(store, return_url="https://shop.example/cart/c1?who=maya")
    send(store, "c1", 1, "maya@example.com", at(hours=2))
    store.record_click("c1", 1, at(hours=3))
    store.unsubscribe("maya@example.com", source="shopper", at=at(hours=4))
    # When she is forgotten
    done = store.forget("Maya@Example.com", by="owner", at=at(hours=5))
    # Then the cart keeps its status, total and times but no address, name, items or link
    cart, sends = store.load("c1")
    assert cart is not None
    assert (cart.email, cart.name, cart.items, cart.return_url) == (None, None, (), None)
    assert cart.status is Status.OPEN and cart.total == make_cart().total
    assert cart.created_at == T0 and cart.version == 1
    # and the reminder keeps its outcome and time, not its recipient
    assert [(s.step, s.outcome, s.at, s.recipient) for s in sends] == [
        (1, Outcome.SENT, at(hours=2), None)
    ]
    # and the stored event keeps its type and time only
    [event] = store.events_of("c1")
    assert event.event.type == "cart.updated" and event.event.occurred_at == T0
    assert (event.event.email, event.event.name, event.event.items) == (None, None, None)
    # and no audit snapshot names her; the erasure itself is audited
    for row in store.audit("c1"):
        for snap in (row.before, row.after):
            assert snap is None or (snap.get("email") is None and snap.get("name") is None)
    assert store.audit("c1")[-1].action == "forgotten"
    assert store.audit("c1")[-1].by == "owner"
    # and the click stays, anonymous
    assert store.clicks_for(["c1"]) == {"c1": [(1, at(hours=3))]}
    assert done.cart_ids == ("c1",) and done.sends == 1 and done.events == 1
    assert done.message_ids == ("<m-c1-1>",) and done.newly_unsubscribed is False
    # and nothing leads from the address to the cart any more
    assert store.linked_carts("maya@example.com") == []
    assert store.carts_of("maya@example.com") == []
    assert store.sent_to("maya@example.com", T0) == []
    assert store.search("maya") == []


def test_a_forgotten_address_stays_unsubscribed(store: Any) -> None:
    # Given a shopper who never unsubscribed
    put(store, email="jo@example.com")
    # When they are forgotten
    done = store.forget("jo@example.com", by="owner", at=at(hours=1))
    # Then the address is on the list (as a digest) and refused for any cart, forever
    assert done.newly_unsubscribed
    assert store.is_unsubscribed("JO@example.com ")
    put(store, cart_id="c2", email="Jo@Example.com", event_id="back-again")
    assert store.claim_send("c2", 1, "jo@example.com", at(hours=30)) is Claim.UNSUBSCRIBED
    assert not store.unsubscribe("jo@example.com", source="shopper", at=at(hours=31))
    assert store.unsubscribes_between(T0, at(hours=48)) == 1


def test_forgetting_an_unknown_address_still_unsubscribes_it(store: Any) -> None:
    done = store.forget("ghost@example.com", by="owner", at=T0)
    assert done.cart_ids == () and store.is_unsubscribed("ghost@example.com")


def test_forget_leaves_other_shoppers_alone(store: Any) -> None:
    put(store, cart_id="maya", email="maya@example.com", name="Maya")
    put(store, cart_id="sam", email="sam@example.com", name="Sam")
    send(store, "sam", 1, "sam@example.com", at(hours=2))
    store.forget("maya@example.com", by="owner", at=at(hours=3))
    cart, sends = store.load("sam")
    assert cart is not None and cart.email == "sam@example.com" and cart.name == "Sam"
    assert sends[0].recipient == "sam@example.com"
    assert [s.cart_id for s in store.sent_to("sam@example.com", T0)] == ["sam"]
    assert not store.is_unsubscribed("sam@example.com")


# ---- the audit rows a store writes on its own --------------------------------------------


def as_stored(row: AuditEntry) -> AuditEntry:
    """The row as a store gives it back: snapshots through JSON (tuples come back as lists)."""
    return msgspec.json.decode(msgspec.json.encode(row), type=AuditEntry)


def shape(row: AuditEntry) -> tuple[str, str, str | None, list[str] | None, list[str] | None]:
    keys = [sorted(snap) if snap is not None else None for snap in (row.before, row.after)]
    return (row.action, row.by, row.detail, keys[0], keys[1])


def test_every_store_writes_the_uncertain_unsubscribed_and_forgotten_rows_the_domain_builds(
    store: Any,
) -> None:
    # Given Maya's cart whose first reminder was claimed before a crash
    put(store)
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.CLAIMED
    cart, _ = store.load("c1")
    assert cart is not None
    snapshot_keys = sorted(cart_snapshot(cart) or {})
    # When start-up finds the claim, and Maya unsubscribes
    [record] = store.resolve_claims(at(hours=3))
    assert store.unsubscribe("maya@example.com", source="shopper", at=at(hours=4))
    # Then the store wrote exactly the rows the domain builds, in the same words
    rows = store.audit("c1")[1:]
    assert [as_stored(row) for row in rows] == [
        as_stored(audit_rows.uncertain(record, at(hours=3), "system")),
        as_stored(audit_rows.unsubscribed(cart, at(hours=4), "shopper")),
    ]
    assert [shape(row) for row in rows] == [
        ("uncertain", "system", "step 1: claimed before a crash; not resent", None, None),
        ("unsubscribed", "shopper", None, snapshot_keys, snapshot_keys),
    ]
    # When she is forgotten
    store.forget("maya@example.com", by="owner", at=at(hours=5))
    # Then the erasure row is the domain's too: before names nobody, after is the erased cart
    last = store.audit("c1")[-1]
    erased = anonymise_cart(cart)
    assert as_stored(last) == as_stored(audit_rows.forgotten(cart, erased, at(hours=5), "owner"))
    assert shape(last) == (
        "forgotten",
        "owner",
        "the shopper's personal data was erased",
        snapshot_keys,
        snapshot_keys,
    )
    assert last.after is not None and last.after["version"] == cart.version + 1


# ---- unsubscribe by keyed digest (what a link names) ----------------------------------------


def test_unsubscribe_by_digest_writes_the_rows_of_every_cart_of_the_address(store: Any) -> None:
    # Given two carts of Maya and one of Sam
    put(store)
    put(store, cart_id="c2", email="Maya@Example.com")
    put(store, cart_id="c3", email="sam@example.com")
    c1, _ = store.load("c1")
    c2, _ = store.load("c2")
    # When a link naming her digest and cart c1 is followed
    digest = KEY.digest("maya@example.com")
    assert store.unsubscribe_key(digest, source="shopper", at=at(hours=4), email=c1.email)
    # Then she is on the list, each of her carts has its audit row, and Sam is untouched
    assert store.is_unsubscribed("MAYA@example.com")
    assert as_stored(store.audit("c1")[-1]) == as_stored(
        audit_rows.unsubscribed(c1, at(hours=4), "shopper")
    )
    assert as_stored(store.audit("c2")[-1]) == as_stored(
        audit_rows.unsubscribed(c2, at(hours=4), "shopper")
    )
    assert [row.action for row in store.audit("c3")] == ["created"]
    assert not store.is_unsubscribed("sam@example.com")
    # And a second click changes nothing
    assert not store.unsubscribe_key(digest, source="shopper", at=at(hours=5), email=c1.email)
    assert len(store.audit("c1")) == 2


def test_unsubscribe_by_digest_alone_when_the_cart_no_longer_names_the_address(
    store: Any,
) -> None:
    # Given Maya's cart now holds another address (or none: erased)
    put(store, email="new@example.com")
    digest = KEY.digest("maya@example.com")
    # When her link is followed
    assert store.unsubscribe_key(digest, source="shopper", at=at(hours=4), email="new@example.com")
    # Then her address is on the list, the cart's current address is not, and no row was written
    assert store.is_unsubscribed("maya@example.com")
    assert not store.is_unsubscribed("new@example.com")
    assert [row.action for row in store.audit("c1")] == ["created"]
    assert not store.unsubscribe_key(digest, source="shopper", at=at(hours=5), email=None)
    assert store.unsubscribes_between(at(hours=0), at(hours=6)) == 1


# ---- SQLite specifics: the unsubscribe list keeps digests -----------------------------------


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_sqlite_keeps_no_address_in_the_unsubscribe_list(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "db.sqlite3", email_key=KEY)
    s.unsubscribe("Maya@Example.com", source="shopper", at=T0)
    s.close()
    [(key,)] = rows(tmp_path / "db.sqlite3", "SELECT email_key FROM unsubscribes")
    assert key == KEY.digest("maya@example.com") and "maya" not in key


def test_sqlite_migrates_plain_unsubscribes_to_digests(tmp_path: Path) -> None:
    # Given a database at schema 1 with a plain address on the list
    path = tmp_path / "old.sqlite3"
    from cart_recovery.adapters.sqlite import MIGRATIONS

    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute("INSERT INTO unsubscribes VALUES ('jo@example.com', 1, 'shopper')")
        conn.execute("PRAGMA user_version = 1")
    # When the store opens it
    s = SqliteStore(path, email_key=KEY)
    # Then the address is still refused, and only its digest is kept
    assert s.schema_version == len(MIGRATIONS)
    assert s.is_unsubscribed("Jo@example.com")
    s.close()
    assert rows(path, "SELECT email_key FROM unsubscribes") == [(KEY.digest("jo@example.com"),)]


def test_sqlite_refuses_a_list_written_under_another_key(tmp_path: Path) -> None:
    # Given a database whose unsubscribe list was written under one signing key
    s = SqliteStore(tmp_path / "db.sqlite3", email_key=KEY)
    s.unsubscribe("jo@example.com", source="shopper", at=T0)
    s.close()
    # When it is opened with another key
    other = EmailKey.from_signing_key("another-signing-key-0123456789")
    with pytest.raises(RuntimeError, match="signing_key"):
        SqliteStore(tmp_path / "db.sqlite3", email_key=other)
    # Then the list is untouched and the right key still works
    again = SqliteStore(tmp_path / "db.sqlite3", email_key=KEY)
    assert again.is_unsubscribed("jo@example.com")
    again.close()


def test_sqlite_an_empty_list_may_change_key(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db.sqlite3", email_key=KEY).close()
    other = EmailKey.from_signing_key("another-signing-key-0123456789")
    s = SqliteStore(tmp_path / "db.sqlite3", email_key=other)
    s.unsubscribe("jo@example.com", source="shopper", at=T0)
    assert s.is_unsubscribed("jo@example.com")
    s.close()
