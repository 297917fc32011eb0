"""The simulate engine's timer queue gives its entries in the order one heap of them all gives,
whatever is pushed, replaced, taken and put back, across minutes and within one."""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cart_recovery.simulation.timer_queue import TimerQueue, minute_of

T0 = datetime(2026, 5, 12, 13, 59, 30, tzinfo=UTC)


class Owner:
    def __init__(self) -> None:
        self.timer = 0


def live(entry: Any) -> bool:
    return bool(entry[3].timer == entry[2])


class OneHeap:
    """What the engine did before: one heap of every entry."""

    def __init__(self) -> None:
        self.heap: list[Any] = []

    def push(self, entry: Any) -> None:
        heapq.heappush(self.heap, entry)

    def first(self) -> Any | None:
        return self.heap[0] if self.heap else None

    def first_live(self) -> Any | None:
        while self.heap and not live(self.heap[0]):
            heapq.heappop(self.heap)
        return self.first()

    def take_due(self, now: datetime, limit: int) -> list[Any]:
        out: list[Any] = []
        while self.heap and self.heap[0][0] <= now:
            entry = heapq.heappop(self.heap)
            if live(entry):
                out.append(entry)
                if len(out) == limit:
                    break
        return out


def key(entry: Any | None) -> tuple[datetime, str, int] | None:
    return None if entry is None else entry[:3]


OPS = st.one_of(
    # a cart's timer set (replacing its earlier one), seconds from the clock (some before it)
    st.tuples(st.just("set"), st.integers(0, 5), st.integers(-90, 600)),
    st.tuples(st.just("cancel"), st.integers(0, 5), st.just(0)),
    st.tuples(st.just("advance"), st.integers(0, 200), st.integers(1, 4)),  # then take due
    st.tuples(st.just("put_back"), st.just(0), st.just(0)),  # the last taken entry, again
)


@settings(max_examples=400, deadline=None)
@given(ops=st.lists(OPS, max_size=80))
def test_the_same_order_as_one_heap(ops: list[tuple[str, int, int]]) -> None:
    queue, model = TimerQueue(), OneHeap()
    owners = [Owner() for _ in range(6)]
    seq = itertools.count(1)
    now = T0
    taken: list[Any] = []
    for op, a, b in ops:
        if op == "set":
            owner = owners[a]
            owner.timer = next(seq)
            # a few instants, often the same one, so that ties fall to the cart's key
            entry = (now + timedelta(seconds=b), f"cart-{a}", owner.timer, owner)
            queue.push(entry)
            model.push(entry)
        elif op == "cancel":
            owners[a].timer = 0
        elif op == "advance":
            now += timedelta(seconds=a)
            got, want = queue.take_due(now, b), model.take_due(now, b)
            assert [key(e) for e in got] == [key(e) for e in want]
            taken = got
        elif taken:  # put back (a wake-up that waits for the next batch)
            queue.push(taken[-1])
            model.push(taken[-1])
        assert key(queue.first_live()) == key(model.first_live())
        assert key(queue.first()) == key(model.first())
    later = T0 + timedelta(days=1)
    assert [key(e) for e in queue.take_due(later, 1000)] == [
        key(e) for e in model.take_due(later, 1000)
    ]


def test_the_minute_never_decreases_and_splits_on_the_minute() -> None:
    times = [T0 + timedelta(microseconds=n * 7_919_113) for n in range(200)]
    minutes = [minute_of(t) for t in times]
    assert minutes == sorted(minutes)
    assert minute_of(datetime(2026, 5, 12, 14, 0, tzinfo=UTC)) == minute_of(T0) + 1
    assert minute_of(datetime(2026, 5, 12, 13, 59, 59, 999_999, tzinfo=UTC)) == minute_of(T0)
