"""The nightly export on AWS: the same ``.xlsx`` and ``.csv`` as the embedded runtime's export
folder (``adapters/export/files.py``), in the exports bucket ``cr-exports``.

``exports/carts.xlsx`` and ``exports/carts.csv`` hold the latest night (each one PutObject,
which S3 makes visible all at once); ``exports/daily/carts-YYYY-MM-DD.*`` keep each night's
copy (the bucket's lifecycle rule expires them). The owner reaches the latest workbook through a
presigned GET link (``download_url``) in the monthly summary email: the bucket stays private.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cart_recovery.adapters.aws.errors import client_error_type, error_code, transport_error_types
from cart_recovery.adapters.export.files import write_csv, write_xlsx
from cart_recovery.domain.export_rows import Row

PREFIX = "exports/"
LINK_LIFETIME = timedelta(days=7)  # SigV4's longest
TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
}


class S3ExportError(RuntimeError):
    """The export could not be stored; the message names the bucket and key."""


@dataclass
class S3Exporter:
    """The ``Exporter`` into ``bucket`` (an S3 client from the runtime's session)."""

    s3: Any
    bucket: str

    def latest_key(self, suffix: str = ".xlsx") -> str:
        return f"{PREFIX}carts{suffix}"

    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        written = []
        with tempfile.TemporaryDirectory(prefix="cr-export-") as folder:
            files = {
                ".xlsx": write_xlsx(rows, Path(folder) / "carts.xlsx", title="Carts"),
                ".csv": write_csv(rows, Path(folder) / "carts.csv"),
            }
            for suffix, path in files.items():
                body = path.read_bytes()
                for key, name in (
                    (self.latest_key(suffix), f"carts{suffix}"),
                    (f"{PREFIX}daily/carts-{day.isoformat()}{suffix}", f"carts-{day}{suffix}"),
                ):
                    self._put(key, body, suffix, name)
                    written.append(f"s3://{self.bucket}/{key}")
        return written

    def _put(self, key: str, body: bytes, suffix: str, name: str) -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=TYPES[suffix],
                ContentDisposition=f'attachment; filename="{name}"',
            )
        except (client_error_type(), *transport_error_types()) as e:
            code = error_code(e) or type(e).__name__
            raise S3ExportError(f"export to s3://{self.bucket}/{key} failed: {code}") from None

    def download_url(self, expires: timedelta = LINK_LIFETIME) -> str | None:
        """A presigned GET of the latest workbook, valid for ``expires`` (at most 7 days, and
        no longer than the credentials that sign it); None when no export was written yet."""
        key = self.latest_key()
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except client_error_type() as e:
            if error_code(e) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=int(min(expires, LINK_LIFETIME).total_seconds()),
        )
        return url
