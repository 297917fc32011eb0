"""A fake of the Google Sheets v4 HTTP API and Google's OAuth token endpoint, in memory.

Served by uvicorn in a thread on 127.0.0.1. It answers what the Sheets exporter calls:

* ``POST /token``: the service-account JWT grant. The assertion must be a JWT signed (RS256)
  by ``public_key`` when one is given, for Google's token endpoint, asking for the spreadsheets
  scope; the answer is a fresh bearer token.
* ``GET /v4/spreadsheets/{id}``: the spreadsheet's metadata (its sheets' properties).
* ``GET /v4/spreadsheets/{id}/values:batchGet``: whole columns (``'Title'!A:A`` or
  ``Title!B:C``) as ``valueRanges``, rows major, unformatted values (strings, numbers, the
  formulas' text), trailing empty rows trimmed and an empty row as ``[]``, like Google.
* ``POST /v4/spreadsheets/{id}:batchUpdate``: ``addSheet``, ``deleteSheet``, ``updateCells``,
  ``repeatCell``, ``updateSheetProperties``, ``updateDimensionProperties``,
  ``setBasicFilter``, applied all or nothing, like Google. Writing outside a sheet's grid or
  freezing all its rows is a 400, as there.

Every API call needs a bearer token the fake issued. Anything else is logged in ``unknown`` and
answered 404, so a test fails loudly. ``fail(status)`` makes the next API calls fail.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import ServedOnLoopback

log = logging.getLogger("tests.fakes.sheets_api")

SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# What google-auth puts in "aud" whatever the token_uri (and what Google checks).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

Cell = dict[str, Any]


class BadRequest(Exception):
    pass


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _paths(mask: str) -> list[list[str]]:
    """A field mask (``a,b.c,d(e,f)``) as paths: ``[["a"], ["b", "c"], ["d", "e"], ["d", "f"]]``."""
    out: list[list[str]] = []
    prefix: list[list[str]] = [[]]
    token = ""
    for ch in mask + ",":
        if ch in ",()":
            if token.strip():
                parts = token.strip().split(".")
                if ch == "(":
                    prefix.append(prefix[-1] + parts)
                else:
                    out.append(prefix[-1] + parts)
            token = ""
            if ch == ")":
                prefix.pop()
        else:
            token += ch
    return out


def _copy_path(source: dict[str, Any], target: dict[str, Any], path: list[str]) -> None:
    """``target[path] = source[path]``, deleting it from ``target`` when ``source`` lacks it."""
    src: Any = source
    for key in path:
        src = src.get(key) if isinstance(src, dict) else None
    dst = target
    for key in path[:-1]:
        dst = dst.setdefault(key, {})
    if src is None:
        dst.pop(path[-1], None)
    else:
        dst[path[-1]] = copy.deepcopy(src)


def _apply_mask(source: dict[str, Any], target: dict[str, Any], mask: str) -> None:
    if mask.strip() == "*":
        target.clear()
        target.update(copy.deepcopy(source))
        return
    for path in _paths(mask):
        _copy_path(source, target, path)


@dataclass
class Sheet:
    properties: dict[str, Any]
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    column_px: dict[int, int] = field(default_factory=dict)
    basic_filter: dict[str, Any] | None = None

    @property
    def id(self) -> int:
        return int(self.properties["sheetId"])

    @property
    def title(self) -> str:
        return str(self.properties["title"])

    @property
    def grid(self) -> dict[str, Any]:
        grid: dict[str, Any] = self.properties.setdefault("gridProperties", {})
        return grid

    def value(self, row: int, col: int) -> Any:
        """What the cell holds: a string, a number, a formula (``=...``), a bool, or None."""
        entered = self.cells.get((row, col), {}).get("userEnteredValue") or {}
        for kind in ("stringValue", "numberValue", "boolValue"):
            if kind in entered:
                return entered[kind]
        return entered.get("formulaValue")

    def format(self, row: int, col: int) -> dict[str, Any]:
        fmt: dict[str, Any] = self.cells.get((row, col), {}).get("userEnteredFormat") or {}
        return fmt

    def values(self) -> list[list[Any]]:
        """The written rows, trailing empty rows and columns trimmed (like the values API)."""
        if not self.cells:
            return []
        height = max(r for r, _ in self.cells) + 1
        width = max(c for _, c in self.cells) + 1
        rows = [[self.value(r, c) for c in range(width)] for r in range(height)]
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        return rows

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"properties": copy.deepcopy(self.properties)}
        if self.basic_filter is not None:
            out["basicFilter"] = copy.deepcopy(self.basic_filter)
        return out


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str = "Cart recovery"
    sheets: list[Sheet] = field(default_factory=list)
    next_sheet_id: int = 1_000

    def by_title(self, title: str) -> Sheet:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise KeyError(title)

    def by_id(self, sheet_id: int) -> Sheet:
        for sheet in self.sheets:
            if sheet.id == sheet_id:
                return sheet
        raise BadRequest(f"No grid with id: {sheet_id}")

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {
                "title": self.title,
                "locale": "en_US",
                "timeZone": "America/New_York",
                "autoRecalc": "ON_CHANGE",
            },
            "sheets": [s.metadata() for s in self.sheets],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    def column_values(self, a1: str) -> dict[str, Any]:
        """``values.batchGet`` of one whole-column range, ``'Title'!A:B`` or ``Title!A:B``."""
        title, bang, span = a1.rpartition("!")
        if not bang or ":" not in span:
            raise BadRequest(a1)
        if title.startswith("'") and title.endswith("'"):
            title = title[1:-1].replace("''", "'")
        first, _, last = span.partition(":")
        if not (first.isalpha() and last.isalpha() and len(first) == len(last) == 1):
            raise BadRequest(a1)  # the fake reads whole columns A..Z only
        sheet = self.by_title(title)
        cols = range(ord(first.upper()) - 65, ord(last.upper()) - 64)
        height = max((r + 1 for r, c in sheet.cells if c in cols), default=0)
        rows = []
        for r in range(height):
            row = [sheet.value(r, c) for c in cols]
            while row and row[-1] is None:
                row.pop()
            rows.append(["" if v is None else v for v in row])
        while rows and not rows[-1]:
            rows.pop()
        out: dict[str, Any] = {"range": a1, "majorDimension": "ROWS"}
        if rows:
            out["values"] = rows
        return out

    # ---- batchUpdate ----------------------------------------------------------------------
    def apply(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            log.error("fake Sheets API: unknown batchUpdate request %r", kind)
            raise BadRequest(f"Unknown request kind: {kind}")
        reply: dict[str, Any] = handler(body)
        return reply

    def _addSheet(self, body: dict[str, Any]) -> dict[str, Any]:
        props = copy.deepcopy(body.get("properties", {}))
        title = props.get("title") or f"Sheet{len(self.sheets) + 1}"
        if any(s.title == title for s in self.sheets):
            raise BadRequest(
                f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists.'
            )
        props["title"] = title
        props.setdefault("sheetId", self.next_sheet_id)
        self.next_sheet_id += 1
        props.setdefault("index", len(self.sheets))
        props.setdefault("sheetType", "GRID")
        grid = props.setdefault("gridProperties", {})
        grid.setdefault("rowCount", 1000)
        grid.setdefault("columnCount", 26)
        self.sheets.append(Sheet(props))
        return {"addSheet": {"properties": copy.deepcopy(props)}}

    def _deleteSheet(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self.by_id(body["sheetId"])
        self.sheets.remove(sheet)
        return {}

    def _cells_in(self, sheet: Sheet, grid_range: dict[str, Any]) -> Iterator[tuple[int, int]]:
        rows = range(
            grid_range.get("startRowIndex", 0),
            grid_range.get("endRowIndex", sheet.grid["rowCount"]),
        )
        cols = range(
            grid_range.get("startColumnIndex", 0),
            grid_range.get("endColumnIndex", sheet.grid["columnCount"]),
        )
        for r in rows:
            for c in cols:
                yield r, c

    def _updateCells(self, body: dict[str, Any]) -> dict[str, Any]:
        mask = body.get("fields")
        if not mask:
            raise BadRequest("Invalid requests.updateCells: fields is required")
        if "range" in body:
            sheet = self.by_id(body["range"]["sheetId"])
            if "rows" not in body:  # clear what the mask names
                inside = set(self._cells_in(sheet, body["range"]))
                for rc in [rc for rc in sheet.cells if rc in inside]:
                    _apply_mask({}, sheet.cells[rc], mask)
                    if not sheet.cells[rc]:
                        del sheet.cells[rc]
                return {}
            start = {
                "rowIndex": body["range"].get("startRowIndex", 0),
                "columnIndex": body["range"].get("startColumnIndex", 0),
            }
        else:
            start = body["start"]
            sheet = self.by_id(start["sheetId"])
        r0, c0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
        for i, row in enumerate(body.get("rows", [])):
            for j, data in enumerate(row.get("values", [])):
                r, c = r0 + i, c0 + j
                if r >= sheet.grid["rowCount"] or c >= sheet.grid["columnCount"]:
                    raise BadRequest(
                        f"Invalid requests.updateCells: GridCoordinate [{r},{c}] is outside"
                        f" the grid of sheet {sheet.id}"
                    )
                cell = sheet.cells.setdefault((r, c), {})
                _apply_mask(data, cell, mask)
                if not cell:
                    del sheet.cells[(r, c)]
        return {}

    def _repeatCell(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self.by_id(body["range"]["sheetId"])
        for rc in list(self._cells_in(sheet, body["range"])):
            cell = sheet.cells.setdefault(rc, {})
            _apply_mask(body.get("cell", {}), cell, body["fields"])
            if not cell:
                del sheet.cells[rc]
        return {}

    def _updateSheetProperties(self, body: dict[str, Any]) -> dict[str, Any]:
        props = body["properties"]
        sheet = self.by_id(props["sheetId"])
        _apply_mask(props, sheet.properties, body["fields"])
        grid = sheet.grid
        if grid.get("frozenRowCount", 0) >= grid["rowCount"]:
            raise BadRequest("You can't freeze all visible rows on the sheet.")
        if grid.get("frozenColumnCount", 0) >= grid["columnCount"]:
            raise BadRequest("You can't freeze all visible columns on the sheet.")
        for r, c in list(sheet.cells):  # shrinking the grid drops what falls outside
            if r >= grid["rowCount"] or c >= grid["columnCount"]:
                del sheet.cells[(r, c)]
        return {}

    def _updateDimensionProperties(self, body: dict[str, Any]) -> dict[str, Any]:
        span = body["range"]
        sheet = self.by_id(span["sheetId"])
        if span["dimension"] != "COLUMNS":
            return {}
        if span["endIndex"] > sheet.grid["columnCount"]:
            raise BadRequest("Invalid requests.updateDimensionProperties: range out of the grid")
        size = body["properties"].get("pixelSize")
        for i in range(span["startIndex"], span["endIndex"]):
            if size is not None:
                sheet.column_px[i] = size
        return {}

    def _setBasicFilter(self, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self.by_id(body["filter"]["range"]["sheetId"])
        sheet.basic_filter = copy.deepcopy(body["filter"])
        return {}


@dataclass
class Failure:
    status: int
    message: str
    times: int
    on: str  # only calls whose "METHOD /path" contains this


class FakeSheets(ServedOnLoopback):
    """The fake's state plus its Starlette app. Use ``serve()`` to run it on 127.0.0.1."""

    label = "the fake Sheets API"

    def __init__(self, public_key: RSAPublicKey | None = None) -> None:
        super().__init__()
        self.public_key = public_key
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.tokens: set[str] = set()
        self.assertions: list[dict[str, Any]] = []
        self.calls: list[str] = []  # "METHOD /path" of every API call that was answered
        self.unknown: list[str] = []
        self.failures: list[Failure] = []
        self.app = Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/v4/spreadsheets/{rest:path}", self.sheets_api, methods=["GET", "POST"]),
                Route(
                    "/{rest:path}",
                    self.not_found,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    # ---- test controls ----------------------------------------------------------------------
    def add_spreadsheet(
        self, spreadsheet_id: str, *, sheet_titles: tuple[str, ...] = ("Sheet1",)
    ) -> Spreadsheet:
        book = Spreadsheet(spreadsheet_id)
        for title in sheet_titles:
            book.apply("addSheet", {"properties": {"title": title}})
        self.spreadsheets[spreadsheet_id] = book
        return book

    def fail(
        self,
        status: int,
        message: str = "The fake was told to fail",
        *,
        times: int = 1,
        on: str = "",
    ) -> None:
        """The next ``times`` API calls (those whose ``METHOD /path`` contains ``on``) answer
        ``status`` with a Google-style error body."""
        self.failures.append(Failure(status, message, times, on))

    def reset(self) -> None:
        self.spreadsheets.clear()
        self.tokens.clear()
        self.assertions.clear()
        self.calls.clear()
        self.unknown.clear()
        self.failures.clear()

    # ---- handlers -------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        assertion = form.get("assertion")
        if form.get("grant_type") != JWT_GRANT or not isinstance(assertion, str):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "a JWT assertion is required"},
                status_code=400,
            )
        try:
            claims = self._verify(assertion)
        except (ValueError, KeyError) as e:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": f"Invalid JWT: {e}"},
                status_code=400,
            )
        self.assertions.append(claims)
        token = f"fake-token-{len(self.assertions)}"
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _verify(self, assertion: str) -> dict[str, Any]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise ValueError("not a JWT")
        header = json.loads(_b64url(parts[0]))
        claims: dict[str, Any] = json.loads(_b64url(parts[1]))
        if header.get("alg") != "RS256":
            raise ValueError(f"unexpected alg {header.get('alg')}")
        if self.public_key is not None:
            try:
                self.public_key.verify(
                    _b64url(parts[2]),
                    f"{parts[0]}.{parts[1]}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except Exception:
                raise ValueError("bad signature") from None
        if claims["aud"] != GOOGLE_TOKEN_AUDIENCE:
            raise ValueError(f"audience {claims['aud']!r} is not the token endpoint")
        if SHEETS_SCOPE not in str(claims.get("scope", "")).split():
            raise ValueError("the spreadsheets scope was not asked for")
        now = time.time()
        if not claims["iat"] <= now + 300 or claims["exp"] <= now:
            raise ValueError("not valid now")
        return claims

    def _unknown(self, request: Request) -> Response:
        line = f"{request.method} {request.url.path}"
        if request.url.query:
            line += f"?{request.url.query}"
        log.error("fake Sheets API: unknown request %s", line)
        self.unknown.append(line)
        return JSONResponse(
            {
                "error": {
                    "code": 404,
                    "message": f"fake: no route for {line}",
                    "status": "NOT_FOUND",
                }
            },
            status_code=404,
        )

    async def not_found(self, request: Request) -> Response:
        return self._unknown(request)

    @staticmethod
    def _error(status: int, message: str, code: str) -> Response:
        return JSONResponse(
            {"error": {"code": status, "message": message, "status": code}}, status_code=status
        )

    async def sheets_api(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return self._error(
                401, "Request is missing required authentication credential.", "UNAUTHENTICATED"
            )
        line = f"{request.method} {request.url.path}"
        failure = next((f for f in self.failures if f.on in line), None)
        if failure is not None:
            failure.times -= 1
            if failure.times <= 0:
                self.failures.remove(failure)
            statuses = {403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
            return self._error(
                failure.status, failure.message, statuses.get(failure.status, "INTERNAL")
            )
        rest = request.path_params["rest"]
        spreadsheet_id, _, action = rest.partition(":")
        spreadsheet_id, slash, collection = spreadsheet_id.partition("/")
        if slash and (collection, action, request.method) != ("values", "batchGet", "GET"):
            return self._unknown(request)
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            return self._error(404, "Requested entity was not found.", "NOT_FOUND")
        if slash:
            try:
                ranges = [book.column_values(r) for r in request.query_params.getlist("ranges")]
            except (BadRequest, KeyError) as e:
                return self._error(400, f"Unable to parse range: {e}", "INVALID_ARGUMENT")
            self.calls.append(f"GET {request.url.path}")
            return JSONResponse({"spreadsheetId": spreadsheet_id, "valueRanges": ranges})
        if request.method == "GET" and not action:
            if request.query_params.get("includeGridData", "false") != "false":
                return self._unknown(request)
            self.calls.append(f"GET {request.url.path}")
            return JSONResponse(book.metadata())
        if request.method == "POST" and action == "batchUpdate":
            body = await request.json()
            trial = copy.deepcopy(book)
            replies = []
            try:
                for i, item in enumerate(body.get("requests", [])):
                    if len(item) != 1:
                        raise BadRequest(f"Invalid requests[{i}]: exactly one kind per request")
                    ((kind, payload),) = item.items()
                    replies.append(trial.apply(kind, payload))
            except (BadRequest, KeyError, TypeError) as e:
                return self._error(400, f"Invalid batchUpdate: {e}", "INVALID_ARGUMENT")
            self.spreadsheets[spreadsheet_id] = trial
            self.calls.append(f"POST {request.url.path}")
            return JSONResponse({"spreadsheetId": spreadsheet_id, "replies": replies})
        return self._unknown(request)

    # ---- serving --------------------------------------------------------------------------
