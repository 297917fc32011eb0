"""A 1,000-line cart (the most a cart may have) on DynamoDB Local: its rows are written, and
each audit row stays under the 400 KB item limit (the snapshots trimmed to what changed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.audit import TRIMMED
from tests.aws.services import contract_store
from tests.conftest import T0, make_event
from tests.unit.test_audit_fit import lines

pytestmark = pytest.mark.aws

ITEM_LIMIT = 400 * 1024


def test_a_thousand_line_cart_writes_every_audit_row(dynamodb_local: str) -> None:
    with contract_store(dynamodb_local) as store:
        service = in_memory(store=store)
        # Given a cart of 999 lines, then one more line: 1,000, the most a cart may have
        first = make_event(event_id="e1", items=lines(999), total=Decimal("23976.00"))
        assert service.ingest(first, T0)
        later = T0 + timedelta(minutes=5)
        more = make_event(
            event_id="e2", items=lines(1000), total=Decimal("24000.00"), occurred_at=later
        )
        assert service.ingest(more, later)
        # Then the cart is stored whole, and both audit rows are there
        cart, _ = store.load("c1")
        assert cart is not None and len(cart.items) == 1000
        created, updated = store.audit("c1")
        assert created.after is not None
        # each row, as DynamoDB holds it, is under the item limit
        for item in store._db.scan(TableName=store.tables.audit)["Items"]:
            assert len(msgspec.json.encode(item)) < ITEM_LIMIT
        # and the update keeps what changed: the line added
        assert updated.detail is not None and updated.detail.endswith(TRIMMED)
        assert updated.after is not None
        [added] = updated.after["items"]["added"]
        assert added["title"].endswith("no. 0999")
