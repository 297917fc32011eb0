"""What every storefront source shares: signature and timestamp checks, money-text checks.

A source is one file: it checks its own signature on the raw body and turns what its
storefront posts into zero or more cart events (SPEC §3). The web layer runs every source
through the same flow: read the body (size-limited) → ``verify`` → ``parse`` → ingest each
event → answer 2xx only after the commit.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# The source contract and its error are ports; sources import them from here too.
from cart_recovery.ports import MAX_BODY as MAX_BODY
from cart_recovery.ports import Parsed as Parsed
from cart_recovery.ports import RequestError as RequestError
from cart_recovery.ports import Source as Source

REPLAY_WINDOW_SECONDS = 300


def any_match(expected: Sequence[bytes], offered: Sequence[bytes]) -> bool:
    """True if any offered signature equals any expected one; every pair compared in constant
    time (no early exit that would tell which secret or which candidate matched)."""
    ok = False
    for want in expected:
        for got in offered:
            ok |= hmac.compare_digest(want, got)
    return ok


def check_timestamp(raw: str | None, now: datetime, header: str) -> int:
    """The Unix-seconds timestamp in header ``raw``, refused (401) when absent, malformed, or
    more than five minutes from ``now`` (a replay)."""
    return fresh_seconds(
        raw or "", now, name=header, field=header.lower(), missing=f"missing {header} header"
    )


def fresh_seconds(text: str, now: datetime, *, name: str, field: str, missing: str) -> int:
    """The one freshness rule of a signed delivery's timestamp (every signed webhook, storefront
    or mail provider): Unix seconds, at most ``REPLAY_WINDOW_SECONDS`` from ``now``; else 401
    (``missing`` when empty), naming ``name`` and the ``field``."""
    if not text:
        raise RequestError(401, "unsigned", missing, field)
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise RequestError(401, "bad_timestamp", f"{name} must be Unix seconds", field)
    ts = int(text)
    if abs(now.timestamp() - ts) > REPLAY_WINDOW_SECONDS:
        raise RequestError(
            401,
            "stale_timestamp",
            f"{name} is more than {REPLAY_WINDOW_SECONDS // 60} minutes from now (replay refused)",
            field,
        )
    return ts


# A price written as a string must be a plain decimal (the JSON Schema's pattern), not whatever
# Python's Decimal also reads ("1_000", " 5", "NaN", "١٢").
MONEY_TEXT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,6})?")


def bad_money_text(event: Mapping[str, Any]) -> str | None:
    """The first money field of a plain-JSON cart event (``total``, ``items[i].unit_price``)
    that is a string but not a plain decimal, or None."""
    total = event.get("total")
    if isinstance(total, str) and not MONEY_TEXT.fullmatch(total):
        return "total"
    items = event.get("items")
    if isinstance(items, list):
        for i, item in enumerate(items):
            price = item.get("unit_price") if isinstance(item, Mapping) else None
            if isinstance(price, str) and not MONEY_TEXT.fullmatch(price):
                return f"items[{i}].unit_price"
    return None
