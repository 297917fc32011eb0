"""The simulate engine's pending timers, in ``(due, cart id, …)`` order: a calendar of minutes.

One heap of every timer of a month of a million carts holds tens of thousands of entries, and
each pop walks its depth through entries scattered in memory: at a million carts that was
about a sixth of the run (docs/performance.md). Here only the timers of the current minute
(and any set for a time already reached) are a heap; a timer for a later minute is appended to
that minute's list, and the list becomes the heap when the clock reaches its minute. A heap
of the minutes that have timers says which comes next. Entries come out in exactly the order
one heap of them all would give: every timer of a later minute is due after every timer of the
current one, since the minute is a non-decreasing function of the due time.
"""

from __future__ import annotations

from datetime import datetime
from heapq import heapify, heappop, heappush
from typing import Any

MINUTE = 60.0


def minute_of(due: datetime) -> int:
    """The minute ``due`` falls in (since the epoch): never smaller for a later ``due``."""
    return int(due.timestamp() // MINUTE)


class TimerQueue:
    """Entries are tuples ``(due, key, sequence, owner)``, ordered as tuples (the sequence
    numbers differ, so an owner is never compared); an entry is live while ``owner.timer`` is
    its sequence, and stale once the owner has moved on to another timer or none."""

    __slots__ = ("_current", "_later", "_minute", "_minutes")

    def __init__(self) -> None:
        self._current: list[Any] = []  # a heap: the current minute's entries, and earlier ones
        self._minute = -(1 << 62)  # the current minute
        self._later: dict[int, list[Any]] = {}  # a later minute → its entries, unordered
        self._minutes: list[int] = []  # a heap of the keys of ``_later``

    def push(self, entry: Any) -> None:
        minute = minute_of(entry[0])
        if minute <= self._minute:
            heappush(self._current, entry)
            return
        bucket = self._later.get(minute)
        if bucket is None:
            self._later[minute] = [entry]
            heappush(self._minutes, minute)
        else:
            bucket.append(entry)

    def first(self) -> Any | None:
        """The earliest entry (left in place), or None when there is none."""
        current = self._current or self._next_minute()
        return current[0] if current else None

    def first_live(self) -> Any | None:
        """The earliest live entry, the stale ones before it dropped; None when there is none."""
        current = self._current
        while current or (current := self._next_minute()):
            top = current[0]
            if top[3].timer == top[2]:
                return top
            heappop(current)
        return None

    def take_due(self, now: datetime, limit: int) -> list[Any]:
        """Up to ``limit`` live entries due at ``now``, earliest first, taken out; the stale ones
        met on the way are dropped."""
        out: list[Any] = []
        current = self._current
        while (current or (current := self._next_minute())) and current[0][0] <= now:
            entry = heappop(current)
            if entry[3].timer == entry[2]:
                out.append(entry)
                if len(out) == limit:
                    break
        return out

    def _next_minute(self) -> list[Any]:
        """The next minute with entries made the current one: its entries as a heap (an empty
        list when no minute has any)."""
        if not self._minutes:
            return self._current
        minute = heappop(self._minutes)
        current = self._later.pop(minute)
        heapify(current)
        self._current = current
        self._minute = minute
        return current
