"""The owner's part of the CartStore contract (clicks, reads, privacy) on DynamoDB Local: the
same tests as ``tests/contract/test_owner_store.py``, with this module's ``store``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cart_recovery.adapters.aws.dynamo import DynamoStore
from cart_recovery.adapters.aws.scheduler import MemorySchedules
from tests.aws.services import dynamo_tables
from tests.contract import test_owner_store as contract

pytestmark = pytest.mark.aws


@pytest.fixture
def store(dynamodb_local: str) -> Iterator[Any]:
    with dynamo_tables(dynamodb_local) as (db, tables):
        yield DynamoStore(db, tables=tables, timers=MemorySchedules(), email_key=contract.KEY)


# Every contract test that takes a ``store`` (the SQLite-specific ones take a path instead).
for _name, _test in vars(contract).copy().items():
    if (
        _name.startswith("test_")
        and "store" in _test.__code__.co_varnames[: _test.__code__.co_argcount]
    ):
        globals()[_name] = _test
