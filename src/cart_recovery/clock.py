"""Clocks: the runtime's only source of ``now``. The core never reads one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to (tests, ``demo``, ``simulate``)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, t: datetime) -> None:
        if t < self._now:
            raise ValueError("a virtual clock never runs backwards")
        self._now = t.astimezone(UTC)


class OffsetClock:
    """Real time, shifted and sped up: ``start + speed * (real elapsed)`` (accelerated runs)."""

    def __init__(self, start: datetime, speed: float, real: Clock | None = None) -> None:
        self._real = real or SystemClock()
        self._origin = self._real.now()
        self._start = start.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        return self._start + (self._real.now() - self._origin) * self.speed
