"""Wake-ups fired in batches (``Service.wake_many``, the embedded timer loop's path): every claim
is durable before its email leaves, one cart's trouble never holds up the others, and an address
is mailed at most once per batch so the do-not-disturb gate still sees every send."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.mail import MailError, MemoryMailer
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import CHECKED_OUT, Outcome
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.embedded.timers import TimerLoop
from cart_recovery.ports import BatchWrites
from cart_recovery.service import MailFailed, Sent, Service, Skipped
from cart_recovery.service.waking import WAKE_CHUNK
from tests.conftest import T0, make_event

DUE = T0 + timedelta(hours=3)  # a $120 cart's first reminder (2 hours) is due


class SpyMailer(MemoryMailer):
    """Looks at the database through its own connection each time a message is handed over."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.seen: list[tuple[str, str | None]] = []  # (To, committed outcome of its step)
        self.claimed: list[int] = []  # committed claims not yet recorded, at each hand-over
        self.fail_for: set[str] = set()
        self.explode_for: set[str] = set()

    def send(self, message: Any) -> None:
        to = message.to
        with sqlite3.connect(self.path) as other:
            row = other.execute(
                "SELECT outcome FROM sends WHERE recipient = ? AND step = 1", (to,)
            ).fetchone()
            claimed = other.execute("SELECT count(*) FROM sends WHERE outcome = 'claimed'")
            self.claimed.append(int(claimed.fetchone()[0]))
        self.seen.append((to, None if row is None else row[0]))
        if to in self.explode_for:
            raise RuntimeError("the mailer broke")
        if to in self.fail_for:
            raise MailError("mailbox full", code=452)
        super().send(message)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Service, SqliteStore, SpyMailer]]:
    path = tmp_path / "db.sqlite3"
    store = SqliteStore(path)
    mailer = SpyMailer(path)
    service = in_memory(store=store, mailer=mailer, signing_key="test-signing-key-0123456789")
    yield service, store, mailer
    store.close()


def seed(service: Service, carts: list[tuple[str, str]]) -> None:
    for n, (cart_id, address) in enumerate(carts):
        event = make_event(
            event_id=f"e{n}", cart_id=cart_id, email=address, timezone="America/New_York"
        )
        service.ingest(event, T0 + timedelta(seconds=1))


def test_every_claim_is_committed_before_any_email_of_the_batch_leaves(world: Any) -> None:
    service, store, mailer = world
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(5)])

    batch = service.wake_many([f"c{i}" for i in range(5)], DUE, store.group)

    # another connection saw each step claimed (committed) when its message was handed over
    assert [outcome for _, outcome in mailer.seen] == ["claimed"] * 5
    assert sorted(h.cart_id for h in batch.happenings if isinstance(h, Sent)) == [
        f"c{i}" for i in range(5)
    ]
    assert {store.load(f"c{i}")[1][0].outcome for i in range(5)} == {Outcome.SENT}
    # and each cart waits for its second reminder
    assert store.pending() == 5 and store.next_due() is not None and store.next_due() > DUE


def test_a_crash_mid_batch_can_leave_at_most_one_chunk_of_claims_unrecorded(world: Any) -> None:
    service, store, mailer = world
    n = 3 * WAKE_CHUNK + 5
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(n)])

    batch = service.wake_many([f"c{i}" for i in range(n)], DUE, store.group)

    assert len([h for h in batch.happenings if isinstance(h, Sent)]) == n
    # every message left with its own claim committed, and never more than a chunk's claims
    # unrecorded: what a SIGKILL at that moment would leave uncertain
    assert [outcome for _, outcome in mailer.seen] == ["claimed"] * n
    assert max(mailer.claimed) == WAKE_CHUNK
    assert mailer.claimed[:WAKE_CHUNK] == [WAKE_CHUNK] * WAKE_CHUNK
    assert mailer.claimed[-1] == n % WAKE_CHUNK
    assert store.pending() == n


class SyncSpy:
    """Wraps a store's ``sync``: the claims committed when each sync began are durable once
    it returns (or the sync fails, and none of them is)."""

    def __init__(self, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.durable: set[str] = set()
        self.fail = False
        real = store.sync

        def sync() -> None:
            with sqlite3.connect(store.path) as other:
                committed = {
                    r[0]
                    for r in other.execute("SELECT recipient FROM sends WHERE outcome = 'claimed'")
                }
            if self.fail:
                raise OSError(5, "Input/output error")
            real()
            self.durable |= committed

        monkeypatch.setattr(store, "sync", sync)


def test_no_message_leaves_before_the_sync_that_covers_its_claim(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, store, mailer = world
    n = 2 * WAKE_CHUNK + 3
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(n)])
    spy = SyncSpy(store, monkeypatch)
    durable_at_handover: list[bool] = []
    handed = mailer.send

    def send(message: Any) -> None:
        durable_at_handover.append(message.to in spy.durable)
        handed(message)

    monkeypatch.setattr(mailer, "send", send)

    batch = service.wake_many([f"c{i}" for i in range(n)], DUE, store.group)

    assert len([h for h in batch.happenings if isinstance(h, Sent)]) == n
    assert durable_at_handover == [True] * n


def test_a_failed_sync_sends_nothing_it_covered(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, store, mailer = world
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(5)])
    spy = SyncSpy(store, monkeypatch)
    spy.fail = True

    with pytest.raises(OSError, match="Input/output error"):
        service.wake_many([f"c{i}" for i in range(5)], DUE, store.group)

    # claimed (so never sent twice: start-up turns them into ``uncertain``), none handed over
    assert mailer.seen == []
    assert {store.load(f"c{i}")[1][0].outcome for i in range(5)} == {Outcome.CLAIMED}


def test_a_second_cart_of_an_address_waits_for_the_next_batch_and_is_not_mailed(
    world: Any,
) -> None:
    service, store, mailer = world
    seed(service, [("a", "sam@example.com"), ("b", "sam@example.com"), ("c", "kim@example.com")])

    first = service.wake_many(["a", "b", "c"], DUE, store.group)
    assert first.later == ["b"] and sorted(first.fired) == ["a", "c"]

    second = service.wake_many(first.later, DUE, store.group)
    assert [(h.cart_id, h.reason) for h in second.happenings if isinstance(h, Skipped)] == [
        ("b", "do_not_disturb")
    ]
    assert sorted(to for to, _ in mailer.seen) == ["kim@example.com", "sam@example.com"]


def test_one_failing_cart_does_not_hold_up_the_batch(world: Any) -> None:
    service, store, mailer = world
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(4)])
    mailer.fail_for = {"shopper1@example.com"}  # a mail error: retried later
    mailer.explode_for = {"shopper2@example.com"}  # not a mail error: the claim stays

    batch = service.wake_many([f"c{i}" for i in range(4)], DUE, store.group)

    assert sorted(h.cart_id for h in batch.happenings if isinstance(h, Sent)) == ["c0", "c3"]
    [failed] = [h for h in batch.happenings if isinstance(h, MailFailed)]
    assert failed.cart_id == "c1" and failed.retry_at is not None
    assert [(cart_id, str(e)) for cart_id, e in batch.errors] == [("c2", "the mailer broke")]
    assert store.load("c1")[1][0].outcome is Outcome.DEFERRED
    assert store.load("c2")[1][0].outcome is Outcome.CLAIMED  # uncertain after a restart
    [record] = service.recover(DUE + timedelta(minutes=1))
    assert (record.cart_id, record.outcome) == ("c2", Outcome.UNCERTAIN)


def test_the_timer_loop_finishes_the_batch_then_raises_the_first_error(world: Any) -> None:
    service, store, mailer = world
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(3)])
    mailer.explode_for = {"shopper0@example.com"}
    errors: list[int] = []
    loop = TimerLoop(service, store, VirtualClock(DUE), batch=10)
    loop.on_error = lambda: errors.append(1)

    with pytest.raises(RuntimeError, match="the mailer broke"):
        loop.run_due(DUE)

    assert errors == [1] and loop.fired == 3
    assert sorted(to for to, _ in mailer.seen) == [f"shopper{i}@example.com" for i in range(3)]
    assert len(mailer.sent) == 2


def change_after_read_ahead(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, change: Callable[[], object]
) -> None:
    """Something happens to the carts just after the first chunk was read ahead, before its
    claims: an event arriving mid-batch."""
    load_many = store.load_many
    pending = [change]

    def read_then_change(cart_ids: Any) -> Any:
        loaded = load_many(cart_ids)
        while pending:
            pending.pop()()
        return loaded

    monkeypatch.setattr(store, "load_many", read_then_change)


def test_a_cart_changed_after_it_was_read_ahead_is_decided_afresh(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, store, mailer = world
    seed(service, [("a", "old@example.com"), ("b", "kim@example.com")])
    moved = make_event(
        event_id="e-moved",
        cart_id="a",
        email="new@example.com",
        occurred_at=T0 + timedelta(minutes=10),
        timezone="America/New_York",
    )
    change_after_read_ahead(
        store, monkeypatch, lambda: service.ingest(moved, T0 + timedelta(minutes=11))
    )

    batch = service.wake_many(["a", "b"], DUE, store.group)

    # the message composed for the old address never leaves: the new one is mailed
    assert sorted(to for to, _ in mailer.seen) == ["kim@example.com", "new@example.com"]
    assert sorted(h.cart_id for h in batch.happenings if isinstance(h, Sent)) == ["a", "b"]
    assert store.load("a")[1][0].recipient == "new@example.com"


def test_a_cart_bought_after_it_was_read_ahead_is_not_mailed(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, store, mailer = world
    seed(service, [("a", "maya@example.com"), ("b", "kim@example.com")])
    bought = make_event(
        event_id="e-bought",
        type=CHECKED_OUT,
        cart_id="a",
        occurred_at=T0 + timedelta(minutes=10),
        timezone="America/New_York",
    )
    change_after_read_ahead(
        store, monkeypatch, lambda: service.ingest(bought, T0 + timedelta(minutes=11))
    )

    batch = service.wake_many(["a", "b"], DUE, store.group)

    assert [to for to, _ in mailer.seen] == ["kim@example.com"]
    assert [h.cart_id for h in batch.happenings if isinstance(h, Sent)] == ["b"]
    assert store.load("a")[1] == []


def test_a_store_without_batch_writes_wakes_one_chunk_at_a_time() -> None:
    store = MemoryStore()
    mailer = MemoryMailer()
    service = in_memory(store=store, mailer=mailer, signing_key="test-signing-key-0123456789")
    seed(service, [(f"c{i}", f"shopper{i}@example.com") for i in range(WAKE_CHUNK + 3)])
    assert not isinstance(store, BatchWrites)

    batch = service.wake_many([f"c{i}" for i in range(WAKE_CHUNK + 3)], DUE, store.group)

    assert len([h for h in batch.happenings if isinstance(h, Sent)]) == WAKE_CHUNK + 3
    assert len(mailer.sent) == WAKE_CHUNK + 3
