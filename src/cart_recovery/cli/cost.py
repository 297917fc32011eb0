"""``cart-recovery cost``: the monthly AWS bill per service for a number of abandoned carts."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from cart_recovery.cli.cost_model import (
    PRICES_AS_OF,
    REGION,
    Bill,
    monthly_bill,
    price_table,
    usage_table,
)

TITLE = f"Monthly AWS bill, {REGION} list prices ({PRICES_AS_OF}), no free tier"


def money(usd: float) -> str:
    if usd == 0:
        return "$0.00"
    if usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def price(usd: float) -> str:
    """A list price as the pages print it: at least cents, never in scientific notation."""
    digits = f"{usd:.10f}".rstrip("0")
    whole, _, frac = digits.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _header(bills: Sequence[Bill]) -> list[str]:
    if len(bills) == 1:
        return ["Service", "Usage", f"{bills[0].carts:,} carts"]
    return ["Service", *(f"{b.carts:,} carts" for b in bills)]


def _rows(bills: Sequence[Bill]) -> list[list[str]]:
    rows = []
    for i, line in enumerate(bills[0].lines):
        cells = [money(b.lines[i].usd) for b in bills]
        rows.append(
            [line.service, line.detail, *cells] if len(bills) == 1 else [line.service, *cells]
        )
    totals = [money(b.total) for b in bills]
    rows.append(["Total", "", *totals] if len(bills) == 1 else ["Total", *totals])
    return rows


def markdown_table(
    header: list[str], rows: list[list[str]], right_from: int, right_to: int | None = None
) -> str:
    right = range(right_from, len(header) if right_to is None else right_to)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def bills_markdown(bills: Sequence[Bill]) -> str:
    header = _header(bills)
    rows = _rows(bills)
    rows[-1] = [f"**{cell}**" if cell else cell for cell in rows[-1]]
    return markdown_table(header, rows, right_from=2 if len(bills) == 1 else 1)


def model_markdown() -> str:
    prices = markdown_table(
        ["Service", "Price (USD)", "Per"],
        [[p.service, price(p.quoted), p.unit] for p in price_table()],
        right_from=1,
        right_to=2,
    )
    usage = markdown_table(
        ["Assumption", "Value"],
        [[f"`{k}`", f"{v:,.6g}"] for k, v in usage_table().items()],
        right_from=1,
    )
    return prices + "\n\n" + usage


def bills_json(bills: Sequence[Bill]) -> str:
    doc = {
        "region": REGION,
        "prices_as_of": PRICES_AS_OF,
        "free_tier": False,
        "bills": [
            {
                "carts": b.carts,
                "total": round(b.total, 6),
                "services": [
                    {"service": line.service, "usd": round(line.usd, 6), "detail": line.detail}
                    for line in b.lines
                ],
            }
            for b in bills
        ],
    }
    return json.dumps(doc, indent=2)


def _print_rich(bills: Sequence[Bill], show_model: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if show_model:
        prices = Table(title=f"Prices, {REGION} ({PRICES_AS_OF})")
        prices.add_column("Service")
        prices.add_column("Price (USD)", justify="right")
        prices.add_column("Per")
        for p in price_table():
            prices.add_row(p.service, price(p.quoted), p.unit)
        usage = Table(title="Usage model")
        usage.add_column("Assumption")
        usage.add_column("Value", justify="right")
        for k, v in usage_table().items():
            usage.add_row(k, f"{v:,.6g}")
        console.print(prices)
        console.print(usage)
        return
    header = _header(bills)
    table = Table(title=TITLE)
    for i, name in enumerate(header):
        numeric = i >= (2 if len(bills) == 1 else 1)
        table.add_column(name, justify="right" if numeric else "left")
    rows = _rows(bills)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1], style="bold")
    console.print(table)


@click.command("cost")
@click.option(
    "--carts",
    type=click.IntRange(min=0),
    multiple=True,
    help="Abandoned carts a month (repeat for several volumes; default 300).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (for docs).")
@click.option(
    "--model", "show_model", is_flag=True, help="Print the price table and usage model instead."
)
def cost(carts: tuple[int, ...], as_json: bool, markdown: bool, show_model: bool) -> None:
    """The monthly AWS bill per service for N abandoned carts (list prices, no free tier)."""
    bills = [monthly_bill(n) for n in (carts or (300,))]
    if as_json:
        click.echo(bills_json(bills))
    elif markdown:
        click.echo(model_markdown() if show_model else bills_markdown(bills))
    else:
        _print_rich(bills, show_model)
