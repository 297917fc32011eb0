"""AWS API calls per cart event and per reminder, counted on the offline stack.

Runs a small month through a whole deployment on DynamoDB Local and moto (``tests/aws/world.py``:
webhook → intake → Scheduler → waiter → EventBridge → sender → SES) and counts every call the
runtime's clients make, through botocore's event hooks (``tests/aws/calls.py``). Each function
gets its own ``AwsApp``, as each Lambda function has its own execution environment, so its
first invocation is its cold start (SSM, Secrets Manager and the docs read then) and the rest are
warm. Prints JSON: per cart event, per fired schedule, per reminder sent, per cold start, and
whether the targets hold (≤ 1 Scheduler call and ≤ 3 DynamoDB writes per cart event, ≤ 1 Lambda
invocation per fired schedule); a missed target is reported in the JSON, not by the exit code.

    python -m bench.aws_calls                 # 200 carts (needs Java for DynamoDB Local)
    python -m bench.aws_calls --carts 20

The carts: some bought before any reminder, some after the first, some after the second, some
never; one to three updates each, left at any hour (so some reminders meet quiet hours), spread
over 30 days. The figures are counts, the same on every machine for the same seed.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import logging
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cart_recovery.bootstrap import aws as aws_bootstrap
from tests.aws.calls import CallCounter, Tally
from tests.aws.services import client
from tests.aws.world import SENDER_ARN, Schedule, World, world

START = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # midnight in New York, a Monday
DAYS = 30
KINDS = (("before", 0.3), ("after_first", 0.25), ("after_second", 0.15), ("never", 0.3))
TOTALS = ("30.00", "149.00", "420.00")
TARGETS = {"scheduler_per_event": 1, "dynamodb_writes_per_event": 3, "lambda_per_fire": 1}


@dataclass(frozen=True)
class Plan:
    cart_id: str
    kind: str
    left_at: datetime
    updates: int
    total: str


def plans(carts: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    out = []
    for i in range(carts):
        kind = names[i % len(names)] if i < len(names) else rng.choices(names, weights)[0]
        left = START + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        out.append(Plan(f"c{i:04d}", kind, left, rng.randint(1, 3), rng.choice(TOTALS)))
    return out


def body(plan: Plan, n: int, at: datetime, kind: str = "cart.updated") -> dict[str, Any]:
    return {
        "event_id": f"{plan.cart_id}-e{n}",
        "type": kind,
        "cart_id": plan.cart_id,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "email": f"{plan.cart_id}@example.com",
        "name": "Sam",
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": plan.total}],
        "total": plan.total,
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{plan.cart_id}",
    }


class Schedules:
    """The group's schedules still to fire, each read again only when it changed (a cart's one
    schedule is updated in place: its summary's ``LastModificationDate`` tells)."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.known: dict[str, Schedule] = {}

    def next(self) -> Schedule | None:
        sch = client("scheduler", self.w.moto)
        listed: dict[str, Any] = {}
        token = None
        while True:
            page = sch.list_schedules(
                GroupName=self.w.group, **({"NextToken": token} if token else {})
            )
            listed.update((s["Name"], s["LastModificationDate"]) for s in page["Schedules"])
            token = page.get("NextToken")
            if not token:
                break
        for name, modified in listed.items():
            known = self.known.get(name)
            if known is None or known.raw["LastModificationDate"] != modified:
                self.known[name] = self.w.schedules_named(name)
        self.known = {n: s for n, s in self.known.items() if n in listed}
        pending = [s for s in self.known.values() if not self.w.has_fired(s)]
        return min(pending, key=lambda s: (s.at, s.name), default=None)


class Month:
    def __init__(self, w: World, counter: CallCounter, carts: int, seed: int) -> None:
        self.w = w
        self.counter = counter
        self.plans = {p.cart_id: p for p in plans(carts, seed)}
        self.apps: dict[str, aws_bootstrap.AwsApp] = {}
        self.events: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.fires: Counter[str] = Counter()
        self.reminders = 0
        self.checkouts: Counter[str] = Counter()
        self.heap: list[tuple[datetime, int, str, dict[str, Any]]] = []
        self.seq = 0
        w.on_invoke.append(self.invoking)

    def invoking(self, function: str) -> None:
        """Each function runs in its own environment: its own app, cold at first."""
        app = self.apps.get(function)
        if app is None:
            clock = self.w.clock
            app = aws_bootstrap.aws(
                self.w.environ, clock=clock, monotonic=lambda: clock.now().timestamp()
            )
            self.counter.attach(app)
            self.apps[function] = app
        aws_bootstrap.use_app(app)
        self.counter.invoked(function)

    def push(self, at: datetime, cart_id: str, event: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, cart_id, event))

    def run(self) -> None:
        for p in self.plans.values():
            for n in range(p.updates):
                at = p.left_at - timedelta(minutes=7 * (p.updates - 1 - n))
                self.push(at, p.cart_id, body(p, n, at))
            if p.kind == "before":
                self.checkout(p, p.left_at + timedelta(minutes=40))
        schedules = Schedules(self.w)
        while True:
            due = schedules.next()
            if self.heap and (due is None or self.heap[0][0] < due.at):
                at, _, cart_id, event = heapq.heappop(self.heap)
                self.w.clock.set(max(self.w.clock.now(), at))
                kind = "checked_out" if event["type"] == "cart.checked_out" else "updated"
                if cart_id not in self.seen:
                    self.seen.add(cart_id)
                    kind = "created"
                with self.counter.under(f"event_{kind}"):
                    answer = self.w.post_webhook(event)
                    assert answer["statusCode"] == 200, answer
                    self.w.intake_all()
                self.events[kind] += 1
            elif due is not None:
                self.fire(due)
            else:
                return

    def checkout(self, p: Plan, at: datetime) -> None:
        self.checkouts[p.kind] += 1
        self.push(at, p.cart_id, body(p, 9, at, "cart.checked_out"))

    def fire(self, schedule: Schedule) -> None:
        cart_id = str(schedule.input.get("cart_id") or schedule.input["detail"]["cart_id"])
        sent_before = self.sent(cart_id)
        with self.counter.under("fire") as tally:
            before = _copy(tally)
            self.w.fire(schedule)
        after = self.sent(cart_id)
        outcome = "reminder" if after > sent_before else "no_reminder"
        if schedule.target_arn == SENDER_ARN:
            outcome = "deferred_" + outcome
        self.fires[outcome] += 1
        self.counter.tally(outcome).add(_diff(tally, before))
        self.reminders += after - sent_before
        p = self.plans[cart_id]
        if after > sent_before and (p.kind, after) in (("after_first", 1), ("after_second", 2)):
            self.checkout(p, self.w.clock.now() + timedelta(hours=1))

    def sent(self, cart_id: str) -> int:
        _, sends = self.w.app.store.load(cart_id)  # the world's own app: not counted
        return sum(1 for s in sends if str(s.outcome) == "sent")


def _copy(t: Tally) -> Tally:
    out = Tally()
    out.add(t)
    return out


def _diff(after: Tally, before: Tally) -> Tally:
    out = Tally()
    out.calls = after.calls - before.calls
    out.invocations = after.invocations - before.invocations
    out.read_units = after.read_units - before.read_units
    out.write_units = after.write_units - before.write_units
    out.items_written = after.items_written - before.items_written
    out.unmetered = after.unmetered - before.unmetered
    return out


def per(t: Tally, n: int) -> dict[str, Any]:
    s = t.summary()
    out: dict[str, Any] = {"count": n}
    for k, v in s.items():
        if isinstance(v, int | float):
            out[k] = round(v / n, 3) if n else 0.0
    out["calls"] = {k: round(v / n, 3) for k, v in s["calls"].items()} if n else {}
    out["invocations"] = {k: round(v / n, 3) for k, v in s["invocations"].items()} if n else {}
    return out


def measure(w: World, carts: int, seed: int = 7) -> dict[str, Any]:
    """Run the month on ``w`` and return the counts."""
    counter = CallCounter()
    month = Month(w, counter, carts, seed)
    try:
        month.run()
    finally:
        aws_bootstrap.use_app(w.app)
    c = counter
    fires = sum(month.fires.values())
    fired = c.total("fire")
    starts = c.starts
    cold = c.total(*[k for k in starts if k.endswith(":cold")], source=starts)
    warm = c.total(*[k for k in starts if k.endswith(":warm")], source=starts)
    n_cold = sum(1 for k in starts if k.endswith(":cold"))
    n_warm = sum(sum(t.invocations.values()) for k, t in starts.items() if k.endswith(":warm"))
    kinds = sorted(month.events)
    event = c.total(*[f"event_{k}" for k in kinds])
    events = sum(month.events.values())
    result = {
        "carts": carts,
        "seed": seed,
        "kinds": dict(Counter(p.kind for p in month.plans.values())),
        "events": dict(month.events),
        "fires": dict(month.fires),
        "reminders_sent": month.reminders,
        "checkouts": dict(month.checkouts),
        "per_event": per(event, events),
        **{f"per_event_{k}": per(c.total(f"event_{k}"), month.events[k]) for k in kinds},
        "per_fire": per(fired, fires),
        "per_reminder": per(fired, month.reminders),
        **{f"per_fire_{k}": per(c.total(k), n) for k, n in sorted(month.fires.items())},
        "per_cold_start": per(cold, n_cold),
        "per_warm_invocation": per(warm, n_warm),
        **{
            f"per_invocation_{fn}": per(
                c.total(f"{fn}:cold", f"{fn}:warm", source=starts),
                sum(t.invocations[fn] for t in starts.values()),
            )
            for fn in sorted({k.split(":")[0] for k in starts})
        },
        "totals": c.total(*[f"event_{k}" for k in kinds], "fire").summary(),
    }
    result["targets"] = {
        "scheduler_per_event": _check(event.service("scheduler"), events, 1),
        "dynamodb_writes_per_event": _check(event.dynamo_writes, events, 3),
        "lambda_per_fire": _check(sum(fired.invocations.values()), fires, 1),
    }
    return result


def _check(total: int, n: int, target: float) -> dict[str, Any]:
    value = total / n if n else 0.0
    return {"measured": round(value, 3), "target": target, "met": value <= target}


@contextlib.contextmanager
def stack() -> Iterator[tuple[str, str]]:
    """DynamoDB Local and a moto server on 127.0.0.1, started as the AWS tests start them."""
    from moto.server import ThreadedMotoServer

    from tests.aws.services import free_port, running_dynamodb_local

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_dynamodb_local("java", Path(tmp) / "dynamodb-local.log") as dynamodb,
    ):
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        moto.start()
        try:
            yield f"http://127.0.0.1:{moto._port}", dynamodb
        finally:
            with contextlib.suppress(Exception):
                moto.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aws_calls", description=__doc__)
    parser.add_argument("--carts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.getLogger("cart_recovery").setLevel(logging.WARNING)
    with stack() as (moto, dynamodb), world(moto, dynamodb, START) as w:
        result = measure(w, args.carts, args.seed)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
