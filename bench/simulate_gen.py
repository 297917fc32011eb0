"""A generated month of cart events for ``cart-recovery simulate``: JSON lines, in time order.

    python -m bench.simulate_gen OUT.jsonl [N] [--seed 7] [--shuffle]

N carts (default 1,000,000) created at random moments over 30 days, about three events each:
one to three ``cart.updated`` (the later ones re-price the cart, so a cart can change size
tier), sometimes a ``cart.saved``, a checkout for about a third of them at a random moment
(before the first reminder, between the two, or after both), redeliveries of the same event,
carts without an address, carts that share an address with an earlier one (another letter
case, so do-not-disturb is exercised), shopper timezones around the world (quiet hours), a few
per-cart ``wait_override`` values. Deterministic per seed.

Unsubscribes are not in the file: the simulate input is cart events only (SPEC §3 has no
unsubscribe event), so a simulated shopper can never unsubscribe; the skip reason stays in the
report's vocabulary and is always zero here.
"""

from __future__ import annotations

import heapq
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

START = datetime(2026, 5, 1, tzinfo=UTC)
SPAN = timedelta(days=30)

ZONES = [
    None,
    None,
    None,
    "America/New_York",
    "America/Los_Angeles",
    "America/Chicago",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
]
# Across the default rules' tiers: small (< 40), medium, big (> 150).
PRICES = ["9.50", "18.00", "24.00", "35.00", "48.00", "68.00", "120.00", "160.00", "240.00"]
TITLES = ["Linen shirt", "Beeswax candle", "Canvas tote", "Wool socks", "Ceramic mug", "Apron"]
NAMES = ["Maya", "Jordan", None, "Émile", "Li", "Sam O'Neil"]
CHECKOUT_AFTER_H = [0.2, 0.5, 1.5, 3, 6, 10, 22, 30, 44, 70]


def _items(rnd: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(rnd.choice((1, 1, 2, 3))):
        title = rnd.choice(TITLES)
        out.append(
            {
                "title": title,
                "quantity": rnd.choice((1, 1, 1, 2, 3)),
                "unit_price": rnd.choice(PRICES),
                "url": f"https://shop.example/p/{title.lower().replace(' ', '-')}",
            }
        )
    return out


def _cart_events(
    rnd: random.Random, i: int, created: float, emails: list[str]
) -> Iterator[tuple[float, dict[str, Any]]]:
    cart_id = f"c{i:07d}"
    roll = rnd.random()
    email: str | None
    if roll < 0.08:
        email = None
    elif roll < 0.16 and emails:
        # the same shopper, another cart, up to a few days apart
        email = emails[rnd.randrange(max(0, len(emails) - 2000), len(emails))].upper()
    else:
        email = f"shopper{i}@example.com"
        emails.append(email)
    base: dict[str, Any] = {"cart_id": cart_id, "currency": "USD"}
    if email is not None:
        base["email"] = email
    name = rnd.choice(NAMES)
    if name is not None:
        base["name"] = name
    zone = rnd.choice(ZONES)
    if zone is not None:
        base["timezone"] = zone
    base["return_url"] = f"https://shop.example/cart/{cart_id}"
    if rnd.random() < 0.02:
        base["wait_override"] = ["30 minutes", "6 hours"]
    t = created
    n_updates = rnd.choice((1, 2, 2, 3, 3, 4))
    for k in range(n_updates):
        body = {**base, "event_id": f"{cart_id}-u{k}", "type": "cart.updated"}
        body["items"] = _items(rnd)
        yield t, body
        if rnd.random() < 0.05:  # a redelivery of the same event
            yield t, body
        if k + 1 < n_updates:
            t += rnd.uniform(60, 90 * 60)
    last = t
    if rnd.random() < 0.06:
        t = last + 60
        yield t, {"cart_id": cart_id, "event_id": f"{cart_id}-s", "type": "cart.saved"}
    if rnd.random() < 0.35:
        paid = last + 3600 * rnd.choice(CHECKOUT_AFTER_H) + rnd.uniform(0, 3000)
        yield paid, {"cart_id": cart_id, "event_id": f"{cart_id}-paid", "type": "cart.checked_out"}


def events(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """The events of ``n`` carts, in time order (ties in generation order)."""
    rnd = random.Random(seed)
    span = SPAN.total_seconds()
    start = START.timestamp()
    created = sorted(rnd.random() * span for _ in range(n))
    emails: list[str] = []
    pending: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0
    for i, c in enumerate(created):
        at = start + c
        while pending and pending[0][0] <= at:
            t, _, body = heapq.heappop(pending)
            yield _stamped(t, body)
        for t, body in _cart_events(rnd, i, at, emails):
            seq += 1
            heapq.heappush(pending, (t, seq, body))
    while pending:
        t, _, body = heapq.heappop(pending)
        yield _stamped(t, body)


def _stamped(t: float, body: dict[str, Any]) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(round(t, 3), UTC)
    return {**body, "occurred_at": stamp}


def write(path: Path, n: int, seed: int = 7, *, shuffle: bool = False) -> int:
    """Write the month to ``path``; returns the number of events. ``shuffle``: not in time
    order (the slow path of ``simulate``)."""
    encoder = msgspec.json.Encoder()
    count = 0
    if shuffle:
        lines = [encoder.encode(e) for e in events(n, seed)]
        random.Random(seed + 1).shuffle(lines)
        with path.open("wb") as f:
            for line in lines:
                f.write(line + b"\n")
        return len(lines)
    buf = bytearray()
    with path.open("wb") as f:
        for event in events(n, seed):
            encoder.encode_into(event, buf, -1)
            buf += b"\n"
            count += 1
            if len(buf) > 1 << 20:
                f.write(buf)
                buf.clear()
        f.write(buf)
    return count


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seed = 7
    if "--seed" in sys.argv:
        seed = int(sys.argv[sys.argv.index("--seed") + 1])
        args.remove(str(seed))
    size = int(args[1]) if len(args) > 1 else 1_000_000
    written = write(Path(args[0]), size, seed, shuffle="--shuffle" in sys.argv)
    print(f"{written} events for {size} carts -> {args[0]}")
