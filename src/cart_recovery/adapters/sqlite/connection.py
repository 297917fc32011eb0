"""The store's connection: opening and migrating the file, checking the unsubscribe list's
key, and the write transactions (one atomic write, a group commit) every other part uses."""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cart_recovery.adapters.sqlite.codec import IN_CHUNK, address, fold
from cart_recovery.adapters.sqlite.schema import migrate
from cart_recovery.domain.privacy import UNKEYED, EmailKey


class Connection:
    """One SQLite file (WAL) behind a lock, shared by the store's reads and writes."""

    def __init__(
        self, path: Path | str, *, synchronous: str = "FULL", email_key: EmailKey | None = None
    ) -> None:
        """``email_key`` keys the unsubscribe list (``EmailKey.from_signing_key`` for real
        data). A database whose list was written under another key refuses to open, rather
        than silently forget who unsubscribed."""
        self.path = str(path)
        self.email_key = email_key or UNKEYED
        # the wake-up loop keys each address twice (the read ahead's unsubscribe check, the
        # claim): the last few hundred digests are remembered
        self.email_digest = functools.lru_cache(maxsize=512)(self.email_key.digest)
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._lock = threading.RLock()
        self._grouped = False
        c = self._conn
        wal = False
        if self.path != ":memory:":
            wal = c.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"sqlite synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
            )
        self.synchronous = synchronous.upper()
        c.execute(f"PRAGMA synchronous = {self.synchronous}")
        # group(sync=False) + sync(): only where a commit's sync is an fsync of the WAL file
        self._defer = wal and self.synchronous in {"FULL", "EXTRA"}
        self._wal_fd: int | None = None
        self._wal_ino = 0
        self._syncing = threading.Lock()
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA busy_timeout = 30000")
        c.create_function("cr_email_key", 1, self.email_key.digest, deterministic=True)
        c.create_function("cr_fold", 1, fold, deterministic=True)
        c.create_function("cr_address", 1, address, deterministic=True)
        self.schema_version = migrate(c)
        self._check_email_key()

    def _check_email_key(self) -> None:
        if self.schema_version < 2:
            return
        with self._write() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'email_key_check'").fetchone()
            if row is not None and row[0] == self.email_key.check:
                return
            if row is not None and c.execute("SELECT 1 FROM unsubscribes LIMIT 1").fetchone():
                raise RuntimeError(
                    f"{self.path}: the unsubscribe list was written under another signing_key "
                    "(it keeps keyed digests of addresses): put the previous signing_key back"
                )
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('email_key_check', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (self.email_key.check,),
            )

    def close(self) -> None:
        with self._lock, self._syncing:
            self._conn.close()
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None

    @contextmanager
    def _write(self, *, one_statement: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic write: its own transaction, or a savepoint inside a ``group()``.
        ``one_statement``: the write changes rows with a single statement (reads before it
        are fine), which SQLite makes atomic by itself: inside a group, no savepoint."""
        with self._lock:
            c = self._conn
            if self._grouped and one_statement:
                yield c
                return
            if self._grouped:
                c.execute("SAVEPOINT one")
                try:
                    yield c
                except BaseException:
                    c.execute("ROLLBACK TO one")
                    c.execute("RELEASE one")
                    raise
                c.execute("RELEASE one")
                return
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    @contextmanager
    def group(self, *, sync: bool = True) -> Iterator[None]:
        """Group commit: every write inside is atomic on its own (a write that raises is rolled
        back alone) and all of them become durable together, with one commit and one sync. The
        caller answers for none of them until this returns.

        ``sync=False``: the commit leaves out the sync (the group is atomic, and visible, but
        a power cut may lose it) and the caller answers for none of it until a later
        ``sync()`` has returned. Other writes keep the connection's ``synchronous``."""
        with self._lock:
            if self._grouped:
                yield
                return
            c = self._conn
            later = not sync and self._defer
            if later:
                c.execute("PRAGMA synchronous = NORMAL")
            try:
                c.execute("BEGIN IMMEDIATE")
                self._grouped = True
                try:
                    yield
                except BaseException:
                    self._grouped = False
                    c.execute("ROLLBACK")
                    raise
                self._grouped = False
                c.execute("COMMIT")
            finally:
                if later:
                    c.execute(f"PRAGMA synchronous = {self.synchronous}")

    def sync(self) -> None:
        """Make every commit made so far durable, as a ``synchronous=FULL`` commit would have:
        an fdatasync of the WAL file, holding no lock (the next group can commit meanwhile).
        A commit whose frames a checkpoint has already copied out was synced by it (a
        checkpoint syncs the WAL before copying and the database after)."""
        if not self._defer:
            return
        wal = self.path + "-wal"
        with self._syncing:
            try:
                ino = os.stat(wal).st_ino
            except FileNotFoundError:  # no WAL: everything is in the (synced) database file
                return
            if self._wal_fd is None or ino != self._wal_ino:
                fd = os.open(wal, os.O_RDONLY)
                if self._wal_fd is not None:
                    os.close(self._wal_fd)
                self._wal_fd, self._wal_ino = fd, ino
            os.fdatasync(self._wal_fd)

    def _select_in(
        self, sql: str, keys: Sequence[str], extra: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``IN ({marks})`` holds ``keys``, a chunk at a time."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            query = sql.format(marks=",".join("?" * len(chunk)))
            with self._lock:
                rows.extend(self._conn.execute(query, (*chunk, *extra)).fetchall())
        return rows

    def count(self, table: str) -> int:
        if table not in {
            "carts",
            "sends",
            "audit",
            "unsubscribes",
            "events",
            "timers",
            "clicks",
            "meta",
            "soft_bounces",
            "alerts",
        }:
            raise ValueError(table)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
