"""The command line: ``cart-recovery serve | demo | simulate | check-rules``."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from cart_recovery.domain.rules import RulesError, describe_rules, parse_rules

DEFAULT_DATA_DIR = "cart-recovery-data"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cart-recovery")
def main() -> None:
    """Win back shoppers who left a full cart: sized waits, at most two warm reminders,
    and a stop the instant they buy or unsubscribe."""


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the database, docs, config and outbox live (env CART_RECOVERY_DATA_DIR).",
)
@click.option("--host", default=None, help="Listen address (env CART_RECOVERY_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (env CART_RECOVERY_PORT).")
def serve(data_dir: Path, host: str | None, port: int | None) -> None:
    """Run the service: webhook, unsubscribe, and the reminder timers, in one process."""
    import uvicorn

    from cart_recovery.bootstrap.embedded import embedded, init_data_dir
    from cart_recovery.config.settings import SettingsError, load_settings
    from cart_recovery.embedded.logs import setup_logging

    environ = dict(os.environ)
    if host:
        environ["CART_RECOVERY_HOST"] = host
    if port is not None:
        environ["CART_RECOVERY_PORT"] = str(port)
    data_dir = Path(environ.get("CART_RECOVERY_DATA_DIR") or data_dir)
    created = init_data_dir(data_dir)
    try:
        settings = load_settings(data_dir, environ)
        clock = None
        if environ.get("CART_RECOVERY_CLOCK"):  # accelerated time, for rehearsals and tests
            from cart_recovery.embedded.clock import OffsetClock

            clock = OffsetClock.parse(environ["CART_RECOVERY_CLOCK"])
        runtime = embedded(settings, clock=clock)
    except (SettingsError, ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    where = settings.data_dir.resolve()
    if created:
        click.echo(f"Created {', '.join(p.name for p in created)} in {where}")
    click.echo(f"Data folder:   {where}")
    click.echo(f"Rules doc:     {settings.rules_file.resolve()}")
    click.echo(f"Voice doc:     {settings.voice_file.resolve()}")
    click.echo(f"Config:        {(settings.data_dir / 'config.toml').resolve()}")
    mail = "SMTP" if settings.smtp_url else f"outbox folder {settings.outbox.resolve()}"
    click.echo(f"Mail goes to:  {mail}")
    click.echo(f"Webhook URL:   POST {settings.webhook_url}  (secret: webhook_secrets in config)")
    click.echo(f"Health:        {settings.base_url}/healthz")
    click.echo(f"Dashboard:     {settings.base_url}/admin  (sign in with admin_token in config)")
    sys.stdout.flush()
    setup_logging()
    try:
        uvicorn.run(
            runtime.app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
        )
    finally:
        runtime.close()


@main.command("check-rules")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check_rules(file: Path) -> None:
    """Check a rules doc: print what it means, or every line that can't be read."""
    try:
        rules = parse_rules(file.read_text(encoding="utf-8"))
    except RulesError as e:
        for p in e.problems:
            click.echo(f"{file}:{p.line}: {p.message}: {p.text}", err=True)
        sys.exit(1)
    except UnicodeDecodeError:
        click.echo(f"{file}: not a UTF-8 text file", err=True)
        sys.exit(1)
    click.echo(describe_rules(rules))
    click.echo(f"{file}: OK")


@main.command()
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


@main.command()
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


def _register() -> None:
    from cart_recovery.cli.reports import export, summary

    main.add_command(export)
    main.add_command(summary)

    from cart_recovery.cli.integrate import import_carts, send_test_event

    main.add_command(send_test_event)
    main.add_command(import_carts)

    from cart_recovery.cli.cost import cost

    main.add_command(cost)

    from cart_recovery.cli.owner import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register()
