"""Group commit for the webhook: many requests, few transactions, each answered after its
commit, a bad event failing only its own request."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import msgspec
import pytest

from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.domain.cart import EventError
from cart_recovery.embedded.ingest import IngestQueue
from tests.conftest import T0, make_event
from tests.integration.test_service import World


def test_concurrent_events_share_commits_and_all_land(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    world = World(store)
    q = IngestQueue(world.service, store, max_batch=64)

    async def main() -> list[bool | BaseException]:
        events = [make_event(cart_id=f"c{i}", event_id=f"e{i}") for i in range(300)]
        events.append(make_event(cart_id="c0", event_id="e0"))  # a redelivery
        bad = msgspec.structs.replace(
            make_event(cart_id="bad", event_id="x"), timezone="Mars/Olympus"
        )
        events.append(bad)
        return await asyncio.gather(*(q.ingest(e, T0) for e in events), return_exceptions=True)

    results = asyncio.run(main())
    q.stop()
    assert results[:300] == [True] * 300
    assert results[300] is False
    assert isinstance(results[301], EventError)
    assert store.count("carts") == 300 and store.load("bad")[0] is None
    assert q.events == 302 and q.batches < q.events
    store.close()


def test_the_queue_stops_cleanly_and_restarts_on_demand(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    q = IngestQueue(World(store).service, store)
    assert asyncio.run(q.ingest(make_event(), T0)) is True
    q.stop()
    assert asyncio.run(q.ingest(make_event(event_id="e2"), T0)) is True
    q.stop()
    assert store.count("carts") == 1 and store.count("events") == 2
    store.close()


def test_a_batch_is_answered_only_after_the_sync_that_follows_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    entered, release = threading.Event(), threading.Event()
    sync = store.sync

    def held_sync() -> None:
        entered.set()
        release.wait(30)
        sync()

    monkeypatch.setattr(store, "sync", held_sync)
    q = IngestQueue(World(store).service, store)

    async def main() -> bool:
        task = asyncio.ensure_future(q.ingest(make_event(), T0))
        assert await asyncio.to_thread(entered.wait, 30)
        for _ in range(5):  # let any answer already on its way arrive
            await asyncio.sleep(0)
        # committed (the sync left for later), and not answered while the sync is under way
        assert store.count("events") == 1
        assert not task.done()
        release.set()
        return await task

    assert asyncio.run(main()) is True
    q.stop()
    # the commit left out its sync; the connection's other writes still sync (FULL = 2)
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    store.close()


def test_a_failed_sync_fails_every_request_it_covered_and_the_queue_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    sync = store.sync
    failures = [OSError("disk gone")]

    def failing_sync() -> None:
        if failures:
            raise failures.pop()
        sync()

    monkeypatch.setattr(store, "sync", failing_sync)
    q = IngestQueue(World(store).service, store)
    with pytest.raises(OSError, match="disk gone"):
        asyncio.run(q.ingest(make_event(), T0))
    # the storefront's redelivery finds the event stored: a duplicate, answered after a sync
    assert asyncio.run(q.ingest(make_event(), T0)) is False
    assert asyncio.run(q.ingest(make_event(cart_id="c2", event_id="e2"), T0)) is True
    q.stop()
    store.close()
