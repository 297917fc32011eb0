"""``backup`` and ``restore`` on a data folder, and the nightly copies of ``serve``."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from cart_recovery.adapters.folder_lock import FolderLock
from cart_recovery.adapters.sqlite import MIGRATIONS
from cart_recovery.bootstrap.backups import backup_schedule
from cart_recovery.bootstrap.embedded import embedded, init_data_dir
from cart_recovery.cli import main
from cart_recovery.config.settings import load_settings
from cart_recovery.embedded.clock import VirtualClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sqlite"
CONFIG = (
    'signing_key = "{key}"\nwebhook_secrets = ["backup-webhook-secret-0123456"]\n'
    'admin_token = "backup-admin-token"\n'
)
KEY = "fixture-signing-key-0123456789abcdef"  # the fixtures' key


def folder_with(tmp_path: Path, name: str, *, key: str = KEY, db: str | None = None) -> Path:
    """Given a data folder with a config under ``key`` (and a fixture's database)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.toml").write_text(CONFIG.format(key=key))
    init_data_dir(folder)  # the docs beside it
    if db:
        shutil.copyfile(FIXTURES / db, folder / "cart-recovery.sqlite3")
    return folder


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_backup_writes_a_checked_copy_and_says_what_it_wrote(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    code, out = cli("backup", str(tmp_path / "copy.sqlite3"), "--data-dir", str(data))
    assert code == 0, out
    assert f"Wrote {tmp_path / 'copy.sqlite3'} (" in out and "schema version 3" in out
    assert "carts                  3 rows" in out and "unsubscribes           1 rows" in out
    assert "Integrity check: ok" in out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    code, out = cli("backup", str(tmp_path), "--data-dir", str(data))  # a folder: a dated name
    assert code == 0 and len(list(tmp_path.glob("cart-recovery-*.sqlite3"))) == 1


def test_backup_of_a_folder_without_a_database_says_so(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data")
    code, out = cli("backup", str(tmp_path / "copy.sqlite3"), "--data-dir", str(data))
    assert code == 1 and "no database here yet" in out
    assert not (tmp_path / "copy.sqlite3").exists()


def test_restore_keeps_the_current_database_aside_and_puts_the_backup_in_place(
    tmp_path: Path,
) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    current = dump(data / "cart-recovery.sqlite3")
    backup = tmp_path / "b.sqlite3"
    shutil.copyfile(FIXTURES / "schema-2.sqlite3", backup)
    code, out = cli("restore", str(backup), "--data-dir", str(data))
    assert code == 0, out
    kept = list(data.glob("cart-recovery.sqlite3.before-restore-*"))
    assert len(kept) == 1 and dump(kept[0]) == current
    assert f"Kept the database it replaced as {kept[0]}" in out
    assert "schema version 2" in out
    rt = embedded(load_settings(data, {}), clock=VirtualClock(datetime.now(UTC)), run_timers=False)
    try:
        assert rt.store.schema_version == len(MIGRATIONS)
        assert rt.store.is_unsubscribed("ada@example.com")
    finally:
        rt.close()


def test_restore_refuses_a_backup_written_under_another_signing_key(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", key="another-signing-key-0123456789abcdef")
    code, out = cli("restore", str(FIXTURES / "schema-3.sqlite3"), "--data-dir", str(data))
    assert code == 1
    assert "was written under another signing_key" in out
    assert "put the signing_key of the service it came from in config.toml" in out
    assert not (data / "cart-recovery.sqlite3").exists()


def test_restore_refuses_a_backup_from_a_newer_version(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    newer = tmp_path / "newer.sqlite3"
    shutil.copyfile(FIXTURES / "schema-3.sqlite3", newer)
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    code, out = cli("restore", str(newer), "--data-dir", str(data))
    assert code == 1
    assert f"written by a newer cart-recovery (schema version {len(MIGRATIONS) + 1}" in out
    assert "upgrade cart-recovery, then restore it" in out
    assert list(data.glob("*.before-restore-*")) == []


def test_restore_refuses_what_is_not_a_database(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    code, out = cli("restore", str(junk), "--data-dir", str(data))
    assert code == 1 and "not a cart-recovery database" in out


def test_restore_refuses_while_the_folder_is_held(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    with FolderLock(data):
        code, out = cli("restore", str(FIXTURES / "schema-2.sqlite3"), "--data-dir", str(data))
    assert code == 1 and "cart-recovery serve is running on" in out and "stop it first" in out
    code, out = cli("restore", str(FIXTURES / "schema-2.sqlite3"), "--data-dir", str(data))
    assert code == 0, out  # released: a lock file left behind is no lock


def test_the_nightly_backup_keeps_the_last_n(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data", db="schema-3.sqlite3")
    (data / "config.toml").write_text(CONFIG.format(key=KEY) + "backup_keep = 2\n")
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    clock = VirtualClock(start)
    rt = embedded(load_settings(data, {}), clock=clock, run_timers=False)
    try:
        schedule = backup_schedule(rt.settings, rt.reports, clock)
        schedule.catch_up(start)  # none yet: one now
        schedule.catch_up(start + timedelta(hours=1))  # one since the last nightly hour
        for day in (1, 2, 3):
            schedule.run_backup(start + timedelta(days=day))
    finally:
        rt.close()
    names = [p.name for p in schedule.backups()]
    assert len(schedule.runs) == 4
    assert names == [
        "cart-recovery-20260312T120000Z.sqlite3",
        "cart-recovery-20260313T120000Z.sqlite3",
    ]


def test_backup_keep_must_be_a_count(tmp_path: Path) -> None:
    data = folder_with(tmp_path, "data")
    (data / "config.toml").write_text(CONFIG.format(key=KEY) + "backup_keep = -1\n")
    code, out = cli("backup", str(tmp_path / "x.sqlite3"), "--data-dir", str(data))
    assert code == 1 and "'backup_keep' must be a whole number from 0" in out
