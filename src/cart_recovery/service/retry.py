"""The one optimistic-concurrency retry: read, decide, write conditionally; on a conflict,
read again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cart_recovery.ports import StaleCart

RETRIES = 8

T = TypeVar("T")


def retrying(attempt: Callable[[], T], failure: str) -> T:
    """``attempt()`` until it does not raise StaleCart, at most RETRIES times; then StaleCart
    with ``failure`` (what kept changing)."""
    for _ in range(RETRIES):
        try:
            return attempt()
        except StaleCart:
            continue
    raise StaleCart(failure)
