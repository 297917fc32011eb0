"""Upgrades: the stores written by each released schema version open with the current code,
migrate, and keep every cart, send, audit row and unsubscribe; a migration that fails leaves
the file as it was."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from cart_recovery.adapters.sqlite import MIGRATIONS, SqliteStore, migrate
from cart_recovery.domain.model import Status
from cart_recovery.domain.privacy import EmailKey

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sqlite"
SIGNING_KEY = "fixture-signing-key-0123456789abcdef"  # the one make_fixture.py writes with
OLD_TABLES = ("carts", "sends", "audit", "unsubscribes", "events", "timers", "clicks", "meta")


def rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in OLD_TABLES}
    finally:
        conn.close()


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return [f"user_version {version}", *conn.iterdump()]
    finally:
        conn.close()


@pytest.fixture(params=[2, 3], ids=lambda v: f"schema-{v}")
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[int, Path]:
    """Given a copy of the store a release at that schema version wrote."""
    version: int = request.param
    path = tmp_path / "cart-recovery.sqlite3"
    shutil.copyfile(FIXTURES / f"schema-{version}.sqlite3", path)
    return version, path


def test_a_released_store_migrates_and_keeps_every_row(old_store: tuple[int, Path]) -> None:
    version, path = old_store
    assert dump(path)[0] == f"user_version {version}"
    before = rows(path)
    assert before["carts"] == 3 and before["sends"] == 2 and before["unsubscribes"] == 1

    store = SqliteStore(path, email_key=EmailKey.from_signing_key(SIGNING_KEY))
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert {t: store.count(t) for t in OLD_TABLES} == before
        ada, ada_sends = store.load("c-ada")
        bo, bo_sends = store.load("c-bo")
        cy, cy_sends = store.load("c-cy")
        assert ada is not None and ada.email == "ada@example.com" and ada.status is Status.OPEN
        assert bo is not None and bo.email == "bo@example.com"
        assert cy is not None and cy.status is Status.BOUGHT and cy_sends == []
        for sends in (ada_sends, bo_sends):
            assert [(s.step, s.outcome) for s in sends] == [(1, "sent")]
        assert ada_sends[0].recipient == "ada@example.com" and ada_sends[0].message_id
        assert store.is_unsubscribed("ada@example.com")
        assert store.is_unsubscribed("ADA@example.com")
        assert not store.is_unsubscribed("bo@example.com")
        assert len(store.audit("c-cy")) == 2  # the cart, then its checkout
        assert sum(len(store.audit(c)) for c in ("c-ada", "c-bo", "c-cy")) == before["audit"]
        assert len(store.events_of("c-cy")) == 2
    finally:
        store.close()


def test_a_migration_that_fails_half_way_leaves_the_file_as_it_was(
    old_store: tuple[int, Path],
) -> None:
    version, path = old_store
    before = dump(path)
    conn = sqlite3.connect(path, isolation_level=None)
    broken = [*MIGRATIONS, "CREATE TABLE halfway (a); INSERT INTO no_such_table VALUES (1)"]
    try:
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            migrate(conn, broken)
    finally:
        conn.close()
    after = dump(path)
    assert after == before  # the earlier migrations of the run are rolled back with it
    assert after[0] == f"user_version {version}"
    assert not any("halfway" in line for line in after)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    shutil.copyfile(FIXTURES / "schema-3.sqlite3", path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match=r"newer than this program knows.*upgrade"):
        SqliteStore(path, email_key=EmailKey.from_signing_key(SIGNING_KEY))
