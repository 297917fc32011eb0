"""The owner's Google Docs read through the Drive v3 API, with google-auth.

A service account the owner shared the two Docs with (read-only scope): its key file's
``token_uri`` is honoured, and ``api_root`` is where the Drive API is (Google's by default).
``head`` is one ``files.get`` asking for the head revision, the modified time, the last
modifying user and the link; ``export_text`` is ``files.export`` as ``text/plain``, with the
UTF-8 BOM and the CRLF line ends Google adds taken off.

For a Google Doc Drive leaves ``headRevisionId`` empty and counts edits in ``version``; the
head revision is whichever of the two Drive gives. google-auth and requests come with the
``sheets`` extra (``pip install 'cart-recovery[sheets]'``). Errors name the Doc and the HTTP
status, never the service account's key.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cart_recovery.ports import DriveDoc, DriveError

if TYPE_CHECKING:
    from google.auth.transport.requests import AuthorizedSession

__all__ = ["DRIVE_API", "SCOPES", "DriveDocs"]

DRIVE_API = "https://www.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/drive.readonly",)
FIELDS = "headRevisionId,version,modifiedTime,lastModifyingUser(displayName),webViewLink"
TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
INSTALL_HINT = "pip install 'cart-recovery[sheets]'"


def plain(text: str) -> str:
    """Google's text/plain export as our text: no BOM, ``\\n`` line ends."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class DriveDocs:
    """``DocsDrive`` over Drive v3 with the service account in ``key_file``."""

    def __init__(self, key_file: Path, *, api_root: str = DRIVE_API) -> None:
        self.key_file = key_file
        self.api_root = api_root.rstrip("/")
        self._session: AuthorizedSession | None = None

    def _http(self, file_id: str) -> AuthorizedSession:
        if self._session is not None:
            return self._session
        try:
            from google.auth.transport.requests import AuthorizedSession
            from google.oauth2.service_account import Credentials
        except ImportError:
            raise DriveError(f"reading Google Docs needs google-auth: {INSTALL_HINT}") from None
        try:
            creds = Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self.key_file), scopes=list(SCOPES)
            )
        except Exception as e:  # the message could quote the key: name the type only
            raise DriveError(
                f"Google Doc {file_id}: cannot use the service account key file"
                f" {self.key_file} ({type(e).__name__})"
            ) from None
        self._session = AuthorizedSession(creds)  # type: ignore[no-untyped-call]
        return self._session

    def _get(self, file_id: str, path: str, params: dict[str, str]) -> Any:
        import requests
        from google.auth.exceptions import GoogleAuthError

        url = f"{self.api_root}/drive/v3/files/{file_id}{path}"
        try:
            response = self._http(file_id).get(url, params=params, timeout=TIMEOUT)
        except GoogleAuthError as e:
            raise DriveError(
                f"Google Doc {file_id}: the service account was refused a token"
                f" ({type(e).__name__})"
            ) from None
        except requests.RequestException as e:
            raise DriveError(
                f"Google Doc {file_id}: Drive unreachable ({type(e).__name__})"
            ) from None
        if response.status_code != 200:
            shared = response.status_code in (403, 404)
            hint = " (is it shared with the service account?)" if shared else ""
            raise DriveError(
                f"Google Doc {file_id}: Drive answered HTTP {response.status_code}{hint}"
            )
        return response

    def head(self, file_id: str) -> DriveDoc:
        meta = self._get(file_id, "", {"fields": FIELDS, "supportsAllDrives": "true"}).json()
        revision = meta.get("headRevisionId") or (
            f"v{meta['version']}" if meta.get("version") else meta.get("modifiedTime", "")
        )
        user = meta.get("lastModifyingUser") or {}
        return DriveDoc(
            file_id=file_id,
            revision=str(revision),
            modified_at=_when(meta.get("modifiedTime")),
            by=str(user.get("displayName") or ""),
            link=str(
                meta.get("webViewLink") or f"https://docs.google.com/document/d/{file_id}/edit"
            ),
        )

    def export_text(self, file_id: str) -> str:
        response = self._get(file_id, "/export", {"mimeType": "text/plain"})
        return plain(response.content.decode("utf-8"))
