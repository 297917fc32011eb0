"""``cart-recovery owner``: the shop's named owners on the data folder's store. ``add`` (a
password asked twice, or ``--token`` for a personal token printed once), ``list`` (never a
hash), ``remove`` (their sessions end at once). Once an owner is named, the config's
``admin_token`` no longer logs in to the dashboard."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from cart_recovery.cli.options import data_dir_option, open_data_dir

VIA = "command line"  # where an owner change came from, in its log line


@click.group()
def owner() -> None:
    """The shop's owners: who logs in to the dashboard, named in the history."""


@owner.command()
@click.argument("name")
@click.argument("email")
@click.option(
    "--token",
    "with_token",
    is_flag=True,
    help="Give the owner a personal token (printed once) instead of a password.",
)
@data_dir_option
def add(name: str, email: str, with_token: bool, data_dir: Path) -> None:
    """Add an owner who logs in with EMAIL and a password (asked twice), or a token."""
    from cart_recovery.domain.owners import MIN_PASSWORD, OwnerError
    from cart_recovery.ports import OwnerExists
    from cart_recovery.service.owners import OwnerLogins

    with open_data_dir(data_dir) as rt:
        logins = OwnerLogins(rt.store)
        now = rt.clock.now()
        try:
            if with_token:
                account, token = logins.add_with_token(name, email, now, via=VIA)
            else:
                password = click.prompt(
                    f"Password for {name.strip()} (at least {MIN_PASSWORD} characters)",
                    hide_input=True,
                    confirmation_prompt="Type it again",
                )
                account = logins.add_with_password(name, email, password, now, via=VIA)
                token = ""
        except OwnerError as e:
            raise click.ClickException(str(e)) from None
        except OwnerExists as e:
            raise click.ClickException(f"{e}: `cart-recovery owner list` shows them") from None
    click.echo(f"{account.name} <{account.email}> is an owner now.")
    if token:
        click.echo("Their personal token (shown this once; it is kept only as a hash):")
        click.echo(token)
    click.echo("The admin token in config.toml no longer logs in to the dashboard.")


def _when(t: datetime | None) -> str:
    return "never" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


@owner.command("list")
@data_dir_option
def list_(data_dir: Path) -> None:
    """The owners: name, email, when added, last login."""
    with open_data_dir(data_dir) as rt:
        accounts = rt.store.owners()
    if not accounts:
        click.echo("No owner is named: the dashboard logs in with admin_token from config.toml.")
        return
    rows = [("NAME", "EMAIL", "ADDED", "LAST LOGIN", "LOGS IN WITH")]
    for a in accounts:
        rows.append((a.name, a.email, _when(a.created), _when(a.last_login), a.logs_in_with))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@owner.command()
@click.argument("name")
@data_dir_option
def remove(name: str, data_dir: Path) -> None:
    """Remove an owner; every dashboard session of theirs ends at once."""
    from cart_recovery.domain.owners import OwnerError
    from cart_recovery.service.owners import OwnerLogins

    with open_data_dir(data_dir) as rt:
        try:
            found = OwnerLogins(rt.store).remove(name, via=VIA)
        except OwnerError as e:
            raise click.ClickException(f"{e}: `cart-recovery owner list` shows the names") from None
        left = rt.store.owners()
    click.echo(f"{found.name} is removed; their dashboard sessions have ended.")
    if not left:
        click.echo("No owner is named now: admin_token from config.toml logs in again.")


COMMANDS = (owner,)
