"""``cart-recovery simulate``: replay cart events through the real service code on in-memory
adapters and a virtual clock, and report what would have been sent, deferred, skipped, closed."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .adapters.memory import MemoryStore, StaticDocs
from .clock import VirtualClock
from .domain.cart import EventError, validate_event
from .domain.model import CartEvent
from .domain.rules import DEFAULT_RULES_TEXT, Rules, RulesError, parse_rules
from .domain.voice import DEFAULT_VOICE_TEXT, parse_voice
from .replay import Replay
from .service import Closed, Deferred, Happening, Sent, Service, Skipped
from .tokens import LinkMaker, Tokens


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


def run_simulation(
    path: Path, *, rules_file: Path | None, until: datetime | None, as_json: bool, progress: bool
) -> None:
    try:
        rules = parse_rules(
            rules_file.read_text(encoding="utf-8") if rules_file else DEFAULT_RULES_TEXT
        )
    except RulesError as e:
        raise SimulationError(f"{rules_file}: {e}") from None
    events = read_events(path)
    console = Console(stderr=True)
    tick = None
    bar = None
    if progress and events:
        first = min(e.occurred_at for e in events)
        last = until or (max(e.occurred_at for e in events) + rules.max_age + rules.close_out)
        span = max(1.0, (last - first).total_seconds())
        bar = Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.fields[day]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        task = bar.add_task("sim", total=span, day="")
        bar.start()

        def tick(now: datetime) -> None:
            bar.update(task, completed=(now - first).total_seconds(), day=now.date().isoformat())

    try:
        report, store, rejected = simulate_events(events, rules, until, tick)
    finally:
        if bar is not None:
            bar.stop()
    totals = report.totals()
    totals["carts"] = len(store.carts)
    totals["events"] = len(events)
    totals["rejected_events"] = len(rejected)
    if as_json:
        out = {
            "sends": report.sends,
            "skips": report.skips,
            "closed": report.closed,
            "deferred": report.deferred,
            "totals": totals,
        }
        json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
        sys.stdout.write("\n")
        return
    table = Table(title=f"Simulation of {len(events)} events, {len(store.carts)} carts")
    columns = sorted({k for c in report.per_tier.values() for k in c})
    table.add_column("size tier")
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right")
    for tier, counts in sorted(report.per_tier.items()):
        table.add_row(tier or "-", *(str(counts.get(c, 0)) for c in columns))
    Console().print(table)
    Console().print(
        f"reminders sent {totals['sends']}, deferred {totals['deferred']}, "
        f"skipped {totals['skips']} {totals['skips_by_reason']}, "
        f"closed {totals['closed']} {totals['closed_by_reason']}"
    )
