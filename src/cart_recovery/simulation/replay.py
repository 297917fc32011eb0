"""Virtual-time replay: feed timed inputs to the service and fire wake-ups exactly when due.

Used by ``simulate`` (in-memory adapters), ``demo`` (a temporary SQLite store) and tests.
At one instant, inputs are applied before the wake-ups due then (the shopper acted first).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cart_recovery.domain.model import CartEvent
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.embedded.timers import TimerLoop
from cart_recovery.ports import WakeQueue
from cart_recovery.service import Happening, Service

Action = Callable[[datetime], object]


@dataclass(order=True)
class Input:
    at: datetime
    seq: int
    run: Action | CartEvent = field(compare=False)


class Replay:
    def __init__(self, service: Service, queue: WakeQueue, clock: VirtualClock) -> None:
        self.service = service
        self.queue = queue
        self.clock = clock
        self.loop = TimerLoop(service, queue, clock, batch=1000)
        self._inputs: list[Input] = []
        self._seq = 0
        self.happenings: list[Happening] = []
        self.rejected: list[tuple[CartEvent, str]] = []

    def at(self, when: datetime, run: Action | CartEvent) -> None:
        self._seq += 1
        heapq.heappush(self._inputs, Input(when, self._seq, run))

    def feed(self, events: Iterable[CartEvent]) -> None:
        for event in events:
            self.at(event.occurred_at, event)

    def run_until(self, until: datetime, tick: Callable[[datetime], None] | None = None) -> None:
        """Advance the clock through every input and wake-up up to ``until`` (inclusive)."""
        while True:
            next_input = self._inputs[0].at if self._inputs else None
            next_timer = self.queue.next_due()
            candidates = [t for t in (next_input, next_timer) if t is not None and t <= until]
            if not candidates:
                break
            now = max(min(candidates), self.clock.now())
            self.clock.set(now)
            while self._inputs and self._inputs[0].at <= now:
                item = heapq.heappop(self._inputs)
                if isinstance(item.run, CartEvent):
                    try:
                        self.service.ingest(item.run, now)
                    except ValueError as e:
                        self.rejected.append((item.run, str(e)))
                else:
                    item.run(now)
            self.happenings.extend(self.loop.run_due(now))
            if tick is not None:
                tick(now)
        if until > self.clock.now():
            self.clock.set(until)
