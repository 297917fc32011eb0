"""``cart-recovery check-rules``: what a rules doc means, or where it can't be read."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cart_recovery.domain.rules import RulesError, describe_rules, parse_rules


@click.command("check-rules")
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
