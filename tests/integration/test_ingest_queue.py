"""Group commit for the webhook: many requests, few transactions, each answered after its
commit, a bad event failing only its own request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

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
