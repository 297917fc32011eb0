"""``cart-recovery simulate``: replay cart events through the rules on a virtual clock, and
report what would have been sent, deferred, skipped, closed.

``simulate_file`` (what the command runs) streams the file through ``simulation.engine``, which
applies the same wake-up plan (``domain.wakeup``) as the service. The service-based replay that
the engine's reports are held equal to, byte for byte, lives with its test
(tests/integration/simulate_reference.py).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, RulesError, parse_rules
from cart_recovery.simulation.engine import Engine, hold_zones
from cart_recovery.simulation.events_file import (
    BadEvent,
    NotInOrder,
    SimulationError,
    read_lines,
)
from cart_recovery.simulation.outcomes import Outcomes

__all__ = ["SimulationError", "run_simulation", "simulate_file"]


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
    with _collector_off():
        try:
            engine.run(read_lines(path, on_bytes, zones), until)
        except BadEvent as e:
            outcomes.close()
            raise SimulationError(str(e)) from None
        except NotInOrder:
            outcomes.close()
            events = sorted(read_lines(path), key=lambda e: e.occurred_at)
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


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """The cyclic garbage collector off for a run (and back on after it, if it was on). A run
    keeps hundreds of thousands of carts, timers and send records alive and makes no reference
    cycles (a full collection after a run of 100,000 carts finds 8 unreachable objects), so
    every collection walks live objects for nothing: with the first threshold at 100,000
    allocations they still took about 4 % of a million carts' CPU time, and the collector's
    bookkeeping more (docs/performance.md)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


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
