"""The embedded store's backups, wired to a data folder: ``backup`` and ``restore`` for the
command line, the folder's lock for ``serve``, and the nightly copies of ``serve``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cart_recovery.adapters.folder_lock import FolderInUse, FolderLock
from cart_recovery.adapters.sqlite.backup import BackupError, Copy, Restored, backup, restore
from cart_recovery.config.settings import CONFIG_NAME, EmbeddedSettings
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.embedded.backups import BackupSchedule, backup_name
from cart_recovery.ports import Clock
from cart_recovery.service.reports import Reports

__all__ = [
    "BackupError",
    "Copy",
    "FolderInUse",
    "Restored",
    "back_up",
    "backup_name",
    "backup_schedule",
    "hold_data_dir",
    "restore_into",
]


def hold_data_dir(settings: EmbeddedSettings) -> FolderLock:
    """The data folder's lock (``with`` it); raises ``BackupError`` saying who holds it."""
    lock = FolderLock(settings.data_dir)
    try:
        lock.acquire()
    except FolderInUse as e:
        raise BackupError(
            f"cart-recovery serve is running on {settings.data_dir} (process {e.pid or '?'}): "
            "stop it first"
        ) from None
    return lock


def back_up(settings: EmbeddedSettings, dest: Path, now: datetime) -> Copy:
    """A checked copy of the folder's database at ``dest`` (a file, or a folder to name one
    in), safe while ``serve`` runs."""
    if not settings.database.is_file():
        raise BackupError(f"{settings.database}: no database here yet (nothing to back up)")
    target = dest / backup_name(now) if dest.is_dir() else dest
    return backup(settings.database, target)


def restore_into(settings: EmbeddedSettings, source: Path, now: datetime) -> Restored:
    """Replace the folder's database with a backup, while holding the folder (no ``serve``
    runs on it meanwhile)."""
    if not settings.signing_key:
        raise BackupError(
            f"{settings.data_dir / CONFIG_NAME}: 'signing_key' is not set: copy the config.toml "
            "of the service the backup came from"
        )
    key = EmailKey.from_signing_key(settings.signing_key)
    lock = hold_data_dir(settings)
    try:
        return restore(source, settings.database, email_key=key, now=now)
    finally:
        lock.release()


def backup_schedule(settings: EmbeddedSettings, reports: Reports, clock: Clock) -> BackupSchedule:
    """The nightly copies into ``<data>/backups/``, keeping the last ``backup_keep``."""
    folder = settings.data_dir / "backups"

    def copy(path: Path) -> Copy:
        return backup(settings.database, path)

    return BackupSchedule(copy, clock, folder, settings.backup_keep, reports.zone)
