"""The owner's commands: ``suppress``, ``write-off``, ``unsubscribe``, ``forget`` and
``export-shopper``, on the data folder's store. Each is a parse and one service call, the same
call the dashboard and the signed action links make, audited under the acting owner's name
(``--owner``; the unnamed ``owner`` while no owner is named)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cart_recovery.cli.options import acting_owner, data_dir_option, open_data_dir, owner_option

VIA = "command line"


def _refused(e: Exception) -> click.ClickException:
    return click.ClickException(str(e))


@click.command()
@click.argument("cart_id")
@data_dir_option
@owner_option
def suppress(cart_id: str, data_dir: Path, owner: str) -> None:
    """Stop reminding one cart (closed as suppressed)."""
    from cart_recovery.service import ActionRefused

    with open_data_dir(data_dir) as rt:
        by = acting_owner(rt, owner)
        try:
            rt.service.suppress(cart_id, rt.clock.now(), by=by, via=VIA)
        except ActionRefused as e:
            raise _refused(e) from None
    click.echo(f"Cart {cart_id} is suppressed: no more reminders for it.")


@click.command("write-off")
@click.argument("cart_id")
@data_dir_option
@owner_option
def write_off(cart_id: str, data_dir: Path, owner: str) -> None:
    """Close one cart as written off (counted apart in the summary)."""
    from cart_recovery.service import ActionRefused

    with open_data_dir(data_dir) as rt:
        by = acting_owner(rt, owner)
        try:
            rt.service.write_off(cart_id, rt.clock.now(), by=by, via=VIA)
        except ActionRefused as e:
            raise _refused(e) from None
    click.echo(f"Cart {cart_id} is written off.")


@click.command()
@click.argument("email")
@data_dir_option
@owner_option
def unsubscribe(email: str, data_dir: Path, owner: str) -> None:
    """Never remind this address again, for any cart."""
    from cart_recovery.service import ActionRefused, check_address

    with open_data_dir(data_dir) as rt:
        by = acting_owner(rt, owner)
        try:
            address = check_address(email)
        except ActionRefused as e:
            raise _refused(e) from None
        done = rt.service.unsubscribe(address, rt.clock.now(), source=by)
    click.echo(f"{address} is unsubscribed." if done else f"{address} was unsubscribed already.")


@click.command()
@click.argument("email")
@data_dir_option
@owner_option
def forget(email: str, data_dir: Path, owner: str) -> None:
    """Erase a shopper's personal data; they stay unsubscribed."""
    from cart_recovery.service import ActionRefused

    with open_data_dir(data_dir) as rt:
        by = acting_owner(rt, owner)
        try:
            done = rt.service.forget(email, rt.clock.now(), by=by)
        except ActionRefused as e:
            raise _refused(e) from None
    n = len(done.cart_ids)
    click.echo(
        f"Forgotten: personal data erased from {n} cart{'s' if n != 1 else ''} "
        f"({done.events} events, {done.sends} reminders, {done.audit_rows} history rows). "
        "The address stays unsubscribed."
    )


@click.command("export-shopper")
@click.argument("email")
@data_dir_option
@owner_option
def export_shopper(email: str, data_dir: Path, owner: str) -> None:
    """Print everything kept about a shopper, as JSON."""
    from cart_recovery.service import ActionRefused

    with open_data_dir(data_dir) as rt:
        by = acting_owner(rt, owner)
        try:
            data = rt.service.export_shopper(email, rt.clock.now(), by=by, via=VIA)
        except ActionRefused as e:
            raise _refused(e) from None
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


COMMANDS = (suppress, write_off, unsubscribe, forget, export_shopper)
