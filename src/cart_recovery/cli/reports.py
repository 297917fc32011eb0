"""``cart-recovery export`` and ``cart-recovery summary``: the owner's reports on demand."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cart_recovery.bootstrap.embedded import Embedded

DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="cart-recovery-data",
    show_default=True,
    help="The service's data folder (env CART_RECOVERY_DATA_DIR).",
)


def _open(data_dir: Path) -> Embedded:
    from cart_recovery.bootstrap.embedded import embedded
    from cart_recovery.config.settings import SettingsError, load_settings

    if not (Path(os.environ.get("CART_RECOVERY_DATA_DIR") or data_dir) / "config.toml").exists():
        raise click.ClickException(f"{data_dir}: no config.toml here (run `serve` once first)")
    try:
        return embedded(load_settings(data_dir, dict(os.environ)), run_timers=False)
    except (SettingsError, ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None


@click.command("export")
@click.option("--date", "day", required=True, help="The day to export (YYYY-MM-DD, store time).")
@DATA_DIR_OPTION
def export(day: str, data_dir: Path) -> None:
    """Write one day's carts to the export folder (.xlsx and .csv) and Google Sheets if set."""
    try:
        which = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter("must be a date like 2026-05-12", param_hint="--date") from None
    rt = _open(data_dir)
    try:
        for where in rt.reports.export_day(which):
            click.echo(where)
    finally:
        rt.close()


@click.command("summary")
@click.option("--month", required=True, help="The month to sum up (YYYY-MM).")
@click.option("--email", "send", is_flag=True, help="Also email it to the owner addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@DATA_DIR_OPTION
def summary(month: str, send: bool, as_json: bool, data_dir: Path) -> None:
    """Print the monthly summary: carts seen, reminders, recovered, won back, and more."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise click.BadParameter("must be a month like 2026-05", param_hint="--month") from None
    from cart_recovery.service.reports import summary_json

    rt = _open(data_dir)
    try:
        result = rt.reports.summarise(year, mon)
        if send and not rt.reports.send_summary(result, datetime.now(UTC)):
            raise click.ClickException("no owner_emails in the config: nothing was emailed")
    finally:
        rt.close()
    click.echo(json.dumps(summary_json(result), indent=2) if as_json else result.text)
