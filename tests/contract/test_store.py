"""The CartStore + WakeQueue contract, run against every adapter (memory, SQLite, DynamoDB)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import MIGRATIONS, SqliteStore
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import AuditEntry, Outcome, SendRecord, Status
from cart_recovery.domain.timers import CancelTimers, DeferSend, SetWake, TimerKind
from cart_recovery.ports import BatchReads, BatchWrites, Claim, StaleCart
from tests.aws.services import contract_store
from tests.conftest import T0, at, make_cart, make_event, sent


@pytest.fixture(params=["memory", "sqlite", pytest.param("dynamodb", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "dynamodb":
        with contract_store(request.getfixturevalue("dynamodb_local")) as s:
            yield s
    else:
        s = SqliteStore(tmp_path / "db.sqlite3")
        yield s
        s.close()


def put(store: Any, **over: Any) -> None:
    cart = make_cart(**over)
    event = make_event(cart_id=cart.cart_id, event_id=f"create-{cart.cart_id}")
    assert store.apply_event(
        event, cart=cart, expected_version=None, audit=None, timer=SetWake(at(hours=2)), now=T0
    )


def test_new_cart_round_trips_with_version_zero(store: Any) -> None:
    put(store)
    cart, sends = store.load("c1")
    assert cart == msgspec.structs.replace(make_cart(), version=0)
    assert sends == []


def test_redelivered_event_is_a_no_op(store: Any) -> None:
    put(store)
    again = store.apply_event(
        make_event(event_id="create-c1"),
        cart=make_cart(email="x@y.z"),
        expected_version=0,
        audit=None,
        timer=None,
        now=T0,
    )
    assert again is False
    cart, _ = store.load("c1")
    assert cart is not None and cart.email == "maya@example.com" and cart.version == 0


def test_same_event_id_on_another_cart_is_a_different_event(store: Any) -> None:
    put(store)
    put(store, cart_id="c2")
    assert store.load("c2")[0] is not None


def test_stale_write_is_refused_and_writes_nothing(store: Any) -> None:
    put(store)
    with pytest.raises(StaleCart):
        store.apply_event(
            make_event(event_id="e9"),
            cart=make_cart(name="Z"),
            expected_version=5,
            audit=None,
            timer=None,
            now=T0,
        )
    cart, _ = store.load("c1")
    assert cart is not None and cart.name == "Maya"
    # and the event id was not recorded, so a retry can still apply it
    assert store.apply_event(
        make_event(event_id="e9"),
        cart=make_cart(name="Z"),
        expected_version=0,
        audit=None,
        timer=None,
        now=T0,
    )


def test_versions_count_writes(store: Any) -> None:
    put(store)
    stored = store.save_cart(
        make_cart(status=Status.CLOSED), expected_version=0, audit=None, timer=CancelTimers()
    )
    assert stored.version == 1
    with pytest.raises(StaleCart):
        store.set_timer("c1", SetWake(at(hours=3)), expected_version=0)


def test_one_timer_per_cart_and_setting_it_again_reschedules(store: Any) -> None:
    put(store)
    store.set_timer("c1", SetWake(at(hours=5)), expected_version=0)
    assert store.pending() == 1
    assert store.due(at(hours=4), 10) == []
    [timer] = store.due(at(hours=5), 10)
    assert timer.due == at(hours=5) and timer.kind is TimerKind.WAKE


def test_a_fired_timer_stays_until_replaced(store: Any) -> None:
    put(store)
    assert len(store.due(at(hours=2), 10)) == 1
    assert len(store.due(at(hours=2), 10)) == 1
    store.set_timer("c1", CancelTimers(), expected_version=0)
    assert store.due(at(hours=9), 10) == [] and store.next_due() is None


def test_due_order_is_time_then_cart_id(store: Any) -> None:
    for cid, h in (("b", 1), ("a", 1), ("c", 0.5)):
        put(store, cart_id=cid)
        store.set_timer(cid, SetWake(at(hours=h)), expected_version=0)
    assert [t.cart_id for t in store.due(at(hours=3), 10)] == ["c", "a", "b"]
    assert [t.cart_id for t in store.due(at(hours=3), 2)] == ["c", "a"]
    assert store.next_due() == at(hours=0.5)


def test_deferral_replaces_the_wake_up(store: Any) -> None:
    put(store)
    record = SendRecord(
        cart_id="c1", step=1, outcome=Outcome.DEFERRED, at=at(hours=2), due=at(hours=12)
    )
    assert store.record_send(record, timer=DeferSend(1, at(hours=12)))
    [timer] = store.due(at(hours=12), 10)
    assert timer.kind is TimerKind.SEND and timer.step == 1 and store.pending() == 1


def test_claim_is_exclusive(store: Any) -> None:
    put(store)
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.CLAIMED
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.ALREADY
    store.finish_send("c1", 1, Outcome.SENT, at=at(hours=2), message_id="<m>")
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=3)) is Claim.ALREADY
    _, sends = store.load("c1")
    assert [(s.step, s.outcome, s.message_id) for s in sends] == [(1, Outcome.SENT, "<m>")]


def test_claim_is_exclusive_across_threads(store: Any) -> None:
    put(store)
    results: list[Claim] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        results.append(store.claim_send("c1", 1, "maya@example.com", at(hours=2)))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Claim.CLAIMED) == 1


def test_claim_over_a_deferral(store: Any) -> None:
    put(store)
    store.record_send(
        SendRecord(
            cart_id="c1", step=1, outcome=Outcome.DEFERRED, at=at(hours=2), due=at(hours=12)
        ),
        timer=None,
    )
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=12)) is Claim.CLAIMED


def test_failed_mail_attempts_are_kept_with_the_step_and_a_send_clears_them(store: Any) -> None:
    # Given a claimed step whose mail failed twice
    put(store)
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.CLAIMED
    store.finish_send(
        "c1", 1, Outcome.DEFERRED, at=at(hours=2), reason="mail_error", due=at(hours=3), attempts=2
    )
    # Then a later load (another process) sees the two attempts
    _, [record] = store.load("c1")
    assert (record.outcome, record.attempts) == (Outcome.DEFERRED, 2)
    # When it is claimed again and sent
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=3)) is Claim.CLAIMED
    store.finish_send("c1", 1, Outcome.SENT, at=at(hours=3), message_id="<m>")
    # Then the count is cleared
    _, [record] = store.load("c1")
    assert (record.outcome, record.attempts) == (Outcome.SENT, 0)


def test_claim_refused_for_bought_cart_and_unsubscribed_address(store: Any) -> None:
    put(store)
    put(store, cart_id="c2", email="Jo@Example.com")
    store.save_cart(make_cart(status=Status.BOUGHT), expected_version=0, audit=None, timer=None)
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.STOPPED
    assert store.claim_send("nope", 1, "maya@example.com", at(hours=2)) is Claim.STOPPED
    assert store.unsubscribe("jo@example.COM", source="shopper", at=at(hours=1))
    assert store.claim_send("c2", 1, "Jo@Example.com", at(hours=2)) is Claim.UNSUBSCRIBED


def test_unsubscribe_is_forever_and_audited_per_cart(store: Any) -> None:
    put(store, email="Jo@Example.com")
    assert store.unsubscribe("jo@example.com", source="shopper", at=at(hours=1))
    assert not store.unsubscribe("JO@example.com", source="owner", at=at(hours=2))
    assert store.is_unsubscribed(" jo@EXAMPLE.com ")
    [row] = store.audit("c1")
    assert row.action == "unsubscribed" and row.by == "shopper"


def test_record_send_never_overwrites_a_done_or_claimed_step(store: Any) -> None:
    put(store)
    store.claim_send("c1", 1, "maya@example.com", at(hours=2))
    skip = SendRecord(
        cart_id="c1", step=1, outcome=Outcome.SKIPPED, at=at(hours=2), reason="do_not_disturb"
    )
    assert store.record_send(skip, timer=None) is False
    assert store.load("c1")[1][0].outcome is Outcome.CLAIMED


@pytest.mark.parametrize(
    "later",
    [SetWake(at(hours=30)), DeferSend(step=1, at=at(hours=9))],
    ids=["next wake-up", "deferral"],
)
def test_a_send_finished_after_its_cart_closed_sets_no_timer(store: Any, later: Any) -> None:
    # Given a claimed step, then the cart closed by the owner (its timer cancelled)
    put(store)
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.CLAIMED
    store.save_cart(
        make_cart(status=Status.CLOSED), expected_version=0, audit=None, timer=CancelTimers()
    )
    # When the sender finishes the step with the cart's next timer
    store.finish_send("c1", 1, Outcome.SENT, at=at(hours=2), timer=later)
    # Then the send is recorded and nothing is pending for the closed cart
    assert store.load("c1")[1][0].outcome is Outcome.SENT
    assert store.pending() == 0 and store.next_due() is None


def test_a_send_recorded_for_a_bought_cart_sets_no_timer(store: Any) -> None:
    # Given a cart bought after its wake-up fired
    put(store)
    store.save_cart(
        make_cart(status=Status.BOUGHT), expected_version=0, audit=None, timer=CancelTimers()
    )
    # When a gate's skip is recorded with the cart's next wake-up
    skip = SendRecord(
        cart_id="c1", step=1, outcome=Outcome.SKIPPED, at=at(hours=2), reason="no_email"
    )
    assert store.record_send(skip, timer=SetWake(at(hours=30))) is True
    # Then the skip is recorded, and no wake-up is set for the bought cart
    assert store.load("c1")[1][0].outcome is Outcome.SKIPPED
    assert store.pending() == 0 and store.next_due() is None


def test_sent_to_finds_recent_sends_case_insensitively(store: Any) -> None:
    put(store, email="Maya@Example.com")
    store.claim_send("c1", 1, "Maya@Example.com", at(hours=2))
    store.finish_send("c1", 1, Outcome.SENT, at=at(hours=2))
    assert [s.cart_id for s in store.sent_to("maya@example.com", at(hours=1))] == ["c1"]
    assert store.sent_to("maya@example.com", at(hours=3)) == []


def test_sent_between_counts_the_reminders_that_went_out_in_the_window(store: Any) -> None:
    # Given a sent reminder at 2h and 5h, a claimed one, a skipped one and a failed attempt
    put(store)
    put(store, cart_id="c2", email="jo@example.com")
    put(store, cart_id="c3", email="al@example.com")
    store.claim_send("c1", 1, "maya@example.com", at(hours=2))
    store.finish_send("c1", 1, Outcome.SENT, at=at(hours=2))
    store.claim_send("c2", 1, "jo@example.com", at(hours=3))
    store.finish_send("c2", 1, Outcome.DEFERRED, at=at(hours=3), due=at(hours=4), attempts=1)
    store.claim_send("c2", 1, "jo@example.com", at(hours=5))
    store.finish_send("c2", 1, Outcome.SENT, at=at(hours=5))
    store.claim_send("c1", 2, "maya@example.com", at(hours=6))
    store.record_send(sent(1, at(hours=4), "c3", "al@example.com", Outcome.SKIPPED), timer=None)
    # Then only the sent ones count, by when they went, end excluded
    assert store.sent_between(at(), at(days=1)) == 2
    assert store.sent_between(at(hours=2), at(hours=5)) == 1
    assert store.sent_between(at(hours=3), at(hours=5, microseconds=1)) == 1
    assert store.sent_between(at(hours=6), at(days=1)) == 0
    # and a send whose address was erased since still counts
    store.forget("maya@example.com", by="owner", at=at(hours=7))
    assert store.sent_between(at(), at(days=1)) == 2


def test_resolve_claims_makes_them_uncertain(store: Any) -> None:
    put(store)
    store.claim_send("c1", 1, "maya@example.com", at(hours=2))
    [record] = store.resolve_claims(at(hours=3))
    assert record.outcome is Outcome.UNCERTAIN
    assert store.load("c1")[1][0].outcome is Outcome.UNCERTAIN
    assert store.claim_send("c1", 1, "maya@example.com", at(hours=4)) is Claim.ALREADY
    assert [a.action for a in store.audit("c1")] == ["uncertain"]


def test_audit_rows_keep_before_and_after(store: Any) -> None:
    cart = make_cart()
    entry = AuditEntry(
        cart_id="c1",
        at=T0,
        by="system",
        action="created",
        before=None,
        after={"cart_id": "c1", "status": "open"},
    )
    store.apply_event(
        make_event(), cart=cart, expected_version=None, audit=entry, timer=None, now=T0
    )
    assert store.audit("c1") == [entry]


def test_sqlite_schema_2_gains_the_attempts_column_and_keeps_its_sends(tmp_path: Path) -> None:
    # Given a database at schema 2 with a deferred step
    path = tmp_path / "v2.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.create_function("cr_email_key", 1, lambda v: v)
        conn.executescript(MIGRATIONS[0])
        conn.executescript(MIGRATIONS[1])
        conn.execute(
            "INSERT INTO sends (cart_id, step, outcome, at, reason) "
            "VALUES ('c1', 1, 'deferred', 0, 'mail_error')"
        )
        conn.execute("PRAGMA user_version = 2")
    # When this version opens it
    store = SqliteStore(path)
    # Then it is at the newest schema and the step is there, with no attempts counted
    assert store.schema_version == len(MIGRATIONS)
    _, [record] = store.load("c1")
    assert (record.outcome, record.reason, record.attempts) == (Outcome.DEFERRED, "mail_error", 0)
    store.close()


def test_sqlite_survives_reopen_with_timers(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "db.sqlite3")
    put(s)
    s.close()
    again = SqliteStore(tmp_path / "db.sqlite3")
    assert again.next_due() == at(hours=2)
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_report_queries_by_time(store: Any) -> None:
    put(store, cart_id="early", created_at=at(hours=-30))
    put(store, cart_id="today", created_at=at(hours=1))
    assert [c.cart_id for c in store.carts_between(at(hours=0), at(hours=24))] == ["today"]
    # an old cart written today (e.g. bought) counts as touched today
    store.save_cart(
        make_cart(cart_id="early", created_at=at(hours=-30), status=Status.BOUGHT),
        expected_version=0,
        audit=AuditEntry(cart_id="early", at=at(hours=2), by="system", action="checked_out"),
        timer=CancelTimers(),
    )
    assert store.touched_between(at(hours=0), at(hours=24)) == ["early", "today"]
    assert store.unsubscribes_between(at(hours=0), at(hours=24)) == 0
    store.unsubscribe("a@example.com", source="shopper", at=at(hours=3))
    store.unsubscribe("b@example.com", source="shopper", at=at(hours=30))
    assert store.unsubscribes_between(at(hours=0), at(hours=24)) == 1


def test_group_commit_keeps_each_write_atomic_on_its_own(store: Any) -> None:
    if not hasattr(store, "group"):
        pytest.skip("group commit is an optional capability (GroupCommit); this store has none")
    # Given a group with a good write, a refused (stale) write, and another good write
    with store.group():
        put(store, cart_id="g1")
        with pytest.raises(StaleCart):
            store.apply_event(
                make_event(cart_id="g1", event_id="late"),
                cart=make_cart(cart_id="g1", name="Z"),
                expected_version=9,
                audit=None,
                timer=None,
                now=T0,
            )
        put(store, cart_id="g2")
    # Then the good writes are durable and the refused one left no trace
    assert store.load("g1")[0].name == "Maya" and store.load("g2")[0] is not None
    assert store.apply_event(
        make_event(cart_id="g1", event_id="late"),
        cart=make_cart(cart_id="g1", name="Z"),
        expected_version=0,
        audit=None,
        timer=None,
        now=T0,
    )


def test_a_failed_group_commits_nothing(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "db.sqlite3")
    with pytest.raises(RuntimeError), s.group():
        put(s, cart_id="g1")
        raise RuntimeError("the writer died")
    assert s.load("g1")[0] is None
    s.close()


def test_batch_reads_answer_exactly_what_one_at_a_time_reads_do(store: Any) -> None:
    batch = store if isinstance(store, BatchReads) else None
    if batch is None:
        pytest.skip("batch reads are an optional capability (BatchReads); this store has none")
    # Given carts with and without sends, shared and unsubscribed addresses, and an unknown id
    put(store, cart_id="b1", email="Sam@Example.com")
    put(store, cart_id="b2", email="sam@example.com")
    put(store, cart_id="b3", email="kim@example.com")
    for cart_id, hours in (("b1", 3), ("b2", 40)):
        assert store.claim_send(cart_id, 1, "sam@example.com", at(hours=hours)) is Claim.CLAIMED
        store.finish_send(cart_id, 1, Outcome.SENT, at=at(hours=hours), message_id=f"<{cart_id}>")
    store.unsubscribe("KIM@example.com", source="shopper", at=at(hours=5))
    ids = ["b3", "nope", "b1", "b2"] + [f"x{i}" for i in range(600)]  # more than one IN (...)
    emails = ["Sam@Example.com", "kim@example.com", "nobody@example.com", "KIM@EXAMPLE.COM"]
    since = at(hours=2)

    # Then each batch read equals the reads it replaces
    assert batch.load_many(ids) == {cart_id: store.load(cart_id) for cart_id in ids}
    assert batch.unsubscribed_among(emails) == {e for e in emails if store.is_unsubscribed(e)}
    assert batch.unsubscribed_among(emails) == {"kim@example.com", "KIM@EXAMPLE.COM"}
    assert batch.sent_to_many(emails, since) == {
        normalise_email(e): store.sent_to(e, since) for e in emails
    }
    assert [r.cart_id for r in batch.sent_to_many(emails, since)["sam@example.com"]] == [
        "b1",
        "b2",
    ]


def test_a_cart_read_again_unchanged_is_the_same_and_a_changed_one_is_read_anew(
    tmp_path: Path,
) -> None:
    s = SqliteStore(tmp_path / "db.sqlite3")
    # Given a cart read once (as the wake-up loop reads a chunk ahead of its commit)
    put(s, cart_id="r1", email="sam@example.com")
    first = s.load_many(["r1"])["r1"][0]
    # When it is read again unchanged, then changed and read again
    again = s.load_many(["r1"])["r1"][0]
    assert first is not None
    s.save_cart(
        msgspec.structs.replace(first, name="Kim"),
        expected_version=first.version,
        audit=None,
        timer=None,
    )
    changed = s.load_many(["r1"])["r1"][0]
    # Then the unchanged read hands back the decoded cart, the changed one the new row
    assert again is first
    assert changed == s.load("r1")[0]
    assert changed is not None and changed.name == "Kim" and changed.version == first.version + 1
    s.close()


def test_batch_writes_answer_exactly_what_one_at_a_time_writes_do(store: Any) -> None:
    batch = store if isinstance(store, BatchWrites) else None
    if batch is None:
        pytest.skip("batch writes are an optional capability (BatchWrites); this store has none")
    # Given open carts, one whose step is claimed already, one whose address unsubscribed
    for cart_id in ("w1", "w2", "w3", "w4", "w5"):
        put(store, cart_id=cart_id, email=f"{cart_id}@example.com")
    assert store.claim_send("w2", 1, "w2@example.com", at(hours=2)) is Claim.CLAIMED
    store.unsubscribe("W3@example.com", source="shopper", at=at(hours=1))

    # When a chunk is claimed at once: every claim holds, or each answers as alone
    assert batch.claim_sends([("w1", 1, "w1@example.com")], at(hours=3)) == [Claim.CLAIMED]
    claims = [
        ("w4", 1, "w4@example.com"),
        ("w2", 1, "w2@example.com"),
        ("w3", 1, "w3@example.com"),
        ("nope", 1, "n@example.com"),
        ("w5", 1, "w5@example.com"),
    ]
    assert batch.claim_sends(claims, at(hours=3)) == [
        Claim.CLAIMED,
        Claim.ALREADY,
        Claim.UNSUBSCRIBED,
        Claim.STOPPED,
        Claim.CLAIMED,
    ]
    assert [s.outcome for s in store.load("w4")[1]] == [Outcome.CLAIMED]
    assert store.load("w3")[1] == []

    # Then the sends are finished together, and the next wakes set unless the cart moved on
    batch.finish_sent([("w1", 1, "<m1>"), ("w4", 1, "<m4>")], at(hours=3))
    [w1] = store.load("w1")[1]
    assert (w1.outcome, w1.message_id, w1.at) == (Outcome.SENT, "<m1>", at(hours=3))
    due = at(hours=26)
    assert batch.set_wakes([("w1", due, 0), ("w4", due, 7)]) == ["w4"]
    assert batch.set_wakes([("w5", due, 0)]) == []
    timers = {t.cart_id: t.due for t in store.due(at(hours=48), 10)}
    assert timers["w1"] == due and timers["w5"] == due and timers["w4"] == at(hours=2)
