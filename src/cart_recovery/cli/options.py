"""What the commands share: the one ``--data-dir`` option and the one way to open it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cart_recovery.bootstrap.embedded import Embedded
    from cart_recovery.config.settings import EmbeddedSettings

DATA_DIR_ENV = "CART_RECOVERY_DATA_DIR"
DEFAULT_DATA_DIR = "cart-recovery-data"

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_DIR_ENV,
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help=f"The service's data folder: its database, docs, config and outbox (env {DATA_DIR_ENV}).",
)


def data_dir_settings(data_dir: Path, environ: Mapping[str, str] | None = None) -> EmbeddedSettings:
    """The data folder's settings (its config.toml, the environment over it); a bad one is
    the command's error."""
    from cart_recovery.config.settings import SettingsError, load_settings

    try:
        return load_settings(data_dir, dict(os.environ) if environ is None else environ)
    except SettingsError as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def open_data_dir(data_dir: Path) -> Iterator[Embedded]:
    """The wired service over an existing data folder (never creates one; no timers run)."""
    from cart_recovery.bootstrap.embedded import embedded
    from cart_recovery.config.settings import CONFIG_NAME

    if not (data_dir / CONFIG_NAME).is_file():
        raise click.ClickException(
            f"{data_dir}: no {CONFIG_NAME} here. Point --data-dir at the service's data folder "
            "(`cart-recovery serve` sets one up)."
        )
    settings = data_dir_settings(data_dir)
    try:
        runtime = embedded(settings, run_timers=False)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    try:
        yield runtime
    finally:
        runtime.close()


OWNER_ENV = "CART_RECOVERY_OWNER"

owner_option = click.option(
    "--owner",
    "owner",
    envvar=OWNER_ENV,
    default="",
    metavar="NAME",
    help=f"Who acts, as the history will name them (env {OWNER_ENV}); needed once owners are "
    "named (`cart-recovery owner list`).",
)


def acting_owner(runtime: Embedded, given: str) -> str:
    """The name the audit records for a command: the named owner ``given``, or the unnamed
    ``owner`` while no owner is named. A clear error otherwise."""
    from cart_recovery.domain.owners import UNNAMED

    accounts = runtime.store
    given = given.strip()
    if not given:
        if accounts.owners():
            raise click.ClickException(
                f"owners are named here: say who acts with --owner NAME (or {OWNER_ENV}); "
                "`cart-recovery owner list` shows the names"
            )
        return UNNAMED
    found = accounts.owner_named(given)
    if found is None:
        raise click.ClickException(
            f"no owner is named {given!r}: `cart-recovery owner list` shows the names"
        )
    return found.name
