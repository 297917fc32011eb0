"""The owner's rules and voice docs from the versioned S3 bucket ``cr-rules-source``.

``rules.txt`` and ``voice.txt`` are read again at each invocation (a conditional GET: an
unchanged object costs a 304), so an edit takes effect at the next wake-up without a deploy.
A version that does not parse is rejected, logged with its problems, and the newest earlier
version that parses keeps serving (the bucket keeps every version); each rejection is also
counted in the ``DocRejected`` metric, which has its own alarm. A missing object serves the
built-in default doc, logged.

S3Docs is also the DocHistory on AWS: every version is an object version of the bucket
(``doc_versions.py``), and a save is a new version, checked against the version it was made from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from cart_recovery.adapters.aws import metrics
from cart_recovery.adapters.aws.doc_versions import ObjectVersions
from cart_recovery.adapters.aws.errors import client_error_type, error_code
from cart_recovery.adapters.files import DocUnavailable
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, RulesError, parse_rules
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, Voice, VoiceError, parse_voice
from cart_recovery.ports import DocVersion

log = logging.getLogger("cart_recovery.aws.docs")
T = TypeVar("T")

MAX_VERSIONS_TRIED = 20


@dataclass
class _Served(Generic[T]):
    value: T
    etag: str | None  # of the newest object, even when it was rejected
    version_id: str | None  # of the version that is serving


class S3Doc(Generic[T]):
    """One doc in the bucket, parsed, with the last good version kept serving."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        parse: Callable[[str], T],
        errors: type[Exception],
        default_text: str,
        *,
        name: str = "",
        emit: metrics.Emit = metrics.stdout_line,
    ) -> None:
        self._client = client
        self.name = name or key.removesuffix(".txt")
        self._emit = emit
        self.bucket = bucket
        self.key = key
        self._parse = parse
        self._errors = errors
        self._default_text = default_text
        self._served: _Served[T] | None = None
        self._fresh = False
        self.last_error: str | None = None

    def expire(self) -> None:
        """Look at the bucket again at the next ``get`` (called once per invocation)."""
        self._fresh = False

    def get(self) -> T:
        if self._served is None or not self._fresh:
            self._served = self._load(self._served)
            self._fresh = True
        return self._served.value

    def _load(self, served: _Served[T] | None) -> _Served[T]:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if served is not None and served.etag:
            request["IfNoneMatch"] = served.etag
        try:
            answer = self._client.get_object(**request)
        except client_error_type() as e:
            code = error_code(e)
            if served is not None and code in ("304", "NotModified"):
                return served
            if code in ("NoSuchKey", "404"):
                log.warning(
                    "doc not in the bucket, serving the built-in default",
                    extra={"bucket": self.bucket, "doc": self.key},
                )
                return _Served(self._parse(self._default_text), None, None)
            if served is not None:
                log.error(
                    "doc not readable, keeping the version serving",
                    extra={"bucket": self.bucket, "doc": self.key, "error": code},
                )
                return served
            raise
        text = answer["Body"].read().decode("utf-8")
        etag, version = answer.get("ETag"), answer.get("VersionId")
        try:
            value = self._parse(text)
        except self._errors as e:
            self.last_error = str(e)
            log.error(
                "doc rejected, keeping the last good version",
                extra={
                    "bucket": self.bucket,
                    "doc": self.key,
                    "version": version,
                    "problems": str(e),
                },
            )
            metrics.doc_rejected(self.name, emit=self._emit)
            return self._fallback(etag, version, served)
        self.last_error = None
        return _Served(value, etag, version)

    def _fallback(
        self, etag: str | None, bad_version: str | None, served: _Served[T] | None
    ) -> _Served[T]:
        """The newest version older than the rejected one that parses."""
        if served is not None and served.version_id is not None:
            return _Served(served.value, etag, served.version_id)
        for version_id in self._earlier_versions(bad_version):
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key, VersionId=version_id)
            try:
                value = self._parse(answer["Body"].read().decode("utf-8"))
            except self._errors:
                continue
            log.warning(
                "serving an earlier version of the doc",
                extra={"bucket": self.bucket, "doc": self.key, "version": version_id},
            )
            return _Served(value, etag, version_id)
        raise DocUnavailable(
            f"s3://{self.bucket}/{self.key}: no version parses ({self.last_error})"
        )

    def _earlier_versions(self, bad_version: str | None) -> list[str]:
        versions: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key}
        while True:
            page = self._client.list_object_versions(**request)
            versions.extend(v for v in page.get("Versions", []) if v.get("Key") == self.key)
            if not page.get("IsTruncated"):
                break
            request["KeyMarker"] = page.get("NextKeyMarker")
            request["VersionIdMarker"] = page.get("NextVersionIdMarker")
        versions.sort(key=lambda v: v["LastModified"], reverse=True)
        ids = [str(v["VersionId"]) for v in versions if v.get("VersionId") != bad_version]
        return ids[:MAX_VERSIONS_TRIED]


class S3Docs:
    """DocSource and DocHistory over ``s3://<bucket>/rules.txt`` and ``voice.txt``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        rules_key: str = "rules.txt",
        voice_key: str = "voice.txt",
        emit: metrics.Emit = metrics.stdout_line,
    ) -> None:
        self.rules_doc: S3Doc[Rules] = S3Doc(
            client,
            bucket,
            rules_key,
            parse_rules,
            RulesError,
            DEFAULT_RULES_TEXT,
            name="rules",
            emit=emit,
        )
        self.voice_doc: S3Doc[Voice] = S3Doc(
            client,
            bucket,
            voice_key,
            parse_voice,
            VoiceError,
            DEFAULT_VOICE_TEXT,
            name="voice",
            emit=emit,
        )
        self._history = {
            doc: ObjectVersions(client, bucket, key, doc)
            for doc, key in (("rules", rules_key), ("voice", voice_key))
        }

    def expire(self) -> None:
        self.rules_doc.expire()
        self.voice_doc.expire()

    def rules(self) -> Rules:
        return self.rules_doc.get()

    def voice(self) -> Voice:
        return self.voice_doc.get()

    def versions(self, doc: str) -> list[DocVersion]:
        return self._history[doc].versions()

    def save(
        self,
        doc: str,
        text: str,
        *,
        base: str | None,
        by: str,
        at: datetime,
        note: str = "",
        source: str = "dashboard",
    ) -> DocVersion:
        saved = self._history[doc].save(text, base=base, by=by, at=at, note=note, source=source)
        self.expire()  # the next read serves the saved version
        return saved
