"""The TimerSink contract, run against every adapter: EventBridge Scheduler (on moto) and memory.

A store whose timers live outside it sets a cart's timer with ``ensure`` under the cart's
schedule name and cancels it with ``remove``; replacing a timer is ensuring the new one under
the same name (``replacing=True`` says the name was used before). Both calls are idempotent.
A schedule fires its timer for its cart, never before the timer is due and less than a minute
after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from cart_recovery.adapters.aws.scheduler import (
    MemorySchedules,
    SchedulerTimers,
    parse_at,
    schedule_name,
)
from cart_recovery.domain.timers import Timer, TimerKind
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.ports import TimerSink
from tests.aws.services import REGION, client, unique
from tests.conftest import T0, at

WAITER = f"arn:aws:lambda:{REGION}:123456789012:function:cr-waiter"
SENDER = f"arn:aws:lambda:{REGION}:123456789012:function:cr-sender"
ROLE = "arn:aws:iam::123456789012:role/cr-scheduler"
PRECISION = timedelta(minutes=1)  # Scheduler fires on the minute


@dataclass(frozen=True)
class Pending:
    """One schedule as the sink keeps it: what it will fire, for which cart, and when."""

    cart_id: str
    fires: datetime
    kind: TimerKind
    step: int | None


@dataclass
class Harness:
    sink: TimerSink
    pending: Callable[[], dict[str, Pending]]  # schedule name -> what it fires


def scheduler_harness(moto: str) -> Harness:
    sch = client("scheduler", moto)
    group = unique("g")
    sch.create_schedule_group(Name=group)
    sink = SchedulerTimers(
        sch,
        waiter_arn=WAITER,
        sender_arn=SENDER,
        role_arn=ROLE,
        timezone="America/New_York",
        clock=VirtualClock(T0),
        group=group,
    )

    def pending() -> dict[str, Pending]:
        out = {}
        for listed in sch.list_schedules(GroupName=group)["Schedules"]:
            made = sch.get_schedule(Name=listed["Name"], GroupName=group)
            fires = parse_at(made["ScheduleExpression"], made["ScheduleExpressionTimezone"])
            payload = json.loads(made["Target"]["Input"])
            if made["Target"]["Arn"] == WAITER:
                out[made["Name"]] = Pending(payload["cart_id"], fires, TimerKind.WAKE, None)
            else:
                detail = payload["detail"]
                out[made["Name"]] = Pending(
                    detail["cart_id"], fires, TimerKind.SEND, detail["step"]
                )
        return out

    return Harness(sink, pending)


def memory_harness() -> Harness:
    sink = MemorySchedules()

    def pending() -> dict[str, Pending]:
        return {
            name: Pending(cart_id, timer.due, timer.kind, timer.step)
            for name, (cart_id, timer) in sink.schedules.items()
        }

    return Harness(sink, pending)


@pytest.fixture(params=[pytest.param("scheduler", marks=pytest.mark.aws), "memory"])
def timers(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "scheduler":
        yield scheduler_harness(request.getfixturevalue("moto_server"))
    else:
        yield memory_harness()


def wake(cart_id: str = "c1", **delta: float) -> Timer:
    return Timer(cart_id=cart_id, due=at(**delta))


def ensure(harness: Harness, timer: Timer, *, replacing: bool = False) -> str:
    name = schedule_name(timer.cart_id)
    harness.sink.ensure(timer.cart_id, timer, name, replacing=replacing)
    return name


def due(harness: Harness, now: datetime) -> list[str]:
    """Carts whose schedules have fired by ``now``."""
    return sorted(p.cart_id for p in harness.pending().values() if p.fires <= now)


def assert_fires(got: Pending, timer: Timer) -> None:
    assert got.cart_id == timer.cart_id
    assert got.kind is timer.kind and got.step == timer.step
    assert timer.due <= got.fires < timer.due + PRECISION, (got.fires, timer.due)


def test_a_set_timer_fires_for_its_cart_when_due_never_early(timers: Harness) -> None:
    timer = wake(hours=2, seconds=30)
    name = ensure(timers, timer)
    [(got_name, got)] = timers.pending().items()
    assert got_name == name
    assert_fires(got, timer)


def test_setting_the_same_timer_twice_keeps_one_schedule(timers: Harness) -> None:
    timer = wake(hours=2)
    name = ensure(timers, timer)
    ensure(timers, timer)  # a redelivery, or a retry after a crash
    assert list(timers.pending()) == [name]
    assert_fires(timers.pending()[name], timer)


def test_a_deferred_send_keeps_its_step(timers: Harness) -> None:
    timer = Timer(cart_id="c1", due=at(hours=18), kind=TimerKind.SEND, step=2)
    name = ensure(timers, timer)
    assert_fires(timers.pending()[name], timer)


def test_replacing_a_timer_leaves_only_the_new_one(timers: Harness) -> None:
    # Given a wake-up in two hours
    old_timer = wake(hours=2)
    old = ensure(timers, old_timer)
    # When the cart changes and its wake-up moves to five hours (the cart's schedule, updated)
    new_timer = wake(hours=5)
    new = ensure(timers, new_timer, replacing=True)
    # Then only the new one is pending
    assert new == old
    assert list(timers.pending()) == [new]
    assert_fires(timers.pending()[new], new_timer)


def test_a_replacement_also_changes_what_fires_and_a_wrong_hint_is_harmless(
    timers: Harness,
) -> None:
    # Given a cart's wake-up, made without the hint, and one made with a wrong hint
    ensure(timers, wake("c1", hours=2))
    ensure(timers, wake("c2", hours=2), replacing=True)  # nothing to replace: created
    # When c1's wake-up becomes a quiet-hours deferral of step 1, hinted as new though it is not
    deferral = Timer(cart_id="c1", due=at(hours=18), kind=TimerKind.SEND, step=1)
    name = ensure(timers, deferral)
    # Then c1's one schedule fires the deferral, and c2's fires its wake-up
    assert sorted(p.cart_id for p in timers.pending().values()) == ["c1", "c2"]
    assert_fires(timers.pending()[name], deferral)
    assert_fires(timers.pending()[schedule_name("c2")], wake("c2", hours=2))


def test_a_cancelled_timer_is_gone_and_cancelling_again_is_harmless(timers: Harness) -> None:
    name = ensure(timers, wake(hours=2))
    timers.sink.remove(name)
    timers.sink.remove(name)
    timers.sink.remove("cr-cart-never-made")
    assert timers.pending() == {}


def test_each_cart_has_its_own_timers(timers: Harness) -> None:
    first = ensure(timers, wake("c1", hours=2))
    ensure(timers, wake("c2", hours=3))
    timers.sink.remove(first)
    assert [p.cart_id for p in timers.pending().values()] == ["c2"]


def test_what_is_due_is_what_has_reached_its_time(timers: Harness) -> None:
    ensure(timers, wake("c1", hours=2))
    ensure(timers, wake("c2", hours=4, seconds=10))
    assert due(timers, at(hours=1, minutes=59)) == []
    assert due(timers, at(hours=2) + PRECISION) == ["c1"]
    assert due(timers, at(hours=4, seconds=10) + PRECISION) == ["c1", "c2"]
