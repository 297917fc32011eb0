"""``cart-recovery simulate``: replay cart events through the rules on a virtual clock, and
report what would have been sent, deferred, skipped, closed.

``simulate_file`` (what the command runs) streams the file through ``simulate_engine``.
``simulate_events`` replays a list of events through the service itself on in-memory
adapters: the reference the engine's reports are held equal to (tests/integration/
test_simulate_engine.py).
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cart_recovery.adapters.links import LinkMaker, Tokens
from cart_recovery.adapters.memory import MemoryStore, StaticDocs
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CartEvent
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, RulesError, parse_rules
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, parse_voice
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import Closed, Deferred, Happening, Sent, Service, Skipped
from cart_recovery.simulation.engine import (
    BadEvent,
    Engine,
    NotInOrder,
    Outcomes,
    hold_zones,
    read_lines,
)
from cart_recovery.simulation.replay import Replay


class SimulationError(Exception):
    pass


class DiscardMailer:
    """Composes are real; the messages go nowhere."""

    count = 0

    def send(self, message: object) -> None:
        self.count += 1


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_events(path: Path) -> list[CartEvent]:
    decoder = msgspec.json.Decoder(CartEvent)
    events = []
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(validate_event(decoder.decode(line)))
            except (msgspec.ValidationError, msgspec.DecodeError, EventError) as e:
                raise SimulationError(f"{path}:{n}: {e}") from None
    return events


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
    service = Service(
        store=store,
        mailer=DiscardMailer(),
        docs=StaticDocs(rules, parse_voice(DEFAULT_VOICE_TEXT)),
        links=LinkMaker("https://example.invalid", Tokens("simulation-signing-key-not-secret")),
        sender="Store <shop@example.invalid>",
        message_id_domain="example.invalid",
        on_happening=report.add,
    )
    replay = Replay(service, store, VirtualClock(start))
    replay.feed(events)
    replay.run_until(end, tick=tick)
    return report, store, replay.rejected


def simulate_file(
    path: Path,
    rules: Rules,
    until: datetime | None = None,
    *,
    spool: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    tick: Callable[[datetime], None] | None = None,
) -> tuple[Outcomes, dict[str, Any]]:
    """The engine of ``simulate``: the events of ``path`` are replayed as they are read when
    the file is in time order; otherwise it is read whole and sorted first (the service-based
    replay's order: by ``occurred_at``, ties in file order). Returns the outcomes (with
    ``spool``, their JSON lists) and the report's totals."""
    outcomes = Outcomes(spool=spool)
    engine = Engine(rules, outcomes, tick=tick)
    zones = hold_zones(rules)
    try:
        engine.run(read_lines(path, on_bytes, zones), until)
    except BadEvent as e:
        outcomes.close()
        raise SimulationError(str(e)) from None
    except NotInOrder:
        outcomes.close()
        events = sorted(read_events(path), key=lambda e: e.occurred_at)
        zones = hold_zones(rules, events)
        outcomes = Outcomes(spool=spool)
        engine = Engine(rules, outcomes, tick=tick)
        engine.run(events, until)
    del zones
    totals = outcomes.totals()
    totals["carts"] = engine.carts
    totals["events"] = engine.events
    totals["rejected_events"] = engine.rejected
    return outcomes, totals


def run_simulation(
    path: Path, *, rules_file: Path | None, until: datetime | None, as_json: bool, progress: bool
) -> None:
    try:
        rules = parse_rules(
            rules_file.read_text(encoding="utf-8") if rules_file else DEFAULT_RULES_TEXT
        )
    except RulesError as e:
        raise SimulationError(f"{rules_file}: {e}") from None
    console = Console(stderr=True)
    bar = None
    on_bytes = tick = None
    if progress:
        size = max(1, path.stat().st_size)
        bar = Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.fields[day]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        task = bar.add_task("sim", total=size, day="")
        read = [0, 0.0]

        def on_bytes(n: int) -> None:
            read[0] += n

        def tick(now: datetime) -> None:
            t = time.monotonic()
            if t - read[1] >= 0.2:
                read[1] = t
                bar.update(task, completed=read[0], day=now.date().isoformat())

        bar.start()
    try:
        outcomes, totals = simulate_file(
            path, rules, until, spool=as_json, on_bytes=on_bytes, tick=tick
        )
    finally:
        if bar is not None:
            bar.stop()
    try:
        if as_json:
            outcomes.write_json(sys.stdout, totals)
            return
    finally:
        outcomes.close()
    per_tier = totals["per_tier"]
    table = Table(title=f"Simulation of {totals['events']} events, {totals['carts']} carts")
    columns = sorted({k for c in per_tier.values() for k in c})
    table.add_column("size tier")
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right")
    for tier, counts in sorted(per_tier.items()):
        table.add_row(tier or "-", *(str(counts.get(c, 0)) for c in columns))
    Console().print(table)
    Console().print(
        f"reminders sent {totals['sends']}, deferred {totals['deferred']}, "
        f"skipped {totals['skips']} {totals['skips_by_reason']}, "
        f"closed {totals['closed']} {totals['closed_by_reason']}"
    )
