"""The streaming ``simulate`` engine reports exactly what the service-based replay reports.

Each case writes a generated workload (quiet hours in several zones and across DST changes,
shared addresses inside the do-not-disturb window, checkouts before, between and after the
reminders, saved-link carts, carts without an address, per-cart waits, redeliveries, events of
finished carts, ties) and compares the JSON report of ``simulate_file`` with the one the service
itself gives over a ``MemoryStore`` (``simulate_events``), byte for byte; and, order within an
instant aside, with what the service gives when its wake-ups are fired one at a time.

The simulate input has no unsubscribe event (cart events only), so no case can unsubscribe.
"""

from __future__ import annotations

import gc
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, parse_rules
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import Happening, Service
from cart_recovery.simulation.events_file import SimulationError
from cart_recovery.simulation.replay import Replay
from cart_recovery.simulation.run import simulate_file
from tests.integration.simulate_reference import (
    Report,
    read_events,
    reference_service,
    simulate_events,
)

ZONES = [
    None,
    None,
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
]
PRICES = ["5.00", "19.99", "20.00", "39.99", "40.00", "75.00", "150.00", "150.01", "300.00"]
# Across the clocks changing in Europe (25 October) and in the US (1 November).
START = datetime(2026, 10, 22, 3, 17, tzinfo=UTC)

CUSTOM_RULES = """\
Small carts (under $40): remind after 3 hours, then after 20.
Medium carts: 90 minutes, then 18 hours.
Big carts (over $150): 1 hour, then 10.
Quiet hours: 10pm to 7am.
Do not disturb: skip anyone who got a reminder in the last 2 days.
Give up after two reminders.
Store timezone: Europe/Berlin.
Give up 6 hours after the last reminder.
Leave at least 8 hours between reminders.
Never remind a cart older than 1 day.
Only remind shoppers who agreed to marketing email.
"""

ONE_REMINDER_RULES = DEFAULT_RULES_TEXT.replace(
    "Give up after two reminders.", "Give up after one reminder."
)


def _stamp(t: datetime, rnd: random.Random) -> str:
    """RFC 3339, sometimes in a local offset (the same instant)."""
    if rnd.random() < 0.2:
        return t.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    return t.isoformat().replace("+00:00", "Z")


def workload(n: int, seed: int) -> list[tuple[datetime, dict[str, Any]]]:
    """``n`` carts over about four days, every feature the engine must get right."""
    rnd = random.Random(seed)
    emails = [f"shopper{i}@example.com" for i in range(max(3, n // 4))]
    out: list[tuple[datetime, dict[str, Any]]] = []

    def add(t: datetime, body: dict[str, Any]) -> None:
        out.append((t, {**body, "occurred_at": _stamp(t, rnd)}))

    for i in range(n):
        cart_id = f"café-{i}" if i % 97 == 0 else f"cart-{i:05d}"
        t = START + timedelta(seconds=rnd.randrange(0, 4 * 86400))
        if rnd.random() < 0.3:
            t = t.replace(second=0, minute=(t.minute // 15) * 15)  # ties between carts
        base: dict[str, Any] = {"cart_id": cart_id, "currency": "USD"}
        roll = rnd.random()
        if roll < 0.08:
            pass  # no address
        elif roll < 0.1:
            base["email"] = "  "  # blank: no address
        else:
            email = rnd.choice(emails)  # addresses shared by several carts
            base["email"] = rnd.choice([email, email.upper(), f" {email} "])
        zone = rnd.choice(ZONES)
        if zone:
            base["timezone"] = zone
        if rnd.random() < 0.05:
            base["wait_override"] = ["45 minutes", "5 hours"]
        if rnd.random() < 0.7:
            base["marketing_consent"] = rnd.random() < 0.8
        if rnd.random() < 0.04:  # a cart that starts from a saved link
            add(t, {**base, "event_id": f"{cart_id}-s0", "type": "cart.saved"})
            t += timedelta(minutes=rnd.randrange(1, 30))
        for k in range(rnd.choice([1, 1, 2, 3])):
            body = {**base, "event_id": f"{cart_id}-u{k}", "type": "cart.updated"}
            if rnd.random() < 0.5:
                body["total"] = rnd.choice(PRICES)
            else:
                body["items"] = [
                    {"title": "Mug", "quantity": rnd.randrange(1, 4), "unit_price": p}
                    for p in rnd.sample(PRICES, rnd.randrange(1, 3))
                ]
            add(t, body)
            if rnd.random() < 0.08:  # a redelivery, sometimes with other content
                add(t, {**body, "total": "1.00"} if rnd.random() < 0.5 else body)
            if rnd.random() < 0.05:  # redelivered much later
                add(t + timedelta(hours=rnd.randrange(1, 50)), body)
            t += timedelta(minutes=rnd.randrange(0, 400))
        if rnd.random() < 0.06:
            add(t, {"cart_id": cart_id, "event_id": f"{cart_id}-s", "type": "cart.saved"})
        fate = rnd.random()
        if fate < 0.4:  # bought: before, between or after the reminders
            paid = t + timedelta(minutes=rnd.randrange(0, 60 * 60))
            body = {"cart_id": cart_id, "event_id": f"{cart_id}-paid", "type": "cart.checked_out"}
            add(paid, body)
            if rnd.random() < 0.2:
                add(paid, body)
            if rnd.random() < 0.2:  # the shopper comes back to a bought cart
                add(
                    paid + timedelta(hours=1),
                    {**base, "event_id": f"{cart_id}-late", "type": "cart.updated"},
                )
        elif fate < 0.45:  # comes back after the cart was given up, and then buys
            later = t + timedelta(days=rnd.randrange(3, 6))
            add(later, {**base, "event_id": f"{cart_id}-back", "type": "cart.updated"})
            add(
                later + timedelta(hours=1),
                {"cart_id": cart_id, "event_id": f"{cart_id}-paid", "type": "cart.checked_out"},
            )
        elif fate < 0.47:  # the checkout is the only event of the cart
            add(
                t,
                {"cart_id": f"{cart_id}-x", "event_id": "only", "type": "cart.checked_out"},
            )
    return out


def write(path: Path, rows: list[tuple[datetime, dict[str, Any]]], *, ordered: bool) -> Path:
    rows = sorted(rows, key=lambda r: r[0]) if ordered else rows[:]
    if not ordered:
        random.Random(5).shuffle(rows)
    lines = [json.dumps(body) for _, body in rows]
    if lines:
        lines.insert(len(lines) // 2, "")  # a blank line is skipped
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class OneByOne:
    """A timer loop firing one wake-up at a time (``Service.wake`` per due timer): the same
    happenings as the batched loop, some of one instant in another order."""

    def __init__(self, service: Service, queue: MemoryStore) -> None:
        self.service = service
        self.queue = queue

    def run_due(self, now: datetime) -> list[Happening]:
        out: list[Happening] = []
        while timers := self.queue.due(now, 1000):
            for timer in timers:
                out.extend(self.service.wake(timer.cart_id, now))
        return out


def _as_json(report: Report, carts: int, events: int, rejected: int) -> str:
    totals = report.totals()
    totals["carts"] = carts
    totals["events"] = events
    totals["rejected_events"] = rejected
    out = {
        "sends": report.sends,
        "skips": report.skips,
        "closed": report.closed,
        "deferred": report.deferred,
        "totals": totals,
    }
    return json.dumps(out, indent=None, separators=(",", ":")) + "\n"


def one_by_one(path: Path, rules: Rules, until: datetime | None) -> str:
    """The report of the service itself over a MemoryStore, wake-ups one at a time."""
    events = sorted(read_events(path), key=lambda e: e.occurred_at)
    report = Report()
    store = MemoryStore(keep_audit=False)
    if not events:
        return _as_json(report, 0, 0, 0)
    service = reference_service(store, rules, report)
    replay = Replay(service, store, VirtualClock(events[0].occurred_at))
    replay.loop = OneByOne(service, store)  # type: ignore[assignment]
    replay.feed(events)
    replay.run_until(until or (events[-1].occurred_at + rules.max_age + rules.close_out))
    return _as_json(report, len(store.carts), len(events), len(replay.rejected))


def reference(path: Path, rules: Rules, until: datetime | None) -> str:
    """The report of ``simulate_events``: the service-based replay (``simulate --json`` before
    it streamed)."""
    events = read_events(path)
    report, store, rejected = simulate_events(events, rules, until)
    return _as_json(report, len(store.carts), len(events), len(rejected))


def canonical(report: str) -> dict[str, Any]:
    """A report with each list sorted: the same happenings, whatever the order of those at
    one instant."""
    data: dict[str, Any] = json.loads(report)
    for name in ("sends", "skips", "closed", "deferred"):
        data[name] = sorted(data[name], key=lambda r: json.dumps(r, sort_keys=True))
    return data


def streamed(path: Path, rules: Rules, until: datetime | None) -> str:
    outcomes, totals = simulate_file(path, rules, until)
    buf = io.StringIO()
    try:
        outcomes.write_json(buf, totals)
    finally:
        outcomes.close()
    return buf.getvalue()


RULES = {
    "default": DEFAULT_RULES_TEXT,
    "custom": CUSTOM_RULES,
    "one_reminder": ONE_REMINDER_RULES,
}


@pytest.mark.parametrize("rules_name", sorted(RULES))
@pytest.mark.parametrize("ordered", [True, False], ids=["in_time_order", "shuffled"])
def test_the_engine_reports_what_the_service_reports(
    tmp_path: Path, rules_name: str, ordered: bool
) -> None:
    # Given a generated workload, in time order or not
    rules = parse_rules(RULES[rules_name])
    path = write(tmp_path / "events.jsonl", workload(1500, seed=11), ordered=ordered)
    # When both engines replay it
    expected = reference(path, rules, None)
    got = streamed(path, rules, None)
    # Then the reports are the same, byte for byte, and something of every kind happened
    assert got == expected
    # and the same happenings as wake-ups fired one at a time (in another order at times)
    assert canonical(got) == canonical(one_by_one(path, rules, None))
    totals = json.loads(got)["totals"]
    assert totals["sends"] and totals["deferred"] and totals["closed"] and totals["skips"]
    assert totals["skips_by_reason"].get("do_not_disturb")
    if rules_name == "custom":
        assert totals["skips_by_reason"].get("no_consent")
        assert totals["closed_by_reason"].get("too_old")


@pytest.mark.parametrize("hours", [0, 30, 80])
def test_a_stop_time_cuts_both_alike(tmp_path: Path, hours: int) -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT)
    path = write(tmp_path / "events.jsonl", workload(600, seed=3), ordered=True)
    until = START + timedelta(hours=hours)
    assert streamed(path, rules, until) == reference(path, rules, until)


def test_the_benchmark_month_reports_alike(tmp_path: Path) -> None:
    from bench import simulate_gen

    path = tmp_path / "month.jsonl"
    simulate_gen.write(path, 3000, seed=2)
    rules = parse_rules(DEFAULT_RULES_TEXT)
    assert streamed(path, rules, None) == reference(path, rules, None)


def test_an_empty_file_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n", encoding="utf-8")
    rules = parse_rules(DEFAULT_RULES_TEXT)
    assert streamed(path, rules, None) == reference(path, rules, None)


@pytest.mark.parametrize("ordered", [True, False])
def test_a_bad_line_is_named_alike(tmp_path: Path, ordered: bool) -> None:
    rows = workload(50, seed=1)
    bad = {**rows[10][1], "email": "not an address"}
    rows[10] = (rows[10][0], bad)
    path = write(tmp_path / "events.jsonl", rows, ordered=ordered)
    rules = parse_rules(DEFAULT_RULES_TEXT)
    with pytest.raises(SimulationError) as old:
        read_events(path)
    with pytest.raises(SimulationError) as new:
        simulate_file(path, rules)
    assert str(new.value) == str(old.value)
    assert "events.jsonl:" in str(new.value) and "email" in str(new.value)


@pytest.mark.parametrize("was_on", [True, False], ids=["collector_on", "collector_off"])
def test_a_run_makes_no_reference_cycles_so_the_collector_sleeps_through_it(
    tmp_path: Path, was_on: bool
) -> None:
    # Given the benchmark's month of 3,000 carts, and the collector on or off
    from bench import simulate_gen

    path = tmp_path / "month.jsonl"
    simulate_gen.write(path, 3000, seed=2)
    rules = parse_rules(DEFAULT_RULES_TEXT)
    during: list[bool] = []
    gc.collect()
    (gc.enable if was_on else gc.disable)()
    try:
        # When it is simulated
        outcomes, _ = simulate_file(path, rules, tick=lambda now: during.append(gc.isenabled()))
        outcomes.close()
        after = gc.isenabled()
        # Then the collector was off throughout and is as it was after
        assert during and not any(during)
        assert after is was_on
        # and the run left no garbage that only the collector could free: the assumption
        # that makes switching it off safe (a cycle per cart or per event would show here)
        gc.disable()
        assert gc.collect() < 100
    finally:
        gc.enable()
