"""The owner's docs as files in the data folder. An edit takes effect at the next wake-up;
a bad edit is rejected (logged with its line numbers) and the last good version keeps serving.
Every version is kept in ``doc-history/`` beside them (``adapters.doc_history``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from cart_recovery.adapters.doc_history import VersionFolder
from cart_recovery.domain.rules import Rules, RulesError, parse_rules
from cart_recovery.domain.voice import Voice, VoiceError, parse_voice
from cart_recovery.ports import DocVersion

log = logging.getLogger("cart_recovery.docs")
T = TypeVar("T")


class DocUnavailable(RuntimeError):
    """No version of a doc has ever parsed."""


class WatchedDoc(Generic[T]):
    """One doc file, re-parsed when it changes. Keeps ``<name>.last-good`` beside it."""

    def __init__(
        self,
        path: Path,
        parse: Callable[[str], T],
        errors: type[Exception],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._parse = parse
        self._errors = errors
        self._stamp: tuple[int, int] | None = None
        self._value: T | None = None
        self.last_error: str | None = None
        self.text: str | None = None

    @property
    def last_good_path(self) -> Path:
        return self.path.with_name(self.path.name + ".last-good")

    def get(self) -> T:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp == self._stamp and self._value is not None:
            return self._value
        self._stamp = stamp
        if stamp is not None and self._on_change is not None:
            try:
                self._on_change()
            except OSError as e:  # the history is kept beside the doc; serving it comes first
                log.error("doc history not written", extra={"doc": str(self.path), "error": str(e)})
        if stamp is not None:
            text = self.path.read_text(encoding="utf-8")
            try:
                value = self._parse(text)
            except self._errors as e:
                self.last_error = str(e)
                log.error(
                    "doc rejected, keeping the last good version",
                    extra={"doc": str(self.path), "problems": str(e)},
                )
            else:
                self._value, self.text, self.last_error = value, text, None
                if (
                    not self.last_good_path.exists()
                    or self.last_good_path.read_text(encoding="utf-8") != text
                ):
                    tmp = self.last_good_path.with_suffix(".tmp")
                    tmp.write_text(text, encoding="utf-8")
                    os.replace(tmp, self.last_good_path)
                return value
        if self._value is None and self.last_good_path.exists():
            text = self.last_good_path.read_text(encoding="utf-8")
            self._value, self.text = self._parse(text), text
        if self._value is None:
            raise DocUnavailable(f"{self.path}: {self.last_error or 'file not found'}")
        return self._value

    def changed(self) -> None:
        """Read the file again at the next ``get`` (it was just written)."""
        self._stamp = None


class FileDocs:
    """DocSource and DocHistory over ``rules.txt`` and ``voice.txt``; the versions are kept in
    ``history_dir`` (default: ``doc-history`` beside the rules)."""

    def __init__(self, rules_path: Path, voice_path: Path, history_dir: Path | None = None) -> None:
        folder = history_dir if history_dir is not None else rules_path.parent / "doc-history"
        self.history = {
            "rules": VersionFolder("rules", rules_path, folder / "rules"),
            "voice": VersionFolder("voice", voice_path, folder / "voice"),
        }
        self.rules_doc: WatchedDoc[Rules] = WatchedDoc(
            rules_path, parse_rules, RulesError, self.history["rules"].sync
        )
        self.voice_doc: WatchedDoc[Voice] = WatchedDoc(
            voice_path, parse_voice, VoiceError, self.history["voice"].sync
        )

    def _folder(self, doc: str) -> VersionFolder:
        if doc not in self.history:
            raise KeyError(f"no doc {doc!r}: 'rules' or 'voice'")
        return self.history[doc]

    def versions(self, doc: str) -> list[DocVersion]:
        return self._folder(doc).versions()

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
        saved = self._folder(doc).save(text, base=base, by=by, at=at, note=note, source=source)
        (self.rules_doc if doc == "rules" else self.voice_doc).changed()
        return saved

    def rules(self) -> Rules:
        return self.rules_doc.get()

    def voice(self) -> Voice:
        return self.voice_doc.get()
