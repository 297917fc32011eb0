"""A fake of the Google Drive v3 API (files.get, files.export) and Google's token endpoint.

Served by uvicorn in a thread on 127.0.0.1, like the fake Sheets API:

* ``POST /token``: the service-account JWT grant, checked as Google does (RS256, signed by
  ``public_key``, Google's audience, the ``drive.readonly`` scope); answers a fresh bearer token.
* ``GET /drive/v3/files/{id}?fields=...``: the Doc's metadata, only the fields asked for.
* ``GET /drive/v3/files/{id}/export?mimeType=text/plain``: the Doc as Google exports it: a
  UTF-8 BOM and CRLF line ends.

Every API call needs a bearer token the fake issued; ``calls`` counts each answered call as
``"get <id>"`` or ``"export <id>"``. Anything else is logged in ``unknown`` and answered 404.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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
from tests.fakes.sheets_api import GOOGLE_TOKEN_AUDIENCE, JWT_GRANT, _b64url, _paths

log = logging.getLogger("tests.fakes.drive_api")

DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
DOC_MIME = "application/vnd.google-apps.document"


@dataclass
class Doc:
    file_id: str
    text: str
    by: str
    email: str
    version: int = 1
    modified: str = "2026-05-12T09:00:00.000Z"

    def edit(self, text: str, *, by: str | None = None) -> None:
        self.text = text
        self.version += 1
        if by is not None:
            self.by = by
        self.modified = f"2026-05-12T09:{self.version:02d}:00.000Z"

    def metadata(self) -> dict[str, Any]:
        # Like Drive for a Google Doc: no headRevisionId, the edits counted in ``version``.
        return {
            "kind": "drive#file",
            "id": self.file_id,
            "mimeType": DOC_MIME,
            "version": str(self.version),
            "modifiedTime": self.modified,
            "lastModifyingUser": {
                "kind": "drive#user",
                "displayName": self.by,
                "emailAddress": self.email,
            },
            "webViewLink": f"https://docs.google.com/document/d/{self.file_id}/edit",
        }


class FakeDrive(ServedOnLoopback):
    """The fake's state plus its Starlette app. ``serve()`` runs it on 127.0.0.1."""

    label = "the fake Drive API"

    def __init__(self, public_key: RSAPublicKey) -> None:
        super().__init__()
        self.public_key = public_key
        self.docs: dict[str, Doc] = {}
        self.tokens: set[str] = set()
        self.calls: list[str] = []
        self.unknown: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/drive/v3/files/{file_id}", self.get, methods=["GET"]),
                Route("/drive/v3/files/{file_id}/export", self.export, methods=["GET"]),
                Route("/{rest:path}", self.not_found, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def add_doc(self, file_id: str, text: str, *, by: str, email: str) -> Doc:
        self.docs[file_id] = Doc(file_id, text, by, email)
        return self.docs[file_id]

    def reset(self) -> None:
        self.docs.clear()
        self.tokens.clear()
        self.calls.clear()
        self.unknown.clear()

    # ---- handlers -------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        try:
            if form.get("grant_type") != JWT_GRANT:
                raise ValueError("a JWT bearer grant is required")
            self._verify(form["assertion"])
        except (ValueError, KeyError) as e:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": f"Invalid JWT: {e}"},
                status_code=400,
            )
        token = f"fake-drive-token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _verify(self, assertion: str) -> None:
        head, body, signature = assertion.split(".")
        if json.loads(_b64url(head)).get("alg") != "RS256":
            raise ValueError("not RS256")
        try:
            self.public_key.verify(
                _b64url(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            raise ValueError("bad signature") from None
        claims = json.loads(_b64url(body))
        if claims["aud"] != GOOGLE_TOKEN_AUDIENCE:
            raise ValueError("wrong audience")
        if DRIVE_SCOPE not in str(claims.get("scope", "")).split():
            raise ValueError("the drive.readonly scope was not asked for")

    def _authorised(self, request: Request) -> Doc | Response:
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.tokens:
            return self._error(401, "Request had invalid authentication credentials.")
        doc = self.docs.get(request.path_params["file_id"])
        if doc is None:
            return self._error(404, f"File not found: {request.path_params['file_id']}.")
        return doc

    @staticmethod
    def _error(status: int, message: str) -> Response:
        return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)

    async def get(self, request: Request) -> Response:
        doc = self._authorised(request)
        if isinstance(doc, Response):
            return doc
        fields = request.query_params.get("fields")
        if not fields:
            return self._unknown(request)  # the adapter always names the fields it needs
        self.calls.append(f"get {doc.file_id}")
        meta = doc.metadata()
        out: dict[str, Any] = {}
        for path in _paths(fields):
            src: Any = meta
            for key in path:
                src = src.get(key) if isinstance(src, dict) else None
            if src is None:
                continue
            dst = out
            for key in path[:-1]:
                dst = dst.setdefault(key, {})
            dst[path[-1]] = src
        return JSONResponse(out)

    async def export(self, request: Request) -> Response:
        doc = self._authorised(request)
        if isinstance(doc, Response):
            return doc
        if request.query_params.get("mimeType") != "text/plain":
            return self._unknown(request)
        self.calls.append(f"export {doc.file_id}")
        body = "\ufeff" + doc.text.replace("\n", "\r\n")
        return Response(body.encode("utf-8"), media_type="text/plain; charset=utf-8")

    def _unknown(self, request: Request) -> Response:
        line = f"{request.method} {request.url.path}?{request.url.query}"
        log.error("fake Drive API: unknown request %s", line)
        self.unknown.append(line)
        return self._error(404, f"fake: no route for {line}")

    async def not_found(self, request: Request) -> Response:
        return self._unknown(request)

    # ---- serving --------------------------------------------------------------------------
