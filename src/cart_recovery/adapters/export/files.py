"""Export writers: a formatted .xlsx (openpyxl) and a .csv with the same rows.

Shopper text never becomes a formula: in the .xlsx a text cell starting with ``=`` is kept as
text (openpyxl would otherwise write it as a formula); in the .csv, which a spreadsheet reads
as typed, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
escaped with an apostrophe (``domain.export_rows.inert``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel.numbers import get_currency_precision, get_currency_symbol

from cart_recovery.domain.export_rows import COLUMNS, Row, inert

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
    # Cells are reached by their row number, never through ``ws.max_row`` or ``ws[r]``: those
    # scan every cell written so far, which made a day's export quadratic in its rows.
    for r, row in enumerate(rows, start=2):
        values = [
            row.cells[c] if not isinstance(row.cells[c], Decimal) else float(row.cells[c])
            for c in COLUMNS
        ]
        ws.append(values)
        for i, value in enumerate(values, 1):
            if isinstance(value, str) and value.startswith("="):
                ws.cell(row=r, column=i).data_type = "s"  # text, not a formula
        total = ws.cell(row=r, column=COLUMNS.index("Total") + 1)
        total.number_format = money_format(str(row.cells["Currency"]))
        for column, url in row.links.items():
            cell = ws.cell(row=r, column=COLUMNS.index(column) + 1)
            cell.hyperlink = url
            cell.font = Font(color="1F5FBF", underline="single")
    for i, name in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS.get(name, 14)
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"
    tmp = _atomic(path)
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def _csv_cell(row: Row, column: str) -> str:
    if column in ("Suppress", "Unsubscribe", "Write off"):
        return row.links.get(column, "")
    value = row.cells[column]
    return str(value) if isinstance(value, Decimal) else inert(value)


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    """The same rows; the action columns hold the links themselves."""
    tmp = _atomic(path)
    with tmp.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow([_csv_cell(row, c) for c in COLUMNS])
    os.replace(tmp, path)
    return path


LATEST = ("carts.xlsx", "carts.csv")  # the files the dashboard serves


def export_bytes(name: str, rows: Sequence[Row]) -> bytes:
    """``carts.xlsx`` or ``carts.csv`` of ``rows``, as bytes (the dashboard's download)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cr-download-") as folder:
        path = Path(folder) / name
        if name.endswith(".xlsx"):
            write_xlsx(rows, path, title="Carts")
        else:
            write_csv(rows, path)
        return path.read_bytes()


@dataclass
class FileExporter:
    """The ``Exporter`` into a folder: ``carts.xlsx`` and ``carts.csv`` hold the latest night's
    rows (each replaced atomically, so a reader never sees half a file), and
    ``carts-YYYY-MM-DD.xlsx`` / ``.csv`` keep each night's copy."""

    folder: Path

    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        written = []
        for stem, title in (("carts", "Carts"), (f"carts-{day.isoformat()}", day.isoformat())):
            path = self.folder / stem
            written.append(str(write_xlsx(rows, path.with_suffix(".xlsx"), title=title)))
            written.append(str(write_csv(rows, path.with_suffix(".csv"))))
        return written
