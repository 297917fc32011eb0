"""The nightly export shows how carts ended: every cart with activity in the window, in its
current state, in the .xlsx (read back with openpyxl), the .csv and the Google Sheet (the fake
Sheets API), and the files behind the dashboard's links. The embedded runtime on SQLite and a
virtual clock; the nights are run as the report schedule runs them."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cart_recovery.adapters.export.files import FileExporter
from cart_recovery.adapters.export.sheets import SheetsExporter
from cart_recovery.domain.export_rows import COLUMNS
from cart_recovery.domain.model import CHECKED_OUT, Item
from cart_recovery.service.reports import Reports
from tests.fakes.sheets_api import FakeSheets
from tests.integration.test_dashboard import Dash
from tests.integration.test_sheets import SPREADSHEET_ID, write_service_account

NY = ZoneInfo("America/New_York")
TOKEN = re.compile(r"/a/[A-Za-z0-9_.\-]+")


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2026, 5, d) for d in range(18, 23))


@pytest.fixture(scope="module")
def sheets() -> Iterator[FakeSheets]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeSheets(public_key=key.public_key())
    fake.serve()
    fake.key = key  # type: ignore[attr-defined]
    yield fake
    fake.close()


@dataclasses.dataclass
class Shop:
    dash: Dash
    reports: Reports
    sheets: FakeSheets
    exports: Path

    def night(self, day: date) -> list[str]:
        """The nightly run at 02:00 after ``day``: the clock gets there, then the export."""
        self.dash.advance(datetime.combine(day + timedelta(days=1), time(2), tzinfo=NY))
        return self.reports.export_day(day)

    def sheet_content(self) -> dict[str, dict[str, Any]]:
        """Every tab's cells and grid. The owner action links are signed afresh each night
        (they expire), so their tokens are left out; where they point is kept."""
        book = self.sheets.spreadsheets[SPREADSHEET_ID]
        out = {}
        for sheet in book.sheets:
            cells = json.loads(TOKEN.sub("/a/TOKEN", json.dumps(list(sheet.cells.items()))))
            out[sheet.title] = {"cells": cells, "properties": sheet.properties}
        return out

    def carts_tab(self) -> list[dict[str, Any]]:
        values = self.sheets.spreadsheets[SPREADSHEET_ID].by_title("Carts").values()
        assert values[0] == list(COLUMNS)
        return [dict(zip(COLUMNS, v, strict=False)) for v in values[1:]]

    def xlsx(self) -> list[dict[str, Any]]:
        ws = openpyxl.load_workbook(self.exports / "carts.xlsx").active
        assert ws is not None
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0] == COLUMNS
        return [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]


@pytest.fixture
def shop(tmp_path: Path, sheets: FakeSheets) -> Iterator[Shop]:
    sheets.reset()
    sheets.add_spreadsheet(SPREADSHEET_ID)
    dash = Dash(tmp_path / "data")
    account = write_service_account(
        tmp_path / "sa.json",
        sheets.key,  # type: ignore[attr-defined]
        sheets.token_uri,
    )
    exports = dash.settings.export_dir
    reports = dataclasses.replace(
        dash.rt.reports,
        exporters=[
            FileExporter(exports),
            SheetsExporter(SPREADSHEET_ID, account, api_base=sheets.base_url),
        ],
    )
    yield Shop(dash, reports, sheets, exports)
    dash.close()
    assert sheets.unknown == []


def test_a_cart_reminded_twice_and_bought_thursday_is_recovered_in_every_export(
    shop: Shop,
) -> None:
    dash = shop.dash
    # Given Maya's $120 cart started Monday 10:00, reminded at noon and Tuesday 10:00
    dash.clock.set(ny(18, 10))
    dash.ingest(cart_id="mon", event_id="mon-1")
    dash.advance(ny(18, 12))
    dash.advance(ny(19, 10))
    assert [s.at for s in dash.rt.store.load("mon")[1]] == [ny(18, 12), ny(19, 10)]

    # When the export runs Tuesday night, the cart is open with both reminders
    shop.night(TUESDAY)
    (row,) = shop.carts_tab()
    assert (row["Cart"], row["Status"], row["Recovered"]) == ("mon", "open", "no")
    assert row["Reminder 2"] == "sent 2026-05-19 10:00"

    # and Jo's cart, started Wednesday and bought before any reminder, joins it
    dash.clock.set(ny(20, 9))
    small = (Item(title="Socks", quantity=1, unit_price=Decimal("12")),)
    dash.ingest(cart_id="wed", event_id="wed-1", email="jo@example.com", name="Jo", items=small)
    dash.clock.set(ny(20, 11))
    dash.ingest(cart_id="wed", event_id="wed-2", type=CHECKED_OUT, items=small)
    shop.night(WEDNESDAY)

    # Maya buys Thursday afternoon
    dash.clock.set(ny(21, 15))
    dash.ingest(cart_id="mon", event_id="mon-2", type=CHECKED_OUT)
    shop.night(THURSDAY)
    before_friday = shop.sheet_content()
    written = shop.night(FRIDAY)

    # Then Friday's export lists her cart as recovered, with both reminder times
    expected = {
        "Cart": "mon",
        "Status": "bought",
        "Reminder 1": "sent 2026-05-18 12:00",
        "Reminder 2": "sent 2026-05-19 10:00",
        "Recovered": "yes: bought after a reminder",
        "Bought": "2026-05-21 15:00",
        "Clicked": "no",
    }

    def check(row: dict[str, Any]) -> None:
        assert {k: row[k] for k in expected} == expected

    # in the .xlsx (and in the night's dated copy)
    xlsx = shop.xlsx()
    assert [r["Cart"] for r in xlsx] == ["mon", "wed"]
    check(xlsx[0])
    assert xlsx[0]["Total"] == 120.0
    assert xlsx[1]["Recovered"] == "no: came back on their own"
    assert str(shop.exports / "carts-2026-05-22.xlsx") in written
    # in the .csv
    with (shop.exports / "carts.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["Cart"] for r in rows] == ["mon", "wed"]
    check(rows[0])
    assert rows[0]["Total"] == "120.00"
    # and in the Sheet: one row per cart in "Carts", updated in place each night
    tab = shop.carts_tab()
    assert [r["Cart"] for r in tab] == ["mon", "wed"]
    check(tab[0])
    assert tab[0]["Total"] == 120.0
    book = shop.sheets.spreadsheets[SPREADSHEET_ID]
    assert [s.title for s in book.sheets] == ["Sheet1", "Carts", "2026-05"]
    assert [r[0] for r in book.by_title("2026-05").values()[1:]] == ["mon", "wed"]
    # Friday changed nothing the Thursday night had not written
    assert shop.sheet_content() == before_friday

    # a rerun of the same night changes nothing
    shop.reports.export_day(FRIDAY)
    assert shop.sheet_content() == before_friday


def test_the_window_leaves_out_carts_without_recent_activity(shop: Shop) -> None:
    dash = shop.dash
    dash.clock.set(ny(18, 10))
    dash.ingest(cart_id="mon", event_id="mon-1")
    dash.advance(ny(18, 12))
    dash.advance(ny(19, 10))
    shop.night(TUESDAY)
    # Two weeks on, with nothing happening to it since, it is no longer exported
    short = dataclasses.replace(shop.reports, window_days=2)
    dash.advance(ny(21, 2))
    short.export_day(date(2026, 5, 20))
    assert shop.xlsx() == []
    # while the Sheet keeps its row as it last was
    assert [r["Cart"] for r in shop.carts_tab()] == ["mon"]


def test_the_dashboard_serves_the_latest_files(shop: Shop) -> None:
    dash = shop.dash
    dash.clock.set(ny(18, 10))
    dash.ingest(cart_id="mon", event_id="mon-1", name='=HYPERLINK("https://evil.example")')
    # Nothing is served to a visitor; an owner's download is made when asked, before any night
    assert dash.client.get("/admin/exports/carts.csv", follow_redirects=False).status_code == 303
    dash.login()
    early = dash.client.get("/admin/exports/carts.csv")
    assert early.status_code == 200 and "mon" in early.text
    shop.night(MONDAY)
    dash.login()  # the night was longer than a session lives

    page = dash.client.get("/admin/")
    assert 'href="/admin/exports/carts.xlsx"' in page.text
    assert 'href="/admin/exports/carts.csv"' in page.text
    got = dash.client.get("/admin/exports/carts.xlsx")
    assert got.status_code == 200
    assert got.headers["content-disposition"] == 'attachment; filename="carts.xlsx"'
    assert got.headers["cache-control"] == "no-store"
    # the same rows as the night's file (made now; only the action links differ: they are
    # minted for the owner who downloads it)
    ws = openpyxl.load_workbook(io.BytesIO(got.content)).active
    nightly = openpyxl.load_workbook(shop.exports / "carts.xlsx").active
    assert ws is not None and nightly is not None
    actions = {COLUMNS.index(c) for c in ("Suppress", "Unsubscribe", "Write off")}

    def cells(sheet: Any) -> list[list[Any]]:
        rows = sheet.iter_rows(values_only=True)
        return [[v for i, v in enumerate(r) if i not in actions] for r in rows]

    assert cells(ws) == cells(nightly)
    name = ws.cell(row=2, column=COLUMNS.index("Name") + 1)
    assert (name.value, name.data_type) == ('=HYPERLINK("https://evil.example")', "s")

    got = dash.client.get("/admin/exports/carts.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(got.text)))
    assert row["Cart"] == "mon" and row["Name"] == '\'=HYPERLINK("https://evil.example")'
