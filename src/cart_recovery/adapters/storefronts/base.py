"""What every storefront source shares: the refused-request error and the source contract.

A source is one file: it checks its own signature on the raw body and turns what its
storefront posts into zero or more cart events (SPEC §3). The web layer runs every source
through the same flow: read the body (size-limited) → ``verify`` → ``parse`` → ingest each
event → answer 2xx only after the commit.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cart_recovery.domain.model import CartEvent

MAX_BODY = 256 * 1024
REPLAY_WINDOW_SECONDS = 300


class RequestError(Exception):
    """A refused request: HTTP ``status``, a machine ``code``, the ``field`` at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.field = field
        super().__init__(message)

    def body(self) -> dict[str, str]:
        out = {"error": self.code, "message": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class Parsed:
    """What a delivery means: the cart events to ingest (maybe none), and why there are none."""

    events: tuple[CartEvent, ...] = ()
    ignored: str | None = field(default=None)  # e.g. "topic products/update is not used"


class Source(Protocol):
    """One storefront source. Both methods are pure (time comes in as ``now``) and raise only
    RequestError: 401 for a bad or missing signature, 400 (naming the field) for bad input."""

    @property
    def name(self) -> str:
        """The source's name: ``generic``, ``shopify``, ``standard``."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raises RequestError(401) unless a configured secret signed ``body`` (in constant
        time, every configured secret tried: two are accepted during a rotation)."""

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        """The cart events in an already verified delivery."""


def any_match(expected: Sequence[bytes], offered: Sequence[bytes]) -> bool:
    """True if any offered signature equals any expected one; every pair compared in constant
    time (no early exit that would tell which secret or which candidate matched)."""
    ok = False
    for want in expected:
        for got in offered:
            ok |= hmac.compare_digest(want, got)
    return ok


def check_timestamp(raw: str | None, now: datetime, header: str) -> int:
    """The Unix-seconds timestamp in ``raw``, refused (401) when absent, malformed, or more
    than five minutes from ``now`` (a replay)."""
    if not raw:
        raise RequestError(401, "unsigned", f"missing {header} header", header.lower())
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise RequestError(401, "bad_timestamp", f"{header} must be Unix seconds", header.lower())
    ts = int(raw)
    if abs(now.timestamp() - ts) > REPLAY_WINDOW_SECONDS:
        raise RequestError(
            401,
            "stale_timestamp",
            f"{header} is more than 5 minutes from now (replay refused)",
            header.lower(),
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
