"""The service on a virtual clock, over each store: the behaviours shoppers rely on."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cart_recovery.adapters.links import Tokens
from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import CHECKED_OUT, SAVED, Item, Outcome, Status
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, parse_rules
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import MAIL_ATTEMPTS, Closed, Deferred, Sent, Skipped
from cart_recovery.simulation.replay import Replay
from tests.conftest import body_text, make_event

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)  # a Tuesday morning


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


class World:
    def __init__(self, store: Any, rules_text: str = DEFAULT_RULES_TEXT) -> None:
        self.store = store
        self.mailer = MemoryMailer()
        self.tokens = Tokens("test-signing-key-0123456789")
        self.clock = VirtualClock(START)
        self.service = in_memory(
            store=store,
            mailer=self.mailer,
            rules=parse_rules(rules_text),
            signing_key="test-signing-key-0123456789",
        )
        self.docs = self.service.docs
        self.replay = Replay(self.service, store, self.clock)

    def run(self, until: datetime) -> list[Any]:
        before = len(self.replay.happenings)
        self.replay.run_until(until)
        return self.replay.happenings[before:]

    def sent(self) -> list[tuple[str, str]]:
        return [(str(m["To"]), str(m["Message-ID"])) for m in self.mailer.sent]


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "db.sqlite3")
    yield World(store)
    if isinstance(store, SqliteStore):
        store.close()


def medium(**over: Any) -> Any:
    base = {"occurred_at": START, "timezone": "America/New_York"}
    base.update(over)
    return make_event(**base)


def test_two_reminders_at_the_waits_then_give_up(world: World) -> None:
    world.replay.feed([medium()])
    out = world.run(ny(20, 0))
    sends = [h for h in out if isinstance(h, Sent)]
    assert [(s.step, s.at) for s in sends] == [(1, ny(12, 12)), (2, ny(13, 8))]
    closed = [h for h in out if isinstance(h, Closed)]
    assert [(c.reason, c.at) for c in closed] == [("gave_up", ny(14, 8))]
    assert len(world.mailer.sent) == 2


def test_quiet_hours_defer_to_eight_am_in_the_shoppers_zone(world: World) -> None:
    # Given a cart left at 7:30pm: step 1 falls due at 9:30pm, inside quiet hours
    world.replay.feed([medium(occurred_at=ny(12, 19, 30))])
    out = world.run(ny(20, 0))
    [deferred] = [h for h in out if isinstance(h, Deferred)]
    assert (deferred.due, deferred.at) == (ny(12, 21, 30), ny(13, 8))
    sends = [(h.step, h.at) for h in out if isinstance(h, Sent)]
    # Then step 1 at 8am, and step 2 no sooner than 12 hours later
    assert sends == [(1, ny(13, 8)), (2, ny(13, 20))]


def test_checkout_before_the_first_wait_means_no_email(world: World) -> None:
    world.replay.feed(
        [
            medium(),
            medium(event_id="paid", type=CHECKED_OUT, occurred_at=START + timedelta(hours=1)),
        ]
    )
    out = world.run(ny(25, 0))
    assert world.mailer.sent == [] and [h for h in out if isinstance(h, Sent)] == []
    cart, _ = world.store.load("c1")
    assert cart.status is Status.BOUGHT
    assert world.store.next_due() is None


def test_checkout_between_reminders_stops_the_chase(world: World) -> None:
    world.replay.feed([medium(), medium(event_id="paid", type=CHECKED_OUT, occurred_at=ny(12, 18))])
    world.run(ny(25, 0))
    assert len(world.mailer.sent) == 1


def test_activity_pushes_the_reminder_out(world: World) -> None:
    world.replay.feed([medium(), medium(event_id="e2", occurred_at=ny(12, 11, 30))])
    out = world.run(ny(12, 23))
    assert [(h.step, h.at) for h in out if isinstance(h, Sent)] == [(1, ny(12, 13, 30))]


def test_update_cancels_a_pending_quiet_hours_deferral(world: World) -> None:
    world.replay.feed(
        [
            medium(occurred_at=ny(12, 19, 30)),
            medium(event_id="e2", occurred_at=ny(13, 7, 0)),  # back at 7am, before the 8am send
        ]
    )
    out = world.run(ny(13, 23))
    assert [(h.step, h.at) for h in out if isinstance(h, Sent)] == [(1, ny(13, 9, 0))]


def test_unsubscribe_stops_every_cart_of_that_address(world: World) -> None:
    world.replay.feed(
        [
            medium(),
            medium(cart_id="c2", event_id="x", occurred_at=ny(16, 10), email="MAYA@example.com"),
        ]
    )
    world.replay.at(ny(12, 13), lambda now: world.service.unsubscribe("maya@example.com", now))
    out = world.run(ny(25, 0))
    assert len(world.mailer.sent) == 1
    skips = sorted((h.cart_id, h.step, h.reason) for h in out if isinstance(h, Skipped))
    assert skips == [
        ("c1", 2, "unsubscribed"),
        ("c2", 1, "unsubscribed"),
        ("c2", 2, "unsubscribed"),
    ]


def test_do_not_disturb_across_carts_but_not_within_one(world: World) -> None:
    # Given two carts of one address; the second one's first reminder falls inside 3 days
    world.replay.feed([medium(), medium(cart_id="c2", event_id="x", occurred_at=ny(12, 11))])
    out = world.run(ny(25, 0))
    sends = [(h.cart_id, h.step) for h in out if isinstance(h, Sent)]
    assert sends == [("c1", 1), ("c1", 2)]
    skips = {(h.cart_id, h.step, h.reason) for h in out if isinstance(h, Skipped)}
    assert skips == {("c2", 1, "do_not_disturb"), ("c2", 2, "do_not_disturb")}


def test_same_instant_work_is_done_in_cart_id_order(world: World) -> None:
    world.replay.feed([medium(cart_id="b", event_id="1"), medium(cart_id="a", event_id="2")])
    out = world.run(ny(12, 12))
    assert [(h.cart_id, h.step) for h in out if isinstance(h, Sent)] == [("a", 1)]
    assert [(h.cart_id, h.reason) for h in out if isinstance(h, Skipped)] == [
        ("b", "do_not_disturb")
    ]


def test_no_email_is_skipped_and_recorded(world: World) -> None:
    world.replay.feed([medium(email=None)])
    out = world.run(ny(20, 0))
    assert [(h.step, h.reason) for h in out if isinstance(h, Skipped)] == [
        (1, "no_email"),
        (2, "no_email"),
    ]


def test_a_wake_up_firing_twice_sends_once(world: World) -> None:
    world.replay.feed([medium()])
    world.run(ny(12, 12))
    again = world.service.wake("c1", ny(12, 12))
    assert again == [] and len(world.mailer.sent) == 1


def test_crash_between_claim_and_send_is_uncertain_never_resent(world: World) -> None:
    world.replay.feed([medium()])
    world.run(ny(12, 11))
    # Given a sender that claimed step 1 and died before sending
    assert world.store.claim_send("c1", 1, "maya@example.com", ny(12, 12)).value == "claimed"
    # When the service restarts
    [record] = world.service.recover(ny(12, 12, 5))
    assert record.outcome is Outcome.UNCERTAIN
    world.run(ny(20, 0))
    # Then step 1 is never sent; step 2 still goes out on time
    assert len(world.mailer.sent) == 1
    assert str(world.mailer.sent[0]["Message-ID"]).endswith(".2@shop.example>")


def test_a_mail_failure_is_retried_and_never_doubled(world: World) -> None:
    world.mailer.fail_next = 2
    world.replay.feed([medium()])
    world.run(ny(12, 23))
    assert len(world.mailer.sent) == 1
    _, sends = world.store.load("c1")
    assert sends[0].outcome is Outcome.SENT and sends[0].at == ny(12, 12, 15)


def test_the_mail_attempt_cap_holds_when_each_retry_is_another_process(world: World) -> None:
    # Given a cart whose mail keeps failing, and each retry run by a fresh service over the
    # same store (as each AWS invocation is: nothing is remembered in memory)
    world.mailer.fail_next = 99
    world.replay.feed([medium()])
    world.run(ny(12, 12))
    failures = 1
    for _ in range(2 * MAIL_ATTEMPTS):  # bounded: a cap that never holds fails, not hangs
        _, [record] = world.store.load("c1")
        if record.outcome is not Outcome.DEFERRED:
            break
        assert record.attempts == failures
        fresh = in_memory(store=world.store, mailer=world.mailer, signing_key="test-signing-key-0")
        assert record.due is not None
        fresh.wake("c1", record.due)
        failures += 1
    # Then the step is given up after MAIL_ATTEMPTS failures, never sent
    assert (record.outcome, record.reason) == (Outcome.SKIPPED, "mail_failed")
    assert failures == MAIL_ATTEMPTS and record.attempts == MAIL_ATTEMPTS
    assert world.mailer.sent == []


def test_a_send_after_failed_attempts_clears_the_count(world: World) -> None:
    world.mailer.fail_next = 2
    world.replay.feed([medium()])
    world.run(ny(12, 23))
    _, sends = world.store.load("c1")
    assert (sends[0].outcome, sends[0].attempts) == (Outcome.SENT, 0)


def test_saved_link_changes_the_opening_not_the_timing(world: World) -> None:
    world.replay.feed([medium(), medium(event_id="s", type=SAVED, occurred_at=ny(12, 11))])
    out = world.run(ny(12, 13))
    assert [(h.step, h.at) for h in out if isinstance(h, Sent)] == [(1, ny(12, 12))]
    text = body_text(world.mailer.sent[0])
    assert "saving" in text.lower()


def test_old_cart_is_closed_too_old_never_reminded(world: World) -> None:
    world.clock = VirtualClock(ny(1, 0))
    world.replay = Replay(world.service, world.store, world.clock)
    world.replay.at(ny(12, 0), lambda now: world.service.ingest(medium(occurred_at=ny(1, 9)), now))
    out = world.run(ny(20, 0))
    assert world.mailer.sent == []
    assert [(h.reason) for h in out if isinstance(h, Closed)] == ["too_old"]


def test_consent_mode_skips_shoppers_without_consent(tmp_path: Path) -> None:
    w = World(
        MemoryStore(), DEFAULT_RULES_TEXT + "Only remind shoppers who agreed to marketing email.\n"
    )
    w.replay.feed(
        [
            medium(),
            medium(cart_id="c2", event_id="2", email="ok@example.com", marketing_consent=True),
        ]
    )
    out = w.run(ny(12, 13))
    assert [(h.cart_id, h.reason) for h in out if isinstance(h, Skipped)] == [("c1", "no_consent")]
    assert [h.cart_id for h in out if isinstance(h, Sent)] == ["c2"]


def test_email_carries_items_total_links_and_one_click_headers(world: World) -> None:
    items = (
        Item(title="Linen shirt", quantity=1, unit_price=Decimal("68.00")),
        Item(title="Beeswax candle", quantity=2, unit_price=Decimal("18.00")),
        Item(title="Canvas tote", quantity=1, unit_price=Decimal("16.00")),
    )
    world.replay.feed([medium(items=items)])
    world.run(ny(12, 13))
    [msg] = world.mailer.sent
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = str(parsed["List-Unsubscribe"]).strip("<>").rsplit("/u/", 1)[1]
    link = world.tokens.read_unsubscribe_link(token)
    # the link names the address only by the unsubscribe list's keyed digest, and the cart
    assert (link.email, link.cart_id) == (None, "c1")
    assert link.digest == world.store.email_key.digest("maya@example.com")
    text = body_text(parsed)
    for needle in (
        "Linen shirt",
        "Beeswax candle",
        "Canvas tote",
        "$120.00",
        "https://shop.example/r/",
    ):
        assert needle in text
    assert "https://shop.example/cart/c1" not in text  # only the tracked link


def test_a_waiter_that_hands_off_lets_the_sender_send_exactly_once(world: World) -> None:
    handed: list[tuple[str, int, datetime]] = []
    world.service.hand_off = lambda cart_id, step, due: handed.append((cart_id, step, due))
    world.replay.feed([medium()])
    world.run(ny(12, 12))
    assert handed == [("c1", 1, ny(12, 12))] and world.mailer.sent == []
    # When the sender gets the event (twice: EventBridge delivers at least once)
    world.service.send_reminder("c1", ny(12, 12, 1))
    world.service.send_reminder("c1", ny(12, 12, 2))
    assert len(world.mailer.sent) == 1
    # Then the next wake-up is step 2's due time, not the hand-off safety net
    assert world.store.next_due() == ny(13, 8)
