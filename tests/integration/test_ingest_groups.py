"""A webhook group applied with a few statements (``Service.ingest_many`` over the SQLite
store's ``BatchIntake``) writes exactly the rows the one-at-a-time intake writes, answers each
event as it would, and falls back to one at a time when the group's write fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.domain.cart import EventError
from cart_recovery.domain.model import CHECKED_OUT, SAVED, CartEvent, Item, Outcome
from cart_recovery.ports import StaleCart
from tests.conftest import T0, make_event
from tests.integration.test_service import World

TABLES = {
    "events": "SELECT * FROM events ORDER BY cart_id, event_id",
    "carts": "SELECT * FROM carts ORDER BY cart_id",
    "audit": "SELECT * FROM audit ORDER BY id",
    "timers": "SELECT * FROM timers ORDER BY cart_id",
    "sends": "SELECT * FROM sends ORDER BY cart_id, step",
}


def rows(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        conn.close()


def ev(cart: str, event_id: str, minutes: int = 0, **over: Any) -> CartEvent:
    return make_event(
        cart_id=cart,
        event_id=event_id,
        occurred_at=T0 + timedelta(minutes=minutes),
        email=f"{cart}@example.com",
        return_url=f"https://shop.example/cart/{cart}",
        **over,
    )


def seeded(path: Path) -> tuple[SqliteStore, World]:
    """A store with cart ``old`` whose first reminder went out (so it has a send)."""
    store = SqliteStore(path)
    world = World(store)
    assert world.service.ingest(ev("old", "o1", timezone="America/New_York"), T0) is True
    assert store.claim_send("old", 1, "old@example.com", T0 + timedelta(hours=2)).name == "CLAIMED"
    store.finish_send(
        "old", 1, Outcome.SENT, at=T0 + timedelta(hours=2), message_id="<m1@example.com>"
    )
    return store, world


def groups() -> list[list[tuple[CartEvent, datetime]]]:
    later = T0 + timedelta(hours=3)
    bad = msgspec.structs.replace(ev("bad", "b1"), timezone="Mars/Olympus")
    return [
        [
            (ev("a", "a1"), T0),
            (ev("a", "a2", 5, name="Ana"), T0),  # the same cart again in the group
            (ev("b", "b1", items=()), T0),  # an empty cart: no wake-up
            (bad, T0),
            (ev("a", "a1"), T0),  # a redelivery within the group
            (ev("c", "c1", type=SAVED), T0),
            (ev("old", "o2", 10, timezone="America/New_York"), later),  # has a send already
        ],
        [
            (ev("a", "a1"), later),  # a redelivery in a later group
            (ev("a", "a0", -5), later),  # older than what the cart has seen: ignored, kept
            (ev("c", "c2", 20, type=CHECKED_OUT), later),  # bought: timer cancelled
            (ev("c", "c3", 30), later),  # after the purchase: ignored
            (
                ev("d", "d1", items=(Item(title="Big", quantity=2, unit_price=Decimal("400")),)),
                later,
            ),
            (ev("b", "b2", 40), later),  # no longer empty: a wake-up now
        ],
    ]


def answers(results: Sequence[bool | Exception]) -> list[Any]:
    return [type(r).__name__ + str(r) if isinstance(r, Exception) else r for r in results]


def test_a_group_writes_what_one_at_a_time_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, one_world = seeded(tmp_path / "one.sqlite3")
    many, many_world = seeded(tmp_path / "many.sqlite3")
    singles = []  # the group's own write, never the fallback of one event at a time
    monkeypatch.setattr(many, "apply_event", lambda *a, **k: singles.append(a))
    expected: list[list[Any]] = []
    got: list[list[Any]] = []
    for group in groups():
        with one.group():
            results: list[bool | Exception] = []
            for event, now in group:
                try:
                    results.append(one_world.service.ingest(event, now))
                except Exception as e:
                    results.append(e)
            expected.append(answers(results))
        with many.group():
            got.append(answers(many_world.service.ingest_many(group)))
    assert got == expected
    assert singles == []
    assert expected[0][3].startswith("EventError") and expected[0][4] is False
    assert expected[1][0] is False
    one.close()
    many.close()
    assert rows(tmp_path / "many.sqlite3") == rows(tmp_path / "one.sqlite3")


@pytest.mark.parametrize("failure", ["stale", "unreported_redelivery"])
def test_a_failed_group_write_is_rolled_back_and_applied_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    one, one_world = seeded(tmp_path / "one.sqlite3")
    many, many_world = seeded(tmp_path / "many.sqlite3")
    first, second = groups()
    for store, world in ((one, one_world), (many, many_world)):
        with store.group():
            world.service.ingest_many(first)
    if failure == "stale":  # the group's write refused as a whole

        def refuse(writes: Any) -> None:
            raise StaleCart("a cart of the group changed")

        monkeypatch.setattr(many, "apply_events", refuse)
    else:  # a processed event the reads missed: the group's insert breaks the key mid-way
        reads = many.intake_reads
        monkeypatch.setattr(many, "intake_reads", lambda keys: (reads(keys)[0], set()))
    with one.group():
        expected: list[bool | Exception] = []
        for event, now in second:
            try:
                expected.append(one_world.service.ingest(event, now))
            except EventError as e:
                expected.append(e)
    with many.group():
        got = many_world.service.ingest_many(second)
    assert answers(got) == answers(expected) and got[0] is False
    one.close()
    many.close()
    assert rows(tmp_path / "many.sqlite3") == rows(tmp_path / "one.sqlite3")
