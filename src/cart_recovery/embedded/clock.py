"""Clocks: the runtime's only source of ``now`` (the ``Clock`` port). The core never reads one."""

from __future__ import annotations

from datetime import UTC, datetime

from cart_recovery.ports import Clock


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
    """Real time, shifted and sped up: ``start + speed * (real now - origin)`` (accelerated
    runs: several processes given the same start, origin and speed share one timeline)."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        real: Clock | None = None,
        origin: datetime | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("the clock speed must be above zero")
        self._real = real or SystemClock()
        self._origin = origin or self._real.now()
        self._start = start.astimezone(UTC)
        self.speed = speed

    @classmethod
    def parse(cls, spec: str) -> OffsetClock:
        """``START@ORIGIN*SPEED``: RFC 3339 start, Unix-seconds origin, a speed factor."""
        try:
            start_text, rest = spec.split("@", 1)
            origin_text, speed_text = rest.split("*", 1)
            start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
            origin = datetime.fromtimestamp(float(origin_text), UTC)
            speed = float(speed_text)
        except ValueError:
            raise ValueError(
                f"clock {spec!r}: expected START@ORIGIN*SPEED, e.g. "
                "2026-05-12T00:00:00Z@1770000000.0*600"
            ) from None
        if start.tzinfo is None:
            raise ValueError(f"clock {spec!r}: the start needs a timezone")
        return cls(start, speed, origin=origin)

    def now(self) -> datetime:
        return self._start + (self._real.now() - self._origin) * self.speed
