"""``cart-recovery demo`` and ``cart-recovery simulate``: the rules on a virtual clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default="demo-emails",
    show_default=True,
    help="Folder for the emails the demo writes.",
)
def demo(out: Path) -> None:
    """The series' story, time-warped: a $120 cart, two reminders, a checkout; and a shopper
    who unsubscribes after the first reminder."""
    from cart_recovery.simulation.demo import run_demo

    sys.exit(run_demo(out))


@click.command()
@click.argument("events_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A rules doc (default: the built-in one).",
)
@click.option(
    "--until",
    default=None,
    help="Stop at this RFC 3339 time (default: the last event plus the maximum cart age).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
def simulate(
    events_file: Path,
    rules_file: Path | None,
    until: str | None,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Replay a JSON-lines file of cart events through the rules on a virtual clock."""
    from cart_recovery.simulation.run import SimulationError, run_simulation

    until_at = None
    if until:
        try:
            until_at = datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter("must be an RFC 3339 time", param_hint="--until") from None
        if until_at.tzinfo is None:
            until_at = until_at.replace(tzinfo=UTC)
    try:
        run_simulation(
            events_file,
            rules_file=rules_file,
            until=until_at,
            as_json=as_json,
            progress=sys.stderr.isatty() if progress is None else progress,
        )
    except SimulationError as e:
        raise click.ClickException(str(e)) from None
