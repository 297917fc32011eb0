"""The owner's actions through the service, over each store: suppress, write off, unsubscribe,
forget and export-shopper, each audited with who, when and the row before and after."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cart_recovery.adapters.mail import OutboxFolder
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.adapters.sqlite.reads import decoded_cart
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import CHECKED_OUT, Item, Outcome, Status
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import ActionRefused, Sent
from cart_recovery.simulation.replay import Replay
from tests.conftest import make_event

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
SIGNING_KEY = "owner-signing-key-0123456789"


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


class Shop:
    def __init__(self, store: Any, outbox: Path) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = VirtualClock(START)
        self.service = in_memory(store=store, mailer=OutboxFolder(outbox), signing_key=SIGNING_KEY)
        self.replay = Replay(self.service, store, self.clock)

    def run(self, until: datetime) -> list[Any]:
        before = len(self.replay.happenings)
        self.replay.run_until(until)
        return self.replay.happenings[before:]

    def cart(self, cart_id: str) -> Any:
        cart, _ = self.store.load(cart_id)
        assert cart is not None
        return cart


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shop]:
    key = EmailKey.from_signing_key(SIGNING_KEY)
    if request.param == "memory":
        store: Any = MemoryStore(email_key=key)
    else:
        store = SqliteStore(tmp_path / "db.sqlite3", email_key=key)
    yield Shop(store, tmp_path / "outbox")
    if isinstance(store, SqliteStore):
        store.close()


def left(**over: Any) -> Any:
    """A medium cart left at 10:00 in New York."""
    base: dict[str, Any] = {"occurred_at": START, "timezone": "America/New_York"}
    base.update(over)
    return make_event(**base)


# ---- suppress and write off ---------------------------------------------------------------


def test_suppress_closes_the_cart_cancels_its_wake_up_and_audits_it(shop: Shop) -> None:
    # Given an open cart with its first reminder due at noon
    shop.replay.feed([left()])
    shop.run(ny(12, 11))
    assert shop.store.next_due() == ny(12, 12)
    # When the owner suppresses it
    closed = shop.service.suppress("c1", ny(12, 11, 30), by="owner", via="dashboard")
    # Then it is closed as suppressed, nothing is due, and nothing is ever sent
    cart = shop.cart("c1")
    assert (cart.status, cart.close_reason, cart.closed_at) == (
        Status.CLOSED,
        "suppressed",
        ny(12, 11, 30),
    )
    assert closed.reason == "suppressed" and shop.store.next_due() is None
    assert [h for h in shop.run(ny(20, 0)) if isinstance(h, Sent)] == []
    # and the audit row says who, when, and the row before and after
    row = shop.store.audit("c1")[-1]
    assert (row.by, row.action, row.at, row.detail) == (
        "owner",
        "suppressed",
        ny(12, 11, 30),
        "dashboard",
    )
    assert row.before is not None and row.after is not None
    assert (row.before["status"], row.after["status"]) == ("open", "closed")
    assert (row.before["close_reason"], row.after["close_reason"]) == (None, "suppressed")


def test_write_off_closes_the_cart_as_written_off(shop: Shop) -> None:
    shop.replay.feed([left()])
    shop.run(ny(12, 13))  # the first reminder went out at noon
    shop.service.write_off("c1", ny(12, 14), by="owner", via="command line")
    cart = shop.cart("c1")
    assert (cart.status, cart.close_reason) == (Status.CLOSED, "written_off")
    row = shop.store.audit("c1")[-1]
    assert (row.action, row.by, row.detail) == ("written_off", "owner", "command line")
    assert row.before is not None and row.before["status"] == "open"
    assert row.after is not None and row.after["close_reason"] == "written_off"
    assert [h for h in shop.run(ny(20, 0)) if isinstance(h, Sent)] == []


def test_acting_on_a_bought_or_closed_cart_is_refused_and_changes_nothing(shop: Shop) -> None:
    # Given a bought cart and a suppressed one
    shop.replay.feed(
        [
            left(),
            left(event_id="paid", type=CHECKED_OUT, occurred_at=ny(12, 11)),
            left(cart_id="c2", event_id="c2"),
        ]
    )
    shop.run(ny(12, 11, 30))
    shop.service.suppress("c2", ny(12, 11, 30))
    before = (shop.store.load("c1"), shop.store.audit("c1"), shop.store.audit("c2"))
    # When the owner acts on them
    with pytest.raises(ActionRefused, match="c1 is bought already: nothing to suppress") as e:
        shop.service.suppress("c1", ny(12, 12))
    assert e.value.code == "not_open"
    with pytest.raises(ActionRefused, match=r"c2 is closed \(suppressed\) already"):
        shop.service.write_off("c2", ny(12, 12))
    with pytest.raises(ActionRefused, match="there is no cart 'nope'") as e:
        shop.service.suppress("nope", ny(12, 12))
    assert e.value.code == "not_found"
    # Then nothing changed
    assert (shop.store.load("c1"), shop.store.audit("c1"), shop.store.audit("c2")) == before


def test_owner_unsubscribe_uses_the_shoppers_handler_for_every_cart(shop: Shop) -> None:
    # Given two carts of one address
    shop.replay.feed([left(), left(cart_id="c2", event_id="x", email="MAYA@example.com")])
    shop.run(ny(12, 11))
    # When the owner unsubscribes the address
    assert shop.service.unsubscribe("maya@example.com", ny(12, 11), source="owner")
    # Then neither cart is ever reminded, and each has an audit row by the owner
    out = shop.run(ny(20, 0))
    assert [h for h in out if isinstance(h, Sent)] == []
    for cart_id in ("c1", "c2"):
        [row] = [a for a in shop.store.audit(cart_id) if a.action == "unsubscribed"]
        assert row.by == "owner" and row.at == ny(12, 11)
    assert not shop.service.unsubscribe("maya@example.com", ny(12, 12), source="owner")


# ---- clicks -------------------------------------------------------------------------------


def test_following_the_return_link_records_the_click(shop: Shop) -> None:
    shop.replay.feed([left(return_url="https://shop.example/cart/c1")])
    shop.run(ny(12, 13))
    url = shop.service.follow_return_link("c1", 1, ny(12, 14))
    assert url == "https://shop.example/cart/c1"
    assert shop.store.clicks_for(["c1"]) == {"c1": [(1, ny(12, 14))]}
    assert shop.service.follow_return_link("nope", 1, ny(12, 14)) is None
    assert shop.store.clicks_for(["nope"]) == {}


# ---- forget and export --------------------------------------------------------------------


def maya_and_sam(shop: Shop) -> None:
    """Given Maya with two carts (one reminded, clicked, then bought; one suppressed), and
    Sam with one reminded cart."""
    maya = {"email": "Maya.Lind@Example.com", "name": "Maya Lind"}
    items = (Item(title="Heirloom teapot", quantity=1, unit_price=Decimal(120)),)
    shop.replay.feed(
        [
            left(**maya, items=items, return_url="https://shop.example/cart/maya-1"),
            left(cart_id="m2", event_id="m2", occurred_at=ny(12, 10, 5), **maya),
            left(cart_id="s1", event_id="s1", email="sam@example.com", name="Sam Okafor"),
        ]
    )
    shop.run(ny(12, 12, 30))
    shop.service.follow_return_link("c1", 1, ny(12, 13))
    shop.replay.feed(
        [left(event_id="paid", type=CHECKED_OUT, occurred_at=ny(12, 14), items=items, **maya)]
    )
    shop.run(ny(12, 14))
    shop.service.suppress("m2", ny(12, 15))


def test_forget_leaves_no_trace_of_the_shopper_in_any_table(tmp_path: Path) -> None:
    # Given Maya's and Sam's carts in the embedded store, with reminders in the outbox
    store = SqliteStore(tmp_path / "db.sqlite3", email_key=EmailKey.from_signing_key(SIGNING_KEY))
    shop = Shop(store, tmp_path / "outbox")
    maya_and_sam(shop)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2  # Maya's and Sam's
    store.load_many(["c1", "m2"])  # decoded carts and address digests remembered in memory
    assert decoded_cart.cache_info().currsize and store.email_digest.cache_info().currsize
    # When Maya is forgotten
    done = shop.service.forget(" maya.lind@EXAMPLE.com", ny(12, 16))
    # Then the store's memory keeps none of them (nor anyone else's: they are only speed-ups)
    assert decoded_cart.cache_info().currsize == 0
    assert store.email_digest.cache_info().currsize == 0
    store.close()
    # and no table holds her address, name, item or return link, in any case or form
    traces = ("maya", "lind", "teapot", "maya-1")
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"carts", "sends", "audit", "events", "unsubscribes", "clicks"} <= set(tables)
        dump = []
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    dump.append(str(value).casefold())
    text = "\n".join(dump)
    assert not [t for t in traces if t in text]
    # and not in the database file either (erased pages are overwritten)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*")).lower()
    assert not [t for t in traces if t.encode() in on_disk]
    # nor in the outbox, where only Sam's reminder is left
    [left_over] = (tmp_path / "outbox").glob("*.eml")
    assert b"sam@example.com" in left_over.read_bytes()
    # while Sam, the counts and the outcomes are all still there
    assert "sam@example.com" in text and "sam okafor" in text
    again = SqliteStore(tmp_path / "db.sqlite3", email_key=EmailKey.from_signing_key(SIGNING_KEY))
    c1, sends = again.load("c1")
    assert c1 is not None and c1.status is Status.BOUGHT and c1.total == 120
    assert [(s.step, s.outcome) for s in sends] == [(1, Outcome.SENT)]
    assert again.load("m2")[0].close_reason == "suppressed"  # type: ignore[union-attr]
    assert again.clicks_for(["c1"]) == {"c1": [(1, ny(12, 13))]}
    assert sorted(done.cart_ids) == ["c1", "m2"]
    # and the address stays unsubscribed
    assert again.is_unsubscribed("maya.lind@example.com")
    again.close()


def test_a_forgotten_shopper_who_comes_back_is_never_emailed(shop: Shop) -> None:
    # Given Maya forgotten
    maya_and_sam(shop)
    shop.service.forget("maya.lind@example.com", ny(12, 16), by="owner")
    # When she leaves a new cart with the same address
    shop.replay.feed(
        [left(cart_id="m3", event_id="m3", occurred_at=ny(14, 10), email="maya.lind@example.com")]
    )
    out = shop.run(ny(20, 0))
    # Then it is skipped as unsubscribed
    assert not [h for h in out if isinstance(h, Sent) and h.cart_id == "m3"]
    _, sends = shop.store.load("m3")
    assert [(s.step, s.outcome, s.reason) for s in sends] == [
        (1, Outcome.SKIPPED, "unsubscribed"),
        (2, Outcome.SKIPPED, "unsubscribed"),
    ]


def test_forget_is_audited_per_cart_without_the_address(shop: Shop) -> None:
    maya_and_sam(shop)
    shop.service.forget("maya.lind@example.com", ny(12, 16), by="owner")
    for cart_id in ("c1", "m2"):
        row = shop.store.audit(cart_id)[-1]
        assert (row.action, row.by, row.at) == ("forgotten", "owner", ny(12, 16))
        assert row.before is not None and row.before["email"] is None
        assert row.after is not None and row.after["status"] == row.before["status"]


def test_forget_refuses_something_that_is_not_an_address(shop: Shop) -> None:
    with pytest.raises(ActionRefused, match="not an email address") as e:
        shop.service.forget("maya", ny(12, 16))
    assert e.value.code == "bad_address"


def test_export_shopper_gives_their_carts_events_sends_clicks_and_status(shop: Shop) -> None:
    # Given Maya's two carts and Sam's
    maya_and_sam(shop)
    # When her data is exported
    data = shop.service.export_shopper("MAYA.LIND@example.com", ny(12, 17), via="dashboard")
    # Then it holds her carts only, with everything recorded about them
    assert data["email"] == "maya.lind@example.com" and data["unsubscribed"] is False
    assert data["suppressed"] is None
    assert data["exported_at"] == "2026-05-12T21:00:00Z"
    by_id = {c["cart_id"]: c for c in data["carts"]}
    assert set(by_id) == {"c1", "m2"}
    c1 = by_id["c1"]
    assert (c1["status"], c1["email"], c1["name"]) == (
        "bought",
        "Maya.Lind@Example.com",
        "Maya Lind",
    )
    assert c1["items"][0]["title"] == "Heirloom teapot"
    assert [e["type"] for e in c1["events"]] == ["cart.updated", "cart.checked_out"]
    assert c1["reminders"] == [
        {
            "step": 1,
            "outcome": "sent",
            "at": "2026-05-12T16:00:00Z",
            "recipient": "Maya.Lind@Example.com",
            "reason": None,
            "message_id": c1["reminders"][0]["message_id"],
            "failed_attempts": 0,
        }
    ]
    assert c1["clicks"] == [{"step": 1, "at": "2026-05-12T17:00:00Z"}]
    assert [h["action"] for h in by_id["m2"]["history"]][-1] == "suppressed"
    # and the export itself is audited on each cart
    for cart_id in ("c1", "m2"):
        row = shop.store.audit(cart_id)[-1]
        assert (row.action, row.by) == ("exported", "owner")
        assert row.detail == "the shopper's data was exported (dashboard)"
    # After a forget, an export finds nothing personal but still says unsubscribed
    shop.service.forget("maya.lind@example.com", ny(12, 18))
    again = shop.service.export_shopper("maya.lind@example.com", ny(12, 19))
    assert again["carts"] == [] and again["unsubscribed"] is True
    assert again["suppressed"] == {"source": "owner", "reason": None, "at": "2026-05-12T22:00:00Z"}


def test_export_refuses_something_that_is_not_an_address(shop: Shop) -> None:
    with pytest.raises(ActionRefused, match="not an email address"):
        shop.service.export_shopper("", ny(12, 16))
