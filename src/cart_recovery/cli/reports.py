"""``cart-recovery export`` and ``cart-recovery summary``: the owner's reports on demand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import click

from cart_recovery.cli.options import data_dir_option, open_data_dir


@click.command("export")
@click.option("--date", "day", required=True, help="The day to export (YYYY-MM-DD, store time).")
@data_dir_option
def export(day: str, data_dir: Path) -> None:
    """Write one day's carts to the export folder (.xlsx and .csv) and Google Sheets if set."""
    try:
        which = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter("must be a date like 2026-05-12", param_hint="--date") from None
    with open_data_dir(data_dir) as rt:
        for where in rt.reports.export_day(which):
            click.echo(where)


@click.command("summary")
@click.option("--month", required=True, help="The month to sum up (YYYY-MM).")
@click.option("--email", "send", is_flag=True, help="Also email it to the owner addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@data_dir_option
def summary(month: str, send: bool, as_json: bool, data_dir: Path) -> None:
    """Print the monthly summary: carts seen, reminders, recovered, won back, and more."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise click.BadParameter("must be a month like 2026-05", param_hint="--month") from None
    from cart_recovery.service.reports import summary_json

    with open_data_dir(data_dir) as rt:
        result = rt.reports.summarise(year, mon)
        if send and not rt.reports.send_summary(result, datetime.now(UTC)):
            raise click.ClickException("no owner_emails in the config: nothing was emailed")
    click.echo(json.dumps(summary_json(result), indent=2) if as_json else result.text)
