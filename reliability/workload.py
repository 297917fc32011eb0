"""A generated workload of carts: mixed sizes, shopper timezones, shared addresses, checkouts at
random moments, unsubscribes, duplicate and out-of-order deliveries. Deterministic per seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ZONES = [
    None,
    None,
    None,
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/New_York",
]
TOTALS = ["15.00", "35.00", "60.00", "120.00", "180.00", "400.00"]


@dataclass(order=True)
class Delivery:
    """One POST the harness makes at virtual time ``at``."""

    at: datetime
    seq: int
    cart_id: str = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    kind: str = field(compare=False)  # cart.updated / cart.checked_out / cart.saved
    duplicate: bool = field(compare=False, default=False)


@dataclass
class Workload:
    deliveries: list[Delivery]
    unsubscribers: set[str]  # cart ids whose shopper unsubscribes after the first reminder
    carts: int


def generate(n_carts: int, start: datetime, span: timedelta, seed: int = 7) -> Workload:
    rnd = random.Random(seed)
    out: list[Delivery] = []
    seq = 0
    emails: list[str] = []
    unsubscribers: set[str] = set()

    def add(at: datetime, cart_id: str, body: dict[str, Any], dup: bool = False) -> None:
        nonlocal seq
        seq += 1
        out.append(Delivery(at, seq, cart_id, body, str(body["type"]), dup))

    for i in range(n_carts):
        cart_id = f"cart-{i:06d}"
        created = start + span * rnd.random()
        roll = rnd.random()
        if roll < 0.10:
            email = None
        elif roll < 0.16 and emails:
            email = rnd.choice(emails).upper()  # the same shopper, another cart
        else:
            email = f"shopper{i}@example.com"
            emails.append(email)
        total = rnd.choice(TOTALS)
        zone = rnd.choice(ZONES)
        base: dict[str, Any] = {
            "cart_id": cart_id,
            "email": email,
            "name": rnd.choice(["Maya", "Jordan", None, "Émile", "Li"]),
            "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": total}],
            "currency": "USD",
            "return_url": f"https://shop.example/cart/{cart_id}",
        }
        if zone:
            base["timezone"] = zone
        n_updates = rnd.choice([1, 1, 2, 3])
        t = created
        times = []
        for k in range(n_updates):
            times.append(t)
            body = {
                **base,
                "event_id": f"{cart_id}-u{k}",
                "type": "cart.updated",
                "occurred_at": t.isoformat(),
            }
            delay = timedelta(seconds=rnd.uniform(0, 30))
            if k > 0 and rnd.random() < 0.08:
                delay += timedelta(hours=1)  # arrives after the next update: out of order
            add(t + delay, cart_id, body)
            if rnd.random() < 0.10:  # a redelivery of the same event
                add(t + delay + timedelta(minutes=rnd.uniform(1, 120)), cart_id, body, True)
            t = t + timedelta(minutes=rnd.uniform(5, 90))
        if rnd.random() < 0.08:
            saved = {
                "cart_id": cart_id,
                "event_id": f"{cart_id}-s",
                "type": "cart.saved",
                "occurred_at": (times[-1] + timedelta(minutes=1)).isoformat(),
            }
            add(times[-1] + timedelta(minutes=1), cart_id, saved)
        fate = rnd.random()
        if fate < 0.35:
            paid_at = times[-1] + timedelta(
                hours=rnd.choice([0.5, 1.5, 3, 10, 22, 30, 44]), minutes=rnd.uniform(0, 59)
            )
            body = {
                "cart_id": cart_id,
                "event_id": f"{cart_id}-paid",
                "type": "cart.checked_out",
                "occurred_at": paid_at.isoformat(),
            }
            add(paid_at + timedelta(seconds=rnd.uniform(0, 20)), cart_id, body)
            if rnd.random() < 0.2:
                add(paid_at + timedelta(hours=2), cart_id, body, True)
        elif fate < 0.42 and email:
            unsubscribers.add(cart_id)
    out.sort()
    return Workload(out, unsubscribers, n_carts)
