"""Export writers: a formatted .xlsx (openpyxl) and a .csv with the same rows."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel.numbers import get_currency_precision, get_currency_symbol

from cart_recovery.domain.export_rows import COLUMNS, Row

WIDTHS = {
    "Cart": 18,
    "Created": 17,
    "Email": 28,
    "Name": 16,
    "Items": 44,
    "Total": 12,
    "Currency": 9,
    "Size": 9,
    "Status": 20,
    "Reminder 1": 24,
    "Reminder 2": 24,
    "Clicked": 8,
    "Recovered": 30,
    "Bought": 17,
    "Suppress": 11,
    "Unsubscribe": 13,
    "Write off": 11,
}


def money_format(currency: str, locale: str = "en_US") -> str:
    """An Excel number format showing the currency's symbol and its usual decimals."""
    symbol = get_currency_symbol(currency, locale=locale).replace('"', "")
    digits = get_currency_precision(currency)
    return f'"{symbol}"#,##0' + ("." + "0" * digits if digits else "")


def _atomic(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def write_xlsx(rows: Sequence[Row], path: Path, *, title: str) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="2F5D50")
        cell.alignment = Alignment(vertical="center")
    for row in rows:
        ws.append(
            [
                row.cells[c] if not isinstance(row.cells[c], Decimal) else float(row.cells[c])
                for c in COLUMNS
            ]
        )
        r = ws.max_row
        total = ws.cell(row=r, column=COLUMNS.index("Total") + 1)
        total.number_format = money_format(str(row.cells["Currency"]))
        for column, url in row.links.items():
            cell = ws.cell(row=r, column=COLUMNS.index(column) + 1)
            cell.hyperlink = url
            cell.font = Font(color="1F5FBF", underline="single")
    for i, name in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS.get(name, 14)
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(1, ws.max_row)}"
    tmp = _atomic(path)
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    """The same rows; the action columns hold the links themselves."""
    tmp = _atomic(path)
    with tmp.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow(
                [
                    row.links.get(c, "")
                    if c in ("Suppress", "Unsubscribe", "Write off")
                    else str(row.cells[c])
                    for c in COLUMNS
                ]
            )
    os.replace(tmp, path)
    return path


@dataclass
class FileExporter:
    """The ``Exporter`` into a folder: ``carts-YYYY-MM-DD.xlsx`` and ``.csv``."""

    folder: Path

    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        stem = self.folder / f"carts-{day.isoformat()}"
        xlsx = write_xlsx(rows, stem.with_suffix(".xlsx"), title=day.isoformat())
        csv = write_csv(rows, stem.with_suffix(".csv"))
        return [str(xlsx), str(csv)]
