"""Every version of one doc as the versioned bucket's object versions (the DocHistory of S3Docs).

A save is a new object version on top of the current one, never a rewrite; who saved it, when,
the note and the source ride along as object metadata (``x-amz-meta-by``, ``-at``, ``-note``,
``-source``, percent-encoded: S3 metadata is ASCII). A version uploaded by hand (``aws s3 cp``)
carries none of it and shows as by "uploaded to S3", source "upload", at its LastModified.

A version is named ``000003.<VersionId>``: its place in the listing (oldest is 1, so the names
sort in the order the versions were written) and the S3 VersionId the stale check compares.
Only the VersionId is trusted: old versions expire after a year and the places shift with them.

The stale check is atomic with the write: the base must be the latest VersionId, and the
PutObject is conditional on the latest object's ETag (``If-Match``; ``If-None-Match: *`` when
the doc has no object yet), so a save that lands between the check and the put makes ours fail
with 412 and become StaleDoc. An ETag names the content, so a racing save of the very text of
the base passes the condition; no text is lost then, as ours was made from that same text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from cart_recovery.adapters.aws.errors import client_error_type, error_code
from cart_recovery.ports import DocVersion, StaleDoc

UPLOADED = "uploaded to S3"


def _meta(by: str, at: datetime, note: str, source: str) -> dict[str, str]:
    fields = {"by": by, "at": at.isoformat(), "note": note, "source": source}
    return {key: quote(value, safe="") for key, value in fields.items()}


def _name(place: int, version_id: str) -> str:
    return f"{place:06d}.{version_id}"


def version_id(version: str | None) -> str | None:
    """The S3 VersionId in a version's name."""
    return None if version is None else version.partition(".")[2] or version


class ObjectVersions:
    """The kept versions of ``s3://bucket/key``, the doc ``doc``."""

    def __init__(self, client: Any, bucket: str, key: str, doc: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.doc = doc

    def _listing(self) -> list[dict[str, Any]]:
        """The key's object versions, newest first, as S3 lists them (delete markers left out)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key}
        while True:
            page = self._client.list_object_versions(**request)
            found.extend(v for v in page.get("Versions", []) if v.get("Key") == self.key)
            if not page.get("IsTruncated"):
                return found
            request["KeyMarker"] = page.get("NextKeyMarker")
            request["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def _read(self, entry: dict[str, Any], place: int) -> DocVersion:
        vid = str(entry["VersionId"])
        answer = self._client.get_object(Bucket=self.bucket, Key=self.key, VersionId=vid)
        meta = {k.lower(): unquote(v) for k, v in (answer.get("Metadata") or {}).items()}
        at = datetime.fromisoformat(meta["at"]) if meta.get("at") else entry["LastModified"]
        return DocVersion(
            doc=self.doc,
            version=_name(place, vid),
            text=answer["Body"].read().decode("utf-8"),
            by=meta.get("by") or UPLOADED,
            at=at,
            note=meta.get("note", ""),
            source=meta.get("source") or "upload",
        )

    def versions(self) -> list[DocVersion]:
        listing = self._listing()
        return [self._read(entry, len(listing) - i) for i, entry in enumerate(listing)]

    def save(
        self, text: str, *, base: str | None, by: str, at: datetime, note: str, source: str
    ) -> DocVersion:
        listing = self._listing()
        latest = listing[0] if listing and listing[0].get("IsLatest", True) else None
        if latest is not None and str(latest["VersionId"]) != version_id(base):
            raise StaleDoc(self.doc, base, self._read(latest, len(listing)), text)
        condition = {"IfMatch": latest["ETag"]} if latest is not None else {"IfNoneMatch": "*"}
        try:
            answer = self._client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=text.encode("utf-8"),
                ContentType="text/plain; charset=utf-8",
                Metadata=_meta(by, at, note, source),
                **condition,
            )
        except client_error_type() as e:
            if error_code(e) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            now = self._listing()
            raise StaleDoc(self.doc, base, self._read(now[0], len(now)), text) from e
        return DocVersion(
            self.doc, _name(len(listing) + 1, str(answer["VersionId"])), text, by, at, note, source
        )
