"""The reference ``simulate`` is held equal to: the service itself replaying a list of events
over in-memory adapters on a virtual clock (what ``simulate --json`` ran before the streaming
engine), with a report built on its own, apart from the engine's writer, so that a difference
in either shows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import CartEvent
from cart_recovery.domain.rules import Rules
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import Closed, Deferred, Happening, Sent, Service, Skipped
from cart_recovery.simulation.events_file import read_lines
from cart_recovery.simulation.replay import Replay


class DiscardMailer:
    """Composes are real; the messages go nowhere."""

    count = 0

    def send(self, message: object) -> None:
        self.count += 1


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_events(path: Path) -> list[CartEvent]:
    """The whole events file, as a list (SimulationError naming the first bad line)."""
    return list(read_lines(path))


@dataclass
class Report:
    sends: list[dict[str, Any]] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)
    per_tier: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, h: Happening) -> None:
        if isinstance(h, Sent):
            self.sends.append({"cart_id": h.cart_id, "step": h.step, "at": _ts(h.at)})
            self.per_tier[h.tier][f"sent_step{h.step}"] += 1
        elif isinstance(h, Skipped):
            self.skips.append({"cart_id": h.cart_id, "step": h.step, "reason": h.reason})
            self.per_tier[h.tier][f"skipped_{h.reason}"] += 1
        elif isinstance(h, Deferred):
            self.deferred.append(
                {"cart_id": h.cart_id, "step": h.step, "due": _ts(h.due), "at": _ts(h.at)}
            )
            self.per_tier[h.tier]["deferred"] += 1
        elif isinstance(h, Closed):
            self.closed.append({"cart_id": h.cart_id, "reason": h.reason, "at": _ts(h.at)})
            self.per_tier[h.tier][f"closed_{h.reason}"] += 1

    def totals(self) -> dict[str, Any]:
        skips = Counter(s["reason"] for s in self.skips)
        closed = Counter(c["reason"] for c in self.closed)
        return {
            "sends": len(self.sends),
            "skips": len(self.skips),
            "skips_by_reason": dict(sorted(skips.items())),
            "closed": len(self.closed),
            "closed_by_reason": dict(sorted(closed.items())),
            "deferred": len(self.deferred),
            "per_tier": {t: dict(sorted(c.items())) for t, c in sorted(self.per_tier.items())},
        }


def reference_service(store: MemoryStore, rules: Rules, report: Report) -> Service:
    """The service a simulation replays through: in memory, emails composed and dropped,
    every happening reported."""
    return in_memory(
        store=store,
        mailer=DiscardMailer(),
        rules=rules,
        signing_key="simulation-signing-key-not-secret",
        base_url="https://example.invalid",
        sender="Store <shop@example.invalid>",
        message_id_domain="example.invalid",
        on_happening=report.add,
    )


def simulate_events(
    events: list[CartEvent],
    rules: Rules,
    until: datetime | None = None,
    tick: Any = None,
) -> tuple[Report, MemoryStore, list[tuple[CartEvent, str]]]:
    """The engine of ``simulate``: returns the report, the final store and rejected events."""
    report = Report()
    if not events:
        return report, MemoryStore(), []
    events = sorted(events, key=lambda e: e.occurred_at)
    start = events[0].occurred_at
    end = until or (events[-1].occurred_at + rules.max_age + rules.close_out)
    store = MemoryStore(keep_audit=False)
    service = reference_service(store, rules, report)
    replay = Replay(service, store, VirtualClock(start))
    replay.feed(events)
    replay.run_until(end, tick=tick)
    return report, store, replay.rejected
