"""The nightly export to a Google Sheet (SPEC §9), with gspread.

One spreadsheet the owner shared with a service account holds a ``Carts`` tab that stays
current, and one archive tab per month (``YYYY-MM``: the carts created that month). Each night
the window's rows are upserted by cart id: a cart already in a tab is updated in its row, a new
one goes below the last; no row is ever appended twice, and the owner's other rows and cells
stay as they are. Header bold and frozen, Total a number in the row's currency, the owner
action columns ``=HYPERLINK(...)`` formulas.

Three calls a night: the spreadsheet's metadata, the cart ids of every tab in one
``values.batchGet``, and the cells in one ``spreadsheets.batchUpdate`` (``updateCells`` with
typed values; a missing tab is added by one more ``batchUpdate`` first), which Google applies
all or nothing. Typed values rather than ``USER_ENTERED`` text: every text cell stays text (a
shopper's name starting with ``=`` is not a formula, a cart id ``00123`` keeps its zeros,
``Created`` is not turned into a date), and only the action links we build are formulas.

gspread is an optional dependency: ``pip install 'cart-recovery[sheets]'``. Error messages name
the spreadsheet, never the service account's private key.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cart_recovery.adapters.export.files import WIDTHS, money_format
from cart_recovery.domain.export_rows import COLUMNS, Row

if TYPE_CHECKING:
    from gspread.http_client import HTTPClient

__all__ = ["CARTS_TAB", "SHEETS_API", "ExportError", "SheetsExporter", "sheets_exporter"]

SHEETS_API = "https://sheets.googleapis.com"
_DRIVE_API = "https://www.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
INSTALL_HINT = "pip install 'cart-recovery[sheets]'"
TIMEOUT = (10.0, 60.0)  # connect, read (seconds)

_HEADER_FORMAT: dict[str, Any] = {
    "backgroundColorStyle": {
        "rgbColor": {"red": 0x2F / 255, "green": 0x5D / 255, "blue": 0x50 / 255}
    },
    "textFormat": {
        "bold": True,
        "foregroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
    },
    "verticalAlignment": "MIDDLE",
}


class ExportError(RuntimeError):
    """An export could not be written; the message says where and why."""


def _require_gspread() -> None:
    try:
        importlib.import_module("gspread")
    except ImportError:
        raise ExportError(f"the Google Sheets export needs gspread: {INSTALL_HINT}") from None


def _http_client_class(api_base: str | None) -> type[HTTPClient]:
    """gspread's HTTP client, sending the Sheets (and Drive) calls to ``api_base``."""
    from gspread.http_client import FileType, HTTPClient, ParamsType
    from requests import Response

    if api_base is None:
        return HTTPClient
    base = api_base.rstrip("/")

    class RebasedHTTPClient(HTTPClient):
        def request(
            self,
            method: str,
            endpoint: str,
            params: ParamsType | None = None,
            data: bytes | None = None,
            json: Mapping[str, Any] | None = None,
            files: FileType = None,
            headers: MutableMapping[str, str] | None = None,
        ) -> Response:
            for prefix in (SHEETS_API, _DRIVE_API):
                if endpoint.startswith(prefix + "/"):
                    endpoint = base + endpoint[len(prefix) :]
                    break
            return super().request(method, endpoint, params, data, json, files, headers)

    return RebasedHTTPClient


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cell(row: Row, column: str) -> dict[str, Any]:
    value = row.cells[column]
    url = row.links.get(column)
    if url:
        label = str(value) or column.lower()
        return {"userEnteredValue": {"formulaValue": f"=HYPERLINK({_quote(url)},{_quote(label)})"}}
    if isinstance(value, Decimal):
        return {
            "userEnteredValue": {"numberValue": float(value)},
            "userEnteredFormat": {
                "numberFormat": {
                    "type": "CURRENCY",
                    "pattern": money_format(str(row.cells["Currency"])),
                }
            },
        }
    if value == "":
        return {}
    return {"userEnteredValue": {"stringValue": value}}


CARTS_TAB = "Carts"


def tabs_of(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Which rows go to which tab: all to ``Carts``, each to its month's archive."""
    tabs: dict[str, list[Row]] = {CARTS_TAB: list(rows)}
    for row in rows:
        tabs.setdefault(row.month, []).append(row)
    return tabs


def placement(ids: Sequence[str], rows: Sequence[Row]) -> dict[int, Row]:
    """Row index → row: a cart id already in ``ids`` (column A from the top, the header
    first) keeps its row, the others follow the last row in use."""
    where: dict[str, int] = {}
    for i, cart_id in enumerate(ids):
        if i > 0 and cart_id and cart_id not in where:
            where[cart_id] = i
    after = max(len(ids), 1)
    placed: dict[int, Row] = {}
    for row in rows:
        index = where.get(row.cart_id)
        if index is None:
            index, after = after, after + 1
        placed[index] = row
    return placed


def _runs(placed: dict[int, Row]) -> list[tuple[int, list[Row]]]:
    """The placed rows as runs of consecutive indexes (one ``updateCells`` each)."""
    runs: list[tuple[int, list[Row]]] = []
    for index in sorted(placed):
        if runs and runs[-1][0] + len(runs[-1][1]) == index:
            runs[-1][1].append(placed[index])
        else:
            runs.append((index, [placed[index]]))
    return runs


def _layout(sheet_id: int, height: int) -> list[dict[str, Any]]:
    """The column widths and the filter over the ``height`` rows in use."""
    width = len(COLUMNS)
    requests: list[dict[str, Any]] = []
    for i, name in enumerate(COLUMNS):
        requests.append(
            {
                "updateDimensionProperties": {
                    "range": {
                        "sheetId": sheet_id,
                        "dimension": "COLUMNS",
                        "startIndex": i,
                        "endIndex": i + 1,
                    },
                    "properties": {"pixelSize": WIDTHS.get(name, 14) * 7 + 5},
                    "fields": "pixelSize",
                }
            }
        )
    requests.append(
        {
            "setBasicFilter": {
                "filter": {
                    "range": {
                        "sheetId": sheet_id,
                        "startRowIndex": 0,
                        "endRowIndex": height,
                        "startColumnIndex": 0,
                        "endColumnIndex": width,
                    }
                }
            }
        }
    )
    return requests


def sheet_requests(
    sheet_id: int,
    rows: Sequence[Row],
    *,
    ids: Sequence[str] = (),
    grid: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``batchUpdate`` requests that upsert ``rows`` into a tab whose column A holds
    ``ids`` and whose grid is ``grid`` (its ``gridProperties``: grown, never shrunk)."""
    grid = grid or {}
    width = len(COLUMNS)
    placed = placement(ids, rows)
    height = max([len(ids), 1, *(i + 1 for i in placed)])
    header = [
        {"userEnteredValue": {"stringValue": name}, "userEnteredFormat": _HEADER_FORMAT}
        for name in COLUMNS
    ]
    fields = "userEnteredValue,userEnteredFormat"
    requests: list[dict[str, Any]] = [
        {
            "updateSheetProperties": {
                "properties": {
                    "sheetId": sheet_id,
                    "gridProperties": {
                        # The frozen header must leave at least one row unfrozen.
                        "rowCount": max(height, int(grid.get("rowCount", 0)), 2),
                        "columnCount": max(width, int(grid.get("columnCount", 0))),
                        "frozenRowCount": 1,
                        "frozenColumnCount": 1,
                    },
                },
                "fields": ",".join(
                    f"gridProperties.{name}"
                    for name in ("rowCount", "columnCount", "frozenRowCount", "frozenColumnCount")
                ),
            }
        },
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                "rows": [{"values": header}],
                "fields": fields,
            }
        },
    ]
    for start, run in _runs(placed):
        requests.append(
            {
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": start, "columnIndex": 0},
                    "rows": [{"values": [_cell(row, c) for c in COLUMNS]} for row in run],
                    "fields": fields,
                }
            }
        )
    return requests + _layout(sheet_id, height)


def _a1(title: str) -> str:
    return "'" + title.replace("'", "''") + "'!A:A"


@dataclass
class SheetsExporter:
    """The ``Carts`` tab and the monthly archive tabs in the spreadsheet ``spreadsheet_id``.

    ``api_base`` is where the Sheets API lives (Google's by default); the OAuth token endpoint
    is the service account file's own ``token_uri``.
    """

    spreadsheet_id: str
    service_account_file: Path
    api_base: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _require_gspread()  # fail at start-up, not at 2am, when the extra is not installed

    def _fail(self, what: str) -> ExportError:
        return ExportError(f"Google Sheets export to spreadsheet {self.spreadsheet_id}: {what}")

    def _client(self) -> HTTPClient:
        from google.oauth2.service_account import Credentials

        try:
            creds = Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self.service_account_file), scopes=list(SCOPES)
            )
        except FileNotFoundError:
            raise self._fail(f"no service account file at {self.service_account_file}") from None
        except OSError as e:
            raise self._fail(
                f"cannot read the service account file {self.service_account_file}: {e.strerror}"
            ) from None
        except (ValueError, KeyError, TypeError) as e:
            # The parser's own message could quote the file; name only the kind of problem.
            raise self._fail(
                f"the service account file {self.service_account_file} is not a valid"
                f" service account key ({type(e).__name__})"
            ) from None
        http = _http_client_class(self.api_base)(creds)
        http.set_timeout(TIMEOUT)
        return http

    def _tabs(self, http: HTTPClient, titles: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The properties of the tabs ``titles``, adding those that are missing."""

        def known() -> dict[str, dict[str, Any]]:
            meta = http.fetch_sheet_metadata(self.spreadsheet_id)
            return {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}

        tabs = known()
        missing = [t for t in titles if t not in tabs]
        if missing:
            grid = {"rowCount": 2, "columnCount": len(COLUMNS)}
            http.batch_update(
                self.spreadsheet_id,
                {
                    "requests": [
                        {"addSheet": {"properties": {"title": t, "gridProperties": grid}}}
                        for t in missing
                    ]
                },
            )
            tabs = known()
        return {t: tabs[t] for t in titles}

    def _ids(self, http: HTTPClient, titles: Sequence[str]) -> dict[str, list[str]]:
        """Column A (the cart ids, the header first) of each tab, in one call."""
        answer = http.values_batch_get(
            self.spreadsheet_id,
            [_a1(t) for t in titles],
            params={"majorDimension": "ROWS", "valueRenderOption": "UNFORMATTED_VALUE"},
        )
        ranges = answer.get("valueRanges", [])
        return {
            title: [str(r[0]) if r else "" for r in got.get("values", [])]
            for title, got in zip(titles, ranges, strict=True)
        }

    def publish(self, http: HTTPClient, rows: Sequence[Row]) -> int:
        """Upsert ``rows`` into the tabs; the ``Carts`` tab's sheet id."""
        tabs = tabs_of(rows)
        properties = self._tabs(http, list(tabs))
        ids = self._ids(http, list(tabs))
        requests: list[dict[str, Any]] = []
        for title, tab_rows in tabs.items():
            props = properties[title]
            requests += sheet_requests(
                int(props["sheetId"]),
                tab_rows,
                ids=ids[title],
                grid=props.get("gridProperties"),
            )
        http.batch_update(self.spreadsheet_id, {"requests": requests})
        return int(properties[CARTS_TAB]["sheetId"])

    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        from google.auth.exceptions import GoogleAuthError
        from gspread.exceptions import APIError
        from requests import RequestException

        http = self._client()
        try:
            sheet_id = self.publish(http, rows)
        except APIError as e:
            status = e.response.status_code
            message = str(e.error.get("message", "")).strip()[:300] or e.response.reason
            hint = {
                401: "the service account was not accepted",
                403: "the service account has no access: share the spreadsheet with its"
                " client_email as an editor",
                404: "no such spreadsheet",
            }.get(status)
            detail = f"HTTP {status}: {message}" + (f" ({hint})" if hint else "")
            raise self._fail(detail) from None
        except GoogleAuthError as e:
            reason = str(e.args[0]) if e.args else type(e).__name__
            raise self._fail(
                f"could not sign in with the service account: {reason[:300]}"
            ) from None
        except RequestException as e:
            raise self._fail(f"could not reach Google ({type(e).__name__})") from None
        finally:
            http.session.close()
        return [f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}#gid={sheet_id}"]


def sheets_exporter(
    spreadsheet_id: str | None, service_account_file: Path | None
) -> SheetsExporter | None:
    """The Sheets exporter when both a spreadsheet and a service account file are named."""
    if not spreadsheet_id or service_account_file is None:
        return None
    return SheetsExporter(spreadsheet_id, service_account_file)
