"""``cart-recovery backup`` and ``restore``: a checked copy of the embedded store, safe while
``serve`` runs, and putting one back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cart_recovery.cli.options import data_dir_option, data_dir_settings

if TYPE_CHECKING:
    from cart_recovery.bootstrap.backups import Copy


def _show(verb: str, copy: Copy) -> None:
    click.echo(f"{verb} {copy.path} ({copy.size:,} bytes, schema version {copy.schema_version})")
    for table, count in copy.rows.items():
        click.echo(f"  {table:<14} {count:>9,} rows")


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@data_dir_option
def backup(dest: Path, data_dir: Path) -> None:
    """Copy the database to DEST (a file, or a folder to put a dated copy in), consistently,
    while `serve` runs; the copy is checked before it takes its name."""
    from cart_recovery.bootstrap.backups import BackupError, back_up

    settings = data_dir_settings(data_dir)
    try:
        copy = back_up(settings, dest, datetime.now(UTC))
    except BackupError as e:
        raise click.ClickException(str(e)) from None
    _show("Wrote", copy)
    click.echo("Integrity check: ok; row counts equal to the database's at the copy's moment")


@click.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
def restore(src: Path, data_dir: Path) -> None:
    """Replace the database with the backup SRC. `serve` must be stopped; the current database
    is kept aside as cart-recovery.sqlite3.before-restore-<time>."""
    from cart_recovery.bootstrap.backups import BackupError, restore_into

    settings = data_dir_settings(data_dir)
    try:
        restored = restore_into(settings, src, datetime.now(UTC))
    except BackupError as e:
        raise click.ClickException(str(e)) from None
    if restored.kept is not None:
        click.echo(f"Kept the database it replaced as {restored.kept}")
    _show("Restored", restored.copy)
    click.echo("Start `cart-recovery serve`: it brings the schema up to date on start.")
