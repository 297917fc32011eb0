"""Copies of the store's file: a consistent backup while the service writes, its check, and a
restore that keeps the file it replaces.

The copy is SQLite's online backup, a few pages a step, inside one read transaction on the
source: in WAL mode a reader never blocks the writer, and the snapshot the transaction holds
keeps the copy consistent (and lets the steps go on without restarting when the service
commits meanwhile). The row counts are read in that same transaction, so the copy's check
compares it with the source at the copy's moment. ``bench/backup_writer.py`` measures what a
backup costs the writer, this way and with ``VACUUM INTO`` (which cannot run inside a
transaction, so its counts could not be taken at its moment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cart_recovery.adapters.sqlite.schema import MIGRATIONS
from cart_recovery.domain.privacy import EmailKey

PAGES_PER_STEP = 256  # 1 MiB of 4 KiB pages: each step holds SQLite's locks for a moment


class BackupError(Exception):
    """A copy that could not be made, read or trusted; the message says what to do."""


@dataclass(frozen=True)
class Copy:
    """What a backup or a restore wrote."""

    path: Path
    size: int
    schema_version: int
    rows: dict[str, int]


@dataclass(frozen=True)
class Restored:
    copy: Copy
    kept: Path | None  # the file it replaced, kept aside (None: there was none)


def _read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"{path}: no such database file")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _rows(conn: sqlite3.Connection) -> dict[str, int]:
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    count = 'SELECT count(*) FROM "{}"'  # the names come from the file's own schema
    return {n: int(conn.execute(count.format(n)).fetchone()[0]) for (n,) in names}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temporary(near: Path) -> Iterator[Path]:
    """A temporary file name beside ``near`` (same folder: the rename is atomic), removed
    with its journal when the block leaves it behind."""
    tmp = near.with_name(f".{near.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def _copy_into(source: sqlite3.Connection, tmp: Path, pages: int) -> tuple[int, dict[str, int]]:
    """The source's snapshot into ``tmp`` (a one-file database, rollback journal); returns the
    schema version and the row counts of that snapshot."""
    source.execute("BEGIN")  # one read transaction: one snapshot for the counts and the copy
    try:
        version, rows = _version(source), _rows(source)
        dest = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(dest, pages=pages)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
    finally:
        source.execute("COMMIT")
    _fsync(tmp)
    return version, rows


def check_copy(path: Path, *, expected: dict[str, int] | None = None) -> Copy:
    """``PRAGMA integrity_check`` and the row counts of a copy (equal to ``expected`` when
    given), without writing to it."""
    try:
        conn = _read_only(path)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            version, rows = _version(conn), _rows(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path}: not a cart-recovery database ({e})") from None
    if problems != ["ok"]:
        raise BackupError(f"{path}: the integrity check failed: {'; '.join(problems[:5])}")
    if expected is not None and rows != expected:
        raise BackupError(
            f"{path}: the copy's row counts {rows} differ from the source's {expected}"
        )
    return Copy(path, path.stat().st_size, version, rows)


def backup(database: Path, dest: Path, *, pages: int = PAGES_PER_STEP) -> Copy:
    """A consistent copy of ``database`` at ``dest``, written to a temporary file beside it,
    synced, checked (integrity and row counts against the source's snapshot) and renamed over
    ``dest`` only then. Safe while the service writes."""
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such folder")
    source = _read_only(database)
    try:
        with _temporary(dest) as tmp:
            version, rows = _copy_into(source, tmp, pages)
            check_copy(tmp, expected=rows)
            os.replace(tmp, dest)
            _fsync(dest.parent)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{database}: could not be copied ({e})") from None
    finally:
        source.close()
    return Copy(dest, dest.stat().st_size, version, rows)


def _refuse_foreign(copy: Copy, email_key: EmailKey) -> None:
    """A copy this program cannot open: a newer schema, or a list under another key."""
    known = len(MIGRATIONS)
    if copy.schema_version > known:
        raise BackupError(
            f"{copy.path} was written by a newer cart-recovery (schema version "
            f"{copy.schema_version}; this one knows up to {known}): upgrade cart-recovery, "
            "then restore it"
        )
    if copy.schema_version < 2 or not copy.rows.get("unsubscribes"):
        return
    conn = _read_only(copy.path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'email_key_check'").fetchone()
    finally:
        conn.close()
    if row is not None and row[0] != email_key.check:
        raise BackupError(
            f"{copy.path} was written under another signing_key (its unsubscribe list keeps "
            "keyed digests of addresses, which this key cannot read): put the signing_key of "
            "the service it came from in config.toml, then restore it"
        )


def _settle(database: Path) -> None:
    """Fold the write-ahead log into the file and leave no -wal beside it: a log left over
    would be read into the file that replaces it."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    finally:
        conn.close()
    if str(mode).lower() != "delete":
        raise BackupError(f"{database}: still in use by another process; stop it, then restore")


def restore(source: Path, database: Path, *, email_key: EmailKey, now: datetime) -> Restored:
    """Put a backup in place of ``database``: the backup is checked (integrity, schema
    version, the unsubscribe list's key) and copied beside the database; the database is kept
    aside as ``<name>.before-restore-<time>``; then the copy is renamed over it. The caller
    holds the data folder (no service runs on it). The next open migrates the copy."""
    checked = check_copy(source)
    _refuse_foreign(checked, email_key)
    kept: Path | None = None
    with _temporary(database) as tmp:
        conn = _read_only(source)
        try:
            _, rows = _copy_into(conn, tmp, PAGES_PER_STEP)
        finally:
            conn.close()
        check_copy(tmp, expected=rows)
        if database.exists():
            _settle(database)
            kept = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
            shutil.copyfile(database, kept)
            _fsync(kept)
        for stale in ("-wal", "-shm"):
            database.with_name(database.name + stale).unlink(missing_ok=True)
        os.replace(tmp, database)
        _fsync(database.parent)
    return Restored(Copy(database, database.stat().st_size, checked.schema_version, rows), kept)
