"""The nightly export to a Google Sheet (SPEC §9), with gspread.

Each day goes to its own worksheet titled ``YYYY-MM-DD`` in one spreadsheet the owner shared
with a service account: created if missing, wiped and rewritten if present, so a second export
of a day replaces the first. Header bold and frozen, Total a number in the row's currency, the
owner action columns ``=HYPERLINK(...)`` formulas.

The cells are written in one ``spreadsheets.batchUpdate`` (``updateCells`` with typed values),
which Google applies all or nothing. Typed values rather than ``USER_ENTERED`` text: every
text cell stays text (a shopper's name starting with ``=`` is not a formula, a cart id
``00123`` keeps its zeros, ``Created`` is not turned into a date), and only the action links we
build are formulas.

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
    from gspread.worksheet import Worksheet

__all__ = ["SHEETS_API", "ExportError", "SheetsExporter", "sheets_exporter"]

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


def sheet_requests(sheet_id: int, rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The ``batchUpdate`` requests that replace a worksheet's content with ``rows``."""
    width = len(COLUMNS)
    height = len(rows) + 1
    grid = {"sheetId": sheet_id}
    header = [
        {"userEnteredValue": {"stringValue": name}, "userEnteredFormat": _HEADER_FORMAT}
        for name in COLUMNS
    ]
    body = [{"values": [_cell(row, c) for c in COLUMNS]} for row in rows]
    requests: list[dict[str, Any]] = [
        # Wipe values and formats of the whole sheet, then size it to the data.
        {"updateCells": {"range": grid, "fields": "*"}},
        {
            "updateSheetProperties": {
                "properties": {
                    "sheetId": sheet_id,
                    "gridProperties": {
                        # The frozen header must leave at least one row unfrozen.
                        "rowCount": max(height, 2),
                        "columnCount": width,
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
                "rows": [{"values": header}, *body],
                "fields": "userEnteredValue,userEnteredFormat",
            }
        },
    ]
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


@dataclass
class SheetsExporter:
    """One worksheet per day in the spreadsheet ``spreadsheet_id``.

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

    def _worksheet(self, http: HTTPClient, title: str, rows: int) -> Worksheet:
        from gspread.exceptions import WorksheetNotFound
        from gspread.spreadsheet import Spreadsheet

        spreadsheet = Spreadsheet(http, {"id": self.spreadsheet_id})
        try:
            return spreadsheet.worksheet(title)
        except WorksheetNotFound:
            return spreadsheet.add_worksheet(title, rows=max(rows, 2), cols=len(COLUMNS))

    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        from google.auth.exceptions import GoogleAuthError
        from gspread.exceptions import APIError
        from requests import RequestException

        http = self._client()
        try:
            worksheet = self._worksheet(http, day.isoformat(), len(rows) + 1)
            worksheet.spreadsheet.batch_update({"requests": sheet_requests(worksheet.id, rows)})
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
        return [worksheet.url]


def sheets_exporter(
    spreadsheet_id: str | None, service_account_file: Path | None
) -> SheetsExporter | None:
    """The Sheets exporter when both a spreadsheet and a service account file are named."""
    if not spreadsheet_id or service_account_file is None:
        return None
    return SheetsExporter(spreadsheet_id, service_account_file)
