"""The command line: the ``cart-recovery`` group and its commands, one module per group."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cart-recovery")
def main() -> None:
    """Win back shoppers who left a full cart: sized waits, at most two warm reminders,
    and a stop the instant they buy or unsubscribe."""


def _register() -> None:
    from cart_recovery.cli.backup import backup, restore
    from cart_recovery.cli.cost import cost
    from cart_recovery.cli.integrate import import_carts, send_test_event
    from cart_recovery.cli.owner import COMMANDS as OWNER_COMMANDS
    from cart_recovery.cli.owners import owner
    from cart_recovery.cli.reports import export, summary
    from cart_recovery.cli.rules import check_rules
    from cart_recovery.cli.serve import serve
    from cart_recovery.cli.simulate import demo, simulate

    for command in (
        serve,
        check_rules,
        demo,
        simulate,
        export,
        summary,
        send_test_event,
        import_carts,
        cost,
        backup,
        restore,
        *OWNER_COMMANDS,
        owner,
    ):
        main.add_command(command)


_register()
