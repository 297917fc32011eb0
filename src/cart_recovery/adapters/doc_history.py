"""Every version of an owner's doc as files in the data folder: ``doc-history/<doc>/000001.txt``
with a ``000001.json`` sidecar (who, when, the note, the source). Nothing is rewritten in place;
the doc file itself (``rules.txt``) always holds the current text, so a hand edit keeps working
and is recorded as a version "edited on disk" the next time the history or the doc is read.

The base-version check and the writes happen under a lock held across threads (a mutex) and
processes (``fcntl`` on ``doc-history/<doc>/.lock``), so two saves from the same version never
both land: the second gets StaleDoc.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cart_recovery.ports import DocVersion, StaleDoc

ON_DISK = "edited on disk"


def write_atomically(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` through a temp file and ``os.replace`` (never half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class VersionFolder:
    """The kept versions of one doc file (``path``), in ``folder``."""

    def __init__(self, doc: str, path: Path, folder: Path) -> None:
        self.doc = doc
        self.path = path
        self.folder = folder
        self._mutex = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a+") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _ids(self) -> list[str]:
        """The recorded version ids, oldest first (a version counts once its sidecar exists)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("[0-9]*.json"))

    def _read(self, version: str) -> DocVersion:
        meta = json.loads((self.folder / f"{version}.json").read_text(encoding="utf-8"))
        return DocVersion(
            doc=self.doc,
            version=version,
            text=(self.folder / f"{version}.txt").read_text(encoding="utf-8"),
            by=meta["by"],
            at=datetime.fromisoformat(meta["at"]),
            note=meta.get("note", ""),
            source=meta.get("source", "dashboard"),
        )

    def _record(self, text: str, *, by: str, at: datetime, note: str, source: str) -> DocVersion:
        ids = self._ids()
        version = f"{int(ids[-1]) + 1 if ids else 1:06d}"
        meta = {"by": by, "at": at.isoformat(), "note": note, "source": source}
        write_atomically(self.folder / f"{version}.txt", text)
        write_atomically(self.folder / f"{version}.json", json.dumps(meta, sort_keys=True))
        return DocVersion(self.doc, version, text, by, at, note, source)

    def _sync(self) -> DocVersion | None:
        """Record the file's text as a version "edited on disk" if it is not the newest one
        (the first version on record, too); returns the current version. Under the lock."""
        ids = self._ids()
        newest = self._read(ids[-1]) if ids else None
        try:
            text = self.path.read_text(encoding="utf-8")
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return newest
        if newest is not None and newest.text == text:
            return newest
        note = "the doc as first found" if newest is None else ""
        at = datetime.fromtimestamp(mtime, UTC)
        return self._record(text, by=ON_DISK, at=at, note=note, source="disk")

    def sync(self) -> None:
        """Record a hand edit of the file, if there is one."""
        with self._locked():
            self._sync()

    def versions(self) -> list[DocVersion]:
        with self._locked():
            self._sync()
            return [self._read(v) for v in reversed(self._ids())]

    def save(
        self, text: str, *, base: str | None, by: str, at: datetime, note: str, source: str
    ) -> DocVersion:
        with self._locked():
            current = self._sync()
            if current is not None and current.version != base:
                raise StaleDoc(self.doc, base, current, text)
            saved = self._record(text, by=by, at=at, note=note, source=source)
            write_atomically(self.path, text)
            return saved
