"""Rules and voice docs held in memory: fixed ones (``StaticDocs``) and an owner-editable
pair with its versions (``MemoryDocs``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from cart_recovery.domain.rules import Rules, RulesError, parse_rules
from cart_recovery.domain.voice import Voice, VoiceError, parse_voice
from cart_recovery.ports import DocVersion, StaleDoc


@dataclass
class StaticDocs:
    """A DocSource holding parsed docs (simulate, tests)."""

    rules_: Rules
    voice_: Voice

    def rules(self) -> Rules:
        return self.rules_

    def voice(self) -> Voice:
        return self.voice_


class MemoryDocs:
    """A DocSource and DocHistory holding every version of the docs' texts in memory (tests).
    Serves the newest version that parses, as the files do."""

    def __init__(self, rules_text: str, voice_text: str, *, at: datetime) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, list[DocVersion]] = {
            doc: [DocVersion(doc, "000001", text, "system", at, "the first version", "disk")]
            for doc, text in (("rules", rules_text), ("voice", voice_text))
        }
        self._rules = parse_rules(rules_text)
        self._voice = parse_voice(voice_text)

    def rules(self) -> Rules:
        return self._rules

    def voice(self) -> Voice:
        return self._voice

    def versions(self, doc: str) -> list[DocVersion]:
        with self._lock:
            return list(reversed(self._versions[doc]))

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
        with self._lock:
            kept = self._versions[doc]
            if kept[-1].version != base:
                raise StaleDoc(doc, base, kept[-1], text)
            saved = DocVersion(doc, f"{len(kept) + 1:06d}", text, by, at, note, source)
            kept.append(saved)
            try:
                if doc == "rules":
                    self._rules = parse_rules(text)
                else:
                    self._voice = parse_voice(text)
            except (RulesError, VoiceError):
                pass  # a bad version is kept, and the last good one keeps serving
            return saved
