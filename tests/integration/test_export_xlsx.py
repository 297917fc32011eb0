"""The nightly export's spreadsheet: shopper text that looks like a formula stays text, every
row is under the filter, and each row keeps its money format and action links."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from cart_recovery.adapters.export.files import write_xlsx
from cart_recovery.domain.export_rows import COLUMNS, Row


def _row(i: int, name: str) -> Row:
    cells: dict[str, str | Decimal] = {c: f"{c.lower()}-{i}" for c in COLUMNS}
    cells.update({"Name": name, "Total": Decimal("12.50"), "Currency": "EUR"})
    return Row(cells, {"Suppress": f"https://shop.example/a/{i}"})


def test_formula_looking_text_stays_text_on_every_row(tmp_path: Path) -> None:
    rows = [_row(i, '=HYPERLINK("http://evil")' if i % 3 == 0 else f"Ada {i}") for i in range(50)]
    path = write_xlsx(rows, tmp_path / "carts.xlsx", title="carts")
    ws = load_workbook(path).active
    assert ws is not None
    name, total, suppress = (COLUMNS.index(c) + 1 for c in ("Name", "Total", "Suppress"))
    for r in range(2, 52):
        cell = ws.cell(row=r, column=name)
        assert cell.data_type == "s", (r, cell.value)
        assert ws.cell(row=r, column=total).value == 12.5
        assert "€" in ws.cell(row=r, column=total).number_format
        assert ws.cell(row=r, column=suppress).hyperlink is not None
    assert ws.cell(row=2, column=name).value == '=HYPERLINK("http://evil")'
    assert ws.auto_filter.ref is not None and ws.auto_filter.ref.endswith("51")
    assert ws.max_row == 51
