"""The AWS adapters one by one: schedule times and names, the timer sink on Scheduler (moto),
the store applying timers through it, the docs bucket's fallback, secrets in a rotation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cart_recovery.adapters.aws.config import Secrets
from cart_recovery.adapters.aws.docs import S3Docs
from cart_recovery.adapters.aws.dynamo import DynamoStore
from cart_recovery.adapters.aws.scheduler import (
    SchedulerTimers,
    at_expression,
    fire_time,
    parse_at,
    schedule_name,
)
from cart_recovery.domain.model import Outcome, SendRecord, Status
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.timers import CancelTimers, DeferSend, SetWake, Timer, TimerKind
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.ports import Claim
from tests.aws.services import REGION, client, dynamo_tables, unique
from tests.conftest import T0, at, make_cart, make_event

WAITER = f"arn:aws:lambda:{REGION}:123456789012:function:cr-waiter"
SENDER = f"arn:aws:lambda:{REGION}:123456789012:function:cr-sender"
ROLE = "arn:aws:iam::123456789012:role/cr-scheduler"


# ---- schedule names and times (pure) ----------------------------------------------------------
def test_schedule_names_are_short_safe_and_one_per_cart() -> None:
    long_id = "gid://shopify/Cart/" + "x" * 150
    names = {schedule_name(long_id), schedule_name("other"), schedule_name(long_id + "y")}
    assert len(names) == 3
    assert schedule_name(long_id) == schedule_name(long_id)
    for name in names:
        assert len(name) <= 64
        assert all(c.isalnum() or c in "-_." for c in name)
        assert "other" not in name and "shopify" not in name


def test_a_schedule_fires_on_a_whole_minute_never_early_and_never_in_the_past() -> None:
    now = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
    assert fire_time(now + timedelta(hours=2), now) == now + timedelta(hours=2)
    assert fire_time(now + timedelta(hours=2, seconds=1), now) == now + timedelta(
        hours=2, minutes=1
    )
    assert fire_time(now - timedelta(hours=1), now) == now + timedelta(minutes=1)


def test_at_expressions_are_in_store_time_and_utc_around_a_dst_change() -> None:
    ny = "America/New_York"
    assert at_expression(datetime(2026, 5, 12, 16, 0, tzinfo=UTC), ny) == (
        "at(2026-05-12T12:00:00)",
        ny,
    )
    # 01:30 on 1 November 2026 happens twice in New York: written in UTC instead
    twice = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert at_expression(twice, ny) == ("at(2026-11-01T05:30:00)", "UTC")
    for when in (datetime(2026, 5, 12, 16, 0, tzinfo=UTC), twice):
        assert parse_at(*at_expression(when, ny)) == when


# ---- the timer sink on EventBridge Scheduler -----------------------------------------------------
@pytest.fixture
def scheduler(moto_server: str) -> Iterator[tuple[Any, SchedulerTimers]]:
    sch = client("scheduler", moto_server)
    group = unique("g")
    sch.create_schedule_group(Name=group)
    timers = SchedulerTimers(
        sch,
        waiter_arn=WAITER,
        sender_arn=SENDER,
        role_arn=ROLE,
        timezone="America/New_York",
        clock=VirtualClock(T0),
        group=group,
    )
    yield sch, timers


def schedules(sch: Any, group: str) -> dict[str, dict[str, Any]]:
    out = {}
    for s in sch.list_schedules(GroupName=group)["Schedules"]:
        out[s["Name"]] = sch.get_schedule(Name=s["Name"], GroupName=group)
    return out


@pytest.mark.aws
def test_ensure_tolerates_already_exists_and_remove_tolerates_not_found(
    scheduler: tuple[Any, SchedulerTimers],
) -> None:
    sch, timers = scheduler
    timer = Timer(cart_id="c1", due=at(hours=2))
    name = schedule_name("c1")
    timers.ensure("c1", timer, name)
    timers.ensure("c1", timer, name)  # ConflictException → updated in place
    [made] = schedules(sch, timers.group).values()
    assert made["ScheduleExpression"] == "at(2026-05-12T12:00:00)"
    assert made["ScheduleExpressionTimezone"] == "America/New_York"
    assert made["Target"]["Arn"] == WAITER and json.loads(made["Target"]["Input"]) == {
        "cart_id": "c1"
    }
    assert made["Target"]["RoleArn"] == ROLE and made["ActionAfterCompletion"] == "NONE"
    timers.remove(name)
    timers.remove(name)  # ResourceNotFoundException → nothing to do
    assert schedules(sch, timers.group) == {}


@pytest.mark.aws
def test_a_deferral_targets_the_sender_with_the_reminder_payload(
    scheduler: tuple[Any, SchedulerTimers],
) -> None:
    sch, timers = scheduler
    timer = Timer(cart_id="c1", due=at(hours=18), kind=TimerKind.SEND, step=2)
    timers.ensure("c1", timer, schedule_name("c1"))
    [made] = schedules(sch, timers.group).values()
    assert made["Target"]["Arn"] == SENDER
    assert json.loads(made["Target"]["Input"]) == {
        "version": "0",
        "source": "cart-recovery",
        "detail-type": "second_reminder",
        "detail": {"cart_id": "c1", "step": 2, "due": "2026-05-13T08:00:00Z"},
    }


# ---- the store applies its timers through the sink -----------------------------------------------
class FailingOnce:
    """A TimerSink that loses the first ensure (a crash between the commit and Scheduler)."""

    def __init__(self, inner: SchedulerTimers) -> None:
        self.inner = inner
        self.failures = 1

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the function died here")
        self.inner.ensure(cart_id, timer, name, replacing=replacing)

    def remove(self, name: str) -> None:
        self.inner.remove(name)


@pytest.fixture
def store(
    dynamodb_local: str, scheduler: tuple[Any, SchedulerTimers]
) -> Iterator[tuple[DynamoStore, Any, SchedulerTimers]]:
    sch, timers = scheduler
    with dynamo_tables(dynamodb_local) as (db, tables):
        yield DynamoStore(db, tables=tables, timers=timers), sch, timers


def kinds(sch: Any, group: str) -> list[tuple[str, str]]:
    found = schedules(sch, group).values()
    return sorted((s["Target"]["Arn"].rsplit(":", 1)[1], s["ScheduleExpression"]) for s in found)


@pytest.mark.aws
def test_one_pending_schedule_per_cart_a_wake_up_or_a_deferral(
    store: tuple[DynamoStore, Any, SchedulerTimers],
) -> None:
    s, sch, timers = store
    cart = make_cart()
    assert s.apply_event(
        make_event(),
        cart=cart,
        expected_version=None,
        audit=None,
        timer=SetWake(at(hours=2)),
        now=T0,
    )
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-12T12:00:00)")]
    # a quiet-hours deferral replaces the wake-up
    deferred = SendRecord(
        cart_id="c1", step=1, outcome=Outcome.DEFERRED, at=at(hours=8), due=at(hours=22)
    )
    assert s.record_send(deferred, timer=DeferSend(1, at(hours=22)))
    assert kinds(sch, timers.group) == [("cr-sender", "at(2026-05-13T08:00:00)")]
    # the shopper comes back: a wake-up replaces the deferral
    s.set_timer("c1", SetWake(at(hours=20)), expected_version=0)
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-13T06:00:00)")]
    s.set_timer("c1", CancelTimers(), expected_version=0)
    assert kinds(sch, timers.group) == []


@pytest.mark.aws
def test_a_crash_between_the_commit_and_scheduler_is_repaired_by_the_redelivery(
    store: tuple[DynamoStore, Any, SchedulerTimers],
) -> None:
    s, sch, timers = store
    flaky = DynamoStore(s._db, tables=s.tables, timers=FailingOnce(timers))
    event, cart = make_event(), make_cart()
    with pytest.raises(ConnectionError):
        flaky.apply_event(
            event, cart=cart, expected_version=None, audit=None, timer=SetWake(at(hours=2)), now=T0
        )
    assert kinds(sch, timers.group) == []  # committed, but no schedule: the cart would be stuck
    # SQS redelivers the event: a no-op for the rows, but the schedule is put right
    again = flaky.apply_event(
        event, cart=cart, expected_version=None, audit=None, timer=SetWake(at(hours=2)), now=T0
    )
    assert again is False
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-12T12:00:00)")]


class Racing:
    """A TimerSink through which another writer changes the cart's timer once, in the middle of
    this one's talk to Scheduler: right after its ``ensure``, or right before its ``remove``."""

    def __init__(self, inner: SchedulerTimers, during: str, race: Callable[[], None]) -> None:
        self.inner = inner
        self.during = during
        self.race: Callable[[], None] | None = race

    def _once(self, call: str) -> None:
        if call == self.during and self.race is not None:
            race, self.race = self.race, None
            race()

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        self.inner.ensure(cart_id, timer, name, replacing=replacing)
        self._once("ensure")

    def remove(self, name: str) -> None:
        self._once("remove")
        self.inner.remove(name)


def racing_store(s: DynamoStore, timers: SchedulerTimers, during: str) -> DynamoStore:
    """Cart c1 in ``s``, and a store over the same tables whose Scheduler talk is raced once
    (``during`` its ensure or its remove) by another writer setting c1's wake-up to 5 hours."""
    s.apply_event(
        make_event(), cart=make_cart(), expected_version=None, audit=None, timer=None, now=T0
    )

    def another_writer() -> None:
        s.set_timer("c1", SetWake(at(hours=5)), expected_version=0)

    return DynamoStore(s._db, tables=s.tables, timers=Racing(timers, during, another_writer))


@pytest.mark.aws
def test_a_schedule_made_while_the_row_changed_gets_the_newer_timer(
    store: tuple[DynamoStore, Any, SchedulerTimers],
) -> None:
    s, sch, timers = store
    racing = racing_store(s, timers, "ensure")
    racing.set_timer("c1", SetWake(at(hours=2)), expected_version=0)
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-12T15:00:00)")]


@pytest.mark.aws
def test_a_timer_set_while_a_cancel_deletes_the_schedule_gets_its_schedule_back(
    store: tuple[DynamoStore, Any, SchedulerTimers],
) -> None:
    # Given a cart with a wake-up
    s, sch, timers = store
    racing = racing_store(s, timers, "remove")
    s.set_timer("c1", SetWake(at(hours=2)), expected_version=0)
    # When one writer cancels the timer and, after it read the row but before it deletes the
    # schedule, another sets a wake-up five hours on
    racing.set_timer("c1", CancelTimers(), expected_version=0)
    # Then the cart's schedule fires the newer wake-up: the cancel read the row again
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-12T15:00:00)")]


class Counting:
    """A TimerSink that counts the changes it asks of Scheduler, by API call (the test's own
    reads through the same client are not counted)."""

    def __init__(self, sch: Any, inner: SchedulerTimers) -> None:
        self.inner = inner
        self.calls: list[str] = []
        sch.meta.events.register("after-call.scheduler.*", self.called)

    def called(self, model: Any, **_: Any) -> None:
        if not model.name.startswith(("List", "Get")):
            self.calls.append(model.name)

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        self.inner.ensure(cart_id, timer, name, replacing=replacing)

    def remove(self, name: str) -> None:
        self.inner.remove(name)

    def taken(self) -> list[str]:
        out, self.calls = self.calls, []
        return out


@pytest.fixture
def counting(store: tuple[DynamoStore, Any, SchedulerTimers]) -> Iterator[Counting]:
    _, sch, timers = store
    counting = Counting(sch, timers)
    yield counting
    sch.meta.events.unregister("after-call.scheduler.*", counting.called)  # a shared client


def counted_cart(s: DynamoStore, counting: Counting) -> DynamoStore:
    """A store over ``s``'s tables whose Scheduler calls ``counting`` counts, holding cart c1
    with a wake-up in 2 hours (its schedule created)."""
    c = DynamoStore(s._db, tables=s.tables, timers=counting)
    c.apply_event(
        make_event(), cart=make_cart(), expected_version=None, audit=None,
        timer=SetWake(at(hours=2)), now=T0,
    )  # fmt: skip
    return c


@pytest.mark.aws
def test_each_timer_change_is_one_scheduler_call_on_the_carts_one_schedule(
    store: tuple[DynamoStore, Any, SchedulerTimers], counting: Counting
) -> None:
    s, sch, timers = store
    # a new cart's wake-up: created
    c = counted_cart(s, counting)
    assert counting.taken() == ["CreateSchedule"]
    # the wake-up moves: the same schedule, updated
    c.set_timer("c1", SetWake(at(hours=3)), expected_version=0)
    assert counting.taken() == ["UpdateSchedule"]
    # a quiet-hours deferral: updated again, now targeting the sender
    c.set_timer("c1", DeferSend(1, at(hours=22)), expected_version=0)
    assert counting.taken() == ["UpdateSchedule"]
    assert kinds(sch, timers.group) == [("cr-sender", "at(2026-05-13T08:00:00)")]
    # nothing pending any more: deleted
    c.set_timer("c1", CancelTimers(), expected_version=0)
    assert counting.taken() == ["DeleteSchedule"]
    assert kinds(sch, timers.group) == []


@pytest.mark.aws
def test_a_send_finished_after_the_owner_closed_its_cart_makes_no_schedule(
    store: tuple[DynamoStore, Any, SchedulerTimers], counting: Counting
) -> None:
    # Given a cart whose step 1 the sender has claimed, and which the owner then suppresses
    # (the unsub-handler's close deletes the cart's schedule)
    s, sch, timers = store
    c = counted_cart(s, counting)
    assert c.claim_send("c1", 1, "maya@example.com", at(hours=2)) is Claim.CLAIMED
    c.save_cart(
        make_cart(status=Status.CLOSED), expected_version=0, audit=None, timer=CancelTimers()
    )
    assert counting.taken() == ["CreateSchedule", "DeleteSchedule"]
    # When the sender, its email gone, records it with the cart's next wake-up
    c.finish_send("c1", 1, Outcome.SENT, at=at(hours=2), timer=SetWake(at(hours=14)))
    # Then the send is recorded and no schedule is made for the closed cart, so the close's
    # own check of the row never finds a timer it would have to schedule (the unsub-handler
    # may only delete schedules)
    assert c.load("c1")[1][0].outcome is Outcome.SENT
    assert counting.taken() == []
    assert kinds(sch, timers.group) == []


@pytest.mark.aws
def test_a_schedule_named_per_timer_by_an_earlier_release_is_deleted_once(
    store: tuple[DynamoStore, Any, SchedulerTimers], counting: Counting
) -> None:
    # Given a cart whose row names a per-timer schedule, as earlier releases made them
    s, sch, timers = store
    s.apply_event(
        make_event(), cart=make_cart(), expected_version=None, audit=None, timer=None, now=T0
    )
    legacy = "cr-wake-0123456789abcdef0123-20260512T160000"
    timers.ensure("c1", Timer(cart_id="c1", due=at(hours=2)), legacy)
    s._db.update_item(
        TableName=s.tables.state,
        Key={"cart_id": {"S": "c1"}},
        UpdateExpression="SET schedule_name = :n",
        ExpressionAttributeValues={":n": {"S": legacy}},
    )
    # When the cart's wake-up moves
    counting.taken()
    c = DynamoStore(s._db, tables=s.tables, timers=counting)
    c.set_timer("c1", SetWake(at(hours=3)), expected_version=0)
    # Then the old schedule is gone and the cart's own fires the new wake-up
    assert counting.taken() == ["DeleteSchedule", "CreateSchedule"]
    assert list(schedules(sch, timers.group)) == [schedule_name("c1")]
    assert kinds(sch, timers.group) == [("cr-waiter", "at(2026-05-12T13:00:00)")]
    # and the next move is one call again
    c.set_timer("c1", SetWake(at(hours=4)), expected_version=0)
    assert counting.taken() == ["UpdateSchedule"]


# ---- the docs bucket ----------------------------------------------------------------------
@pytest.fixture
def bucket(moto_server: str) -> tuple[Any, str]:
    s3 = client("s3", moto_server)
    name = unique("docs")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3, name


BAD_RULES = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")
BIG = Decimal(200)
SLOW_RULES = DEFAULT_RULES_TEXT.replace("1 hour, then 20", "3 hours, then 20")


@pytest.mark.aws
def test_an_edit_takes_effect_at_the_next_invocation_and_a_bad_one_is_rejected(
    bucket: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="rules.txt", Body=DEFAULT_RULES_TEXT.encode())
    docs = S3Docs(s3, name)
    assert docs.rules().tier_for(BIG).first == timedelta(hours=1)
    s3.put_object(Bucket=name, Key="rules.txt", Body=SLOW_RULES.encode())
    docs.expire()  # the next invocation
    assert docs.rules().tier_for(BIG).first == timedelta(hours=3)
    s3.put_object(Bucket=name, Key="rules.txt", Body=BAD_RULES.encode())
    docs.expire()
    with caplog.at_level(logging.ERROR, logger="cart_recovery.aws.docs"):
        assert docs.rules().tier_for(BIG).first == timedelta(hours=3)
    assert "doc rejected" in caplog.text
    # a cold start that finds the bad edit serves the newest earlier version that parses
    fresh = S3Docs(s3, name)
    assert fresh.rules().tier_for(BIG).first == timedelta(hours=3)
    assert fresh.rules_doc.last_error is not None and "line" in fresh.rules_doc.last_error


@pytest.mark.aws
def test_a_missing_doc_serves_the_built_in_default(bucket: tuple[Any, str]) -> None:
    s3, name = bucket
    assert S3Docs(s3, name).voice().store_name


@pytest.mark.aws
def test_a_rejected_doc_is_counted_in_its_own_metric(bucket: tuple[Any, str]) -> None:
    # Given docs that served a good version
    s3, name = bucket
    s3.put_object(Bucket=name, Key="rules.txt", Body=DEFAULT_RULES_TEXT.encode())
    lines: list[str] = []
    docs = S3Docs(s3, name, emit=lines.append)
    docs.rules()
    assert lines == []
    # When a version that does not parse is uploaded, and read at two invocations
    s3.put_object(Bucket=name, Key="rules.txt", Body=BAD_RULES.encode())
    for _ in range(2):
        docs.expire()
        docs.rules()
    # Then one Embedded Metric Format line counts it: DocRejected, by doc and in total
    [line] = lines
    emf = json.loads(line)
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CartRecovery"
    assert directive["Metrics"] == [{"Name": "DocRejected", "Unit": "Count"}]
    assert directive["Dimensions"] == [["Doc"], []]
    assert (emf["Doc"], emf["DocRejected"]) == ("rules", 1)
    assert isinstance(emf["_aws"]["Timestamp"], int)
    # and the line is not one the generic log-errors filter counts
    for term in ("ERROR", "error", "throttl", "Throttl", "timeout"):
        assert term not in line


# ---- secrets ------------------------------------------------------------------------------
@pytest.mark.aws
def test_both_webhook_secrets_of_a_rotation_and_a_bounded_re_read(moto_server: str) -> None:
    sm = client("secretsmanager", moto_server)
    secret_id = unique("cr/webhook/secret")
    sm.create_secret(Name=secret_id, SecretString="old-secret-0123456789")
    now = [0.0]
    secrets = Secrets(sm, monotonic=lambda: now[0])
    assert secrets.rotating(secret_id) == ("old-secret-0123456789",)
    sm.put_secret_value(SecretId=secret_id, SecretString="new-secret-0123456789")
    assert secrets.rotating(secret_id) == ("old-secret-0123456789",)  # cached
    assert not secrets.refresh(secret_id)  # read moments ago: not again yet
    now[0] = 301.0
    assert secrets.refresh(secret_id)
    assert secrets.rotating(secret_id) == ("new-secret-0123456789", "old-secret-0123456789")
