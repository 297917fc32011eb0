"""``domain.audit.fit``: an audit row for a store whose items have a size limit keeps what
changed, and never more than the limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from cart_recovery.domain.audit import TRIMMED, fit
from cart_recovery.domain.model import AuditEntry, Item, cart_snapshot
from tests.conftest import T0, make_cart


def lines(n: int, start: int = 0) -> tuple[Item, ...]:
    return tuple(
        Item(
            title=f"Hand-thrown stoneware mug, speckled glaze, no. {i:04d}",
            unit_price=Decimal("24.00"),
            url=f"https://shop.example/products/stoneware-mug-{i:04d}",
            image_url=f"https://cdn.shop.example/images/products/stoneware-mug-{i:04d}-large.jpg",
        )
        for i in range(start, start + n)
    )


def snapshots(entry: AuditEntry) -> int:
    return len(msgspec.json.encode([entry.before, entry.after]))


def row(before: Any, after: Any, detail: str | None = "cart.updated e2") -> AuditEntry:
    return AuditEntry(
        cart_id="c1",
        at=T0,
        by="system",
        action="updated",
        before=before,
        after=after,
        detail=detail,
    )


def test_a_row_that_fits_is_kept_as_it_is() -> None:
    entry = row(cart_snapshot(make_cart()), cart_snapshot(make_cart(name="Maya L")))
    assert fit(entry, 300_000) is entry


def test_a_large_cart_keeps_the_lines_added_and_the_fields_that_changed() -> None:
    # Given a 1,000-line cart that gets one more line
    before = cart_snapshot(make_cart(items=lines(1000), total=Decimal("24000.00")))
    after = cart_snapshot(make_cart(items=lines(1001), total=Decimal("24024.00"), version=1))
    assert before is not None and after is not None
    entry = row(before, after)
    assert snapshots(entry) > 300_000
    # When it is fitted
    small = fit(entry, 300_000)
    # Then it is under the limit and says what changed: the line added, the total, the version
    assert snapshots(small) <= 300_000
    assert small.after is not None and small.before is not None
    assert small.after["items"]["lines"] == 1001 and small.before["items"]["lines"] == 1000
    assert [line["title"] for line in small.after["items"]["added"]] == [
        "Hand-thrown stoneware mug, speckled glaze, no. 1000"
    ]
    assert small.before["items"]["removed"] == []
    assert (small.before["total"], small.after["total"]) == (before["total"], after["total"])
    assert "email" not in small.after  # unchanged fields are left out
    assert small.detail == f"cart.updated e2; {TRIMMED}"


def test_a_change_too_large_even_alone_is_noted_by_its_size() -> None:
    before = cart_snapshot(make_cart(items=lines(1000)))
    after = cart_snapshot(make_cart(items=lines(1000, start=5000)))
    small = fit(row(before, after, detail=None), 100_000)
    assert snapshots(small) <= 100_000
    assert small.after is not None and "omitted" in small.after["items"]
    assert small.detail == TRIMMED


def test_a_row_with_one_side_only_keeps_that_side_small() -> None:
    after = cart_snapshot(make_cart(items=lines(1000)))
    small = fit(row(None, after), 50_000)
    assert small.before is None and small.after is not None
    assert snapshots(small) <= 50_000
