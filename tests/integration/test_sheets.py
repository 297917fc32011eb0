"""The Google Sheets export against a fake Sheets API and token endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cart_recovery.adapters.export.sheets import ExportError, SheetsExporter, sheets_exporter
from cart_recovery.domain.export_rows import COLUMNS, Row, export_rows
from cart_recovery.domain.model import CloseReason, Item, Status
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, parse_rules
from cart_recovery.domain.stats import CartFacts
from cart_recovery.ports import Exporter
from tests.conftest import at, make_cart, sent
from tests.fakes.sheets_api import FakeSheets, Sheet

SPREADSHEET_ID = "1FakeSpreadsheetId_abcdefghijklmnopqrstuvwx"
DAY = date(2026, 5, 12)
TITLE = "Carts"
MONTH = "2026-05"  # the monthly archive of the seeded carts
CLIENT_EMAIL = "exporter@cart-recovery-test.iam.gserviceaccount.com"
EVIL_NAME = '=HYPERLINK("https://evil.example","click me")'


def col(name: str) -> int:
    return COLUMNS.index(name)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_fragments(key_pem: str) -> list[str]:
    """Pieces of the key that must never show up in an error."""
    lines = [line for line in key_pem.splitlines() if line and "-----" not in line]
    return ["PRIVATE KEY", *lines[:3], lines[-1]]


def action_url(action: str, target: str) -> str:
    return f"https://recovery.example/owner/{action}?target={target}&sig=s1gn4ture"


def seeded_rows() -> list[Row]:
    rules = parse_rules(DEFAULT_RULES_TEXT)
    facts = [
        # open, one reminder sent: every action link
        CartFacts(make_cart(cart_id="c1"), sends=(sent(1, at(hours=1)),)),
        # clicked the reminder, then bought: only the unsubscribe link
        CartFacts(
            make_cart(
                cart_id="c2",
                email="ana@example.org",
                name="Ana",
                created_at=at(minutes=5),
                items=(Item(title="Scarf", quantity=2, unit_price=Decimal("44.75")),),
                total=Decimal("89.50"),
                currency="EUR",
                status=Status.BOUGHT,
                bought_at=at(hours=3),
            ),
            sends=(sent(1, at(hours=1), cart_id="c2", to="ana@example.org"),),
            clicks=((1, at(hours=2)),),
        ),
        # suppressed, no email, and a name that looks like a formula: no links, plain text
        CartFacts(
            make_cart(
                cart_id="00123",
                email=None,
                name=EVIL_NAME,
                created_at=at(minutes=10),
                total=Decimal("1234.5"),
                status=Status.CLOSED,
                close_reason=CloseReason.SUPPRESSED,
                closed_at=at(hours=4),
            )
        ),
        # yen: no decimals
        CartFacts(
            make_cart(
                cart_id="c4",
                email="ken@example.jp",
                name="Ken",
                created_at=at(minutes=15),
                total=Decimal("5000"),
                currency="JPY",
            )
        ),
    ]
    return export_rows(facts, rules=rules, action_url=action_url)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def server(signing_key: rsa.RSAPrivateKey) -> Iterator[FakeSheets]:
    fake = FakeSheets(public_key=signing_key.public_key())
    fake.serve()
    yield fake
    fake.close()


@pytest.fixture
def fake(server: FakeSheets) -> Iterator[FakeSheets]:
    server.reset()
    server.add_spreadsheet(SPREADSHEET_ID)
    yield server
    assert server.unknown == [], f"requests the fake does not know: {server.unknown}"


def write_service_account(path: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    info = {
        "type": "service_account",
        "project_id": "cart-recovery-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem(key),
        "client_email": CLIENT_EMAIL,
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@pytest.fixture
def account_file(tmp_path: Path, fake: FakeSheets, signing_key: rsa.RSAPrivateKey) -> Path:
    return write_service_account(tmp_path / "service-account.json", signing_key, fake.token_uri)


@pytest.fixture
def exporter(fake: FakeSheets, account_file: Path) -> SheetsExporter:
    return SheetsExporter(SPREADSHEET_ID, account_file, api_base=fake.base_url)


def day_sheet(fake: FakeSheets, title: str = TITLE) -> Sheet:
    return fake.spreadsheets[SPREADSHEET_ID].by_title(title)


def hyperlink(url: str, label: str) -> str:
    return f'=HYPERLINK("{url}","{label}")'


def assert_no_key_material(exc: BaseException, key_pem: str) -> None:
    shown = "".join(traceback.format_exception(exc)) + repr(exc)
    for fragment in key_fragments(key_pem):
        assert fragment not in shown


# --------------------------------------------------------------------------- the export


def test_export_writes_the_carts_tab_and_the_month_archive(
    fake: FakeSheets, exporter: SheetsExporter
) -> None:
    as_exporter: Exporter = exporter
    urls = as_exporter.write(DAY, seeded_rows())

    book = fake.spreadsheets[SPREADSHEET_ID]
    assert [s.title for s in book.sheets] == ["Sheet1", TITLE, MONTH]
    assert day_sheet(fake, MONTH).values() == day_sheet(fake).values()
    # three calls: metadata, the ids of both tabs, one batch of cells (plus adding the tabs)
    assert fake.calls == [
        f"GET /v4/spreadsheets/{SPREADSHEET_ID}",
        f"POST /v4/spreadsheets/{SPREADSHEET_ID}:batchUpdate",
        f"GET /v4/spreadsheets/{SPREADSHEET_ID}",
        f"GET /v4/spreadsheets/{SPREADSHEET_ID}/values:batchGet",
        f"POST /v4/spreadsheets/{SPREADSHEET_ID}:batchUpdate",
    ]
    sheet = day_sheet(fake)
    assert urls == [f"https://docs.google.com/spreadsheets/d/{SPREADSHEET_ID}#gid={sheet.id}"]

    values = sheet.values()
    assert values[0] == list(COLUMNS)
    assert len(values) == 1 + 4
    assert [v[col("Cart")] for v in values[1:]] == ["c1", "c2", "00123", "c4"]
    assert [v[col("Status")] for v in values[1:]] == [
        "open",
        "bought",
        "closed (suppressed)",
        "open",
    ]
    assert [v[col("Recovered")] for v in values[1:]] == [
        "no",
        "yes: clicked, then bought",
        "no",
        "no",
    ]
    assert [v[col("Currency")] for v in values[1:]] == ["USD", "EUR", "USD", "JPY"]
    assert values[1][col("Created")] == "2026-05-12 10:00"  # text, as in the .csv
    assert values[1][col("Reminder 1")] == "sent 2026-05-12 11:00"

    # Total: a number, shown in the row's currency
    totals = [v[col("Total")] for v in values[1:]]
    assert totals == [120.0, 89.5, 1234.5, 5000.0]
    assert all(isinstance(t, float) for t in totals)
    patterns = [sheet.format(r, col("Total"))["numberFormat"] for r in range(1, 5)]
    assert [p["type"] for p in patterns] == ["CURRENCY"] * 4
    assert [p["pattern"] for p in patterns] == [
        '"$"#,##0.00',
        '"€"#,##0.00',
        '"$"#,##0.00',
        '"¥"#,##0',
    ]

    # the owner's actions: HYPERLINK formulas where the cart allows them, blank elsewhere
    c1, c2, c3, _ = values[1:]
    assert c1[col("Suppress")] == hyperlink(action_url("suppress", "c1"), "suppress")
    assert c1[col("Write off")] == hyperlink(action_url("write_off", "c1"), "write off")
    # (the unsubscribe link names the cart, never the address)
    assert c1[col("Unsubscribe")] == hyperlink(action_url("unsubscribe_cart", "c1"), "unsubscribe")
    assert c2[col("Suppress")] is None and c2[col("Write off")] is None
    assert c2[col("Unsubscribe")] == hyperlink(action_url("unsubscribe_cart", "c2"), "unsubscribe")
    assert [c3[col(c)] for c in ("Suppress", "Unsubscribe", "Write off")] == [None] * 3

    # shopper text never becomes a formula; ids keep their zeros
    assert sheet.cells[(3, col("Name"))]["userEnteredValue"] == {"stringValue": EVIL_NAME}
    assert sheet.cells[(3, col("Cart"))]["userEnteredValue"] == {"stringValue": "00123"}
    formulas = {
        (r, c)
        for (r, c), cell in sheet.cells.items()
        if "formulaValue" in cell.get("userEnteredValue", {})
    }
    action_columns = {col("Suppress"), col("Unsubscribe"), col("Write off")}
    assert {c for _, c in formulas} == action_columns

    # header bold and frozen; widths set; filter over the data
    assert all(sheet.format(0, c)["textFormat"]["bold"] for c in range(len(COLUMNS)))
    assert not sheet.format(1, col("Cart")).get("textFormat", {}).get("bold")
    assert sheet.grid["frozenRowCount"] == 1
    assert sheet.grid["rowCount"] == 5 and sheet.grid["columnCount"] == len(COLUMNS)
    assert sorted(sheet.column_px) == list(range(len(COLUMNS)))
    assert sheet.column_px[col("Items")] > sheet.column_px[col("Clicked")]
    assert sheet.basic_filter is not None
    assert sheet.basic_filter["range"]["endRowIndex"] == 5

    # signed in once, as the service account, with the key in the file
    assert len(fake.assertions) == 1
    assert fake.assertions[0]["iss"] == CLIENT_EMAIL


def test_a_later_export_updates_rows_in_place_and_never_appends_twice(
    fake: FakeSheets, exporter: SheetsExporter
) -> None:
    rows = seeded_rows()
    first = exporter.write(DAY, rows[:2])
    sheet_id = day_sheet(fake).id

    # c2's row changes (no more links), c1 left the window, 00123 and c4 are new
    unlinked = {"Suppress": "", "Unsubscribe": "", "Write off": ""}
    changed = Row({**rows[1].cells, **unlinked, "Status": "bought", "Recovered": "no"}, {})
    second = exporter.write(DAY, [changed, *rows[2:]])

    assert second == first
    book = fake.spreadsheets[SPREADSHEET_ID]
    assert [s.title for s in book.sheets] == ["Sheet1", TITLE, MONTH]
    for title in (TITLE, MONTH):
        sheet = day_sheet(fake, title)
        values = sheet.values()
        assert values[0] == list(COLUMNS)
        assert [v[col("Cart")] for v in values[1:]] == ["c1", "c2", "00123", "c4"]
        assert values[2][col("Recovered")] == "no"
        assert values[2][col("Unsubscribe")] is None, "a link left over in an updated row"
        assert values[1][col("Total")] == 120.0
        assert sheet.grid["rowCount"] == 5
        assert sheet.basic_filter is not None
        assert sheet.basic_filter["range"]["endRowIndex"] == 5
    assert day_sheet(fake).id == sheet_id

    # and the same rows again change nothing
    before = {s.title: (s.cells, s.properties) for s in book.sheets}
    exporter.write(DAY, [changed, *rows[2:]])
    after = fake.spreadsheets[SPREADSHEET_ID]
    assert {s.title: (s.cells, s.properties) for s in after.sheets} == before


def test_an_existing_carts_tab_keeps_the_owners_cells(
    fake: FakeSheets, exporter: SheetsExporter
) -> None:
    book = fake.spreadsheets[SPREADSHEET_ID]
    book.apply("addSheet", {"properties": {"title": TITLE}})
    stale = day_sheet(fake)
    stale.cells[(0, 0)] = {"userEnteredValue": {"stringValue": "old header"}}
    stale.cells[(1, 0)] = {"userEnteredValue": {"stringValue": "c2"}}
    stale.cells[(1, col("Name"))] = {
        "userEnteredValue": {"stringValue": "old name"},
        "userEnteredFormat": {"textFormat": {"italic": True}},
    }
    stale.cells[(1, 20)] = {"userEnteredFormat": {"backgroundColor": {"red": 1}}}
    stale.cells[(1, col("Items"))] = {"note": "call her back"}

    exporter.write(DAY, seeded_rows()[:2])

    sheet = day_sheet(fake)
    assert sheet.id == stale.id
    assert [s.title for s in fake.spreadsheets[SPREADSHEET_ID].sheets] == [
        "Sheet1",
        TITLE,
        MONTH,
    ]
    values = sheet.values()
    assert values[0][: len(COLUMNS)] == list(COLUMNS)
    # c2 stays in its row, updated; c1 is added below it
    assert [v[col("Cart")] for v in values[1:]] == ["c2", "c1"]
    assert sheet.cells[(1, col("Name"))] == {"userEnteredValue": {"stringValue": "Ana"}}
    assert sheet.cells[(1, col("Items"))]["note"] == "call her back"
    assert sheet.cells[(1, 20)] == {"userEnteredFormat": {"backgroundColor": {"red": 1}}}
    assert sheet.cells[(2, col("Email"))] == {
        "userEnteredValue": {"stringValue": "maya@example.com"}
    }


def test_a_day_without_carts_gets_just_the_header(
    fake: FakeSheets, exporter: SheetsExporter
) -> None:
    exporter.write(DAY, [])
    sheet = day_sheet(fake)
    assert sheet.values() == [list(COLUMNS)]
    assert sheet.grid["frozenRowCount"] == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "on", "expected"),
    [
        (500, "GET", "HTTP 500: Internal error encountered."),
        (500, "batchUpdate", "HTTP 500: Internal error encountered."),
        (403, "GET", "HTTP 403: The caller does not have permission"),
        (429, "batchUpdate", "HTTP 429: Quota exceeded"),
    ],
)
def test_google_errors_become_export_errors(
    fake: FakeSheets,
    exporter: SheetsExporter,
    signing_key: rsa.RSAPrivateKey,
    status: int,
    on: str,
    expected: str,
) -> None:
    messages = {
        500: "Internal error encountered.",
        403: "The caller does not have permission",
        429: "Quota exceeded for quota metric 'Write requests'",
    }
    exporter.write(DAY, seeded_rows()[:1])
    before = day_sheet(fake).cells

    fake.fail(status, messages[status], on=on)
    with pytest.raises(ExportError) as caught:
        exporter.write(DAY, seeded_rows())

    message = str(caught.value)
    assert SPREADSHEET_ID in message
    assert expected in message
    if status == 403:
        assert CLIENT_EMAIL not in message  # the hint names the field, not a secret
        assert "share the spreadsheet" in message
    assert_no_key_material(caught.value, pem(signing_key))
    assert day_sheet(fake).cells == before, "a failed export changed the sheet"


def test_unknown_spreadsheet(fake: FakeSheets, account_file: Path) -> None:
    exporter = SheetsExporter("1NoSuchSpreadsheet", account_file, api_base=fake.base_url)
    with pytest.raises(ExportError, match=r"1NoSuchSpreadsheet: HTTP 404.*no such spreadsheet"):
        exporter.write(DAY, seeded_rows())


def test_a_key_google_does_not_know_is_refused(fake: FakeSheets, tmp_path: Path) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = write_service_account(tmp_path / "other.json", other_key, fake.token_uri)
    exporter = SheetsExporter(SPREADSHEET_ID, account, api_base=fake.base_url)

    with pytest.raises(ExportError) as caught:
        exporter.write(DAY, seeded_rows())

    message = str(caught.value)
    assert SPREADSHEET_ID in message
    assert "could not sign in with the service account" in message
    assert "invalid_grant" in message
    assert_no_key_material(caught.value, pem(other_key))
    assert fake.tokens == set()
    assert fake.spreadsheets[SPREADSHEET_ID].sheets[-1].title == "Sheet1"


def test_api_calls_need_the_bearer_token(fake: FakeSheets) -> None:
    import httpx

    answer = httpx.get(f"{fake.base_url}/v4/spreadsheets/{SPREADSHEET_ID}")
    assert answer.status_code == 401
    answer = httpx.get(
        f"{fake.base_url}/v4/spreadsheets/{SPREADSHEET_ID}",
        headers={"Authorization": "Bearer made-up"},
    )
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no service account file at"),
        ("directory", "cannot read the service account file"),
        ("{not json", "is not a valid service account key"),
        (json.dumps({"type": "service_account", "client_email": "x@y"}), "is not a valid"),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "x@y",
                    "token_uri": "http://127.0.0.1:9/token",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n"
                    "-----END PRIVATE KEY-----\n",
                }
            ),
            "is not a valid service account key",
        ),
    ],
    ids=["missing", "directory", "not-json", "no-key", "broken-key"],
)
def test_unusable_service_account_file(
    fake: FakeSheets, tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "sa.json"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    exporter = SheetsExporter(SPREADSHEET_ID, path, api_base=fake.base_url)
    with pytest.raises(ExportError) as caught:
        exporter.write(DAY, seeded_rows())
    message = str(caught.value)
    assert SPREADSHEET_ID in message and expected in message
    assert "c2VjcmV0LWJ1dC1icm9rZW4" not in "".join(traceback.format_exception(caught.value))
    assert fake.calls == []


# --------------------------------------------------------------------------- wiring


def test_missing_gspread_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "gspread", None)
    with pytest.raises(ExportError, match=r"pip install 'cart-recovery\[sheets\]'"):
        SheetsExporter(SPREADSHEET_ID, tmp_path / "sa.json")


def test_sheets_exporter_from_settings(tmp_path: Path) -> None:
    assert sheets_exporter(None, None) is None
    account = tmp_path / "sa.json"
    made: Any = sheets_exporter(SPREADSHEET_ID, account)
    assert isinstance(made, SheetsExporter)
    assert made.spreadsheet_id == SPREADSHEET_ID
    assert made.service_account_file == account
    assert made.api_base is None
