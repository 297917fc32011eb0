"""Editing the owner's docs: save a new version (refused while a problem remains, or when it
was made from a stale version), restore an old one, and the history with each version's diff.

Every save is audited under the cart-less key ``doc:rules`` / ``doc:voice`` ("rules changed by
Ann: +2 −1 lines"); ``store.audit("doc:rules")`` lists them. The next read of the doc (the next
wake-up) uses the new version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from cart_recovery.domain.doc_diff import diff_summary, unified_diff
from cart_recovery.domain.model import AuditEntry
from cart_recovery.domain.rules import Problem, RulesError, parse_rules
from cart_recovery.domain.voice import VoiceError, parse_voice
from cart_recovery.ports import CartStore, DocHistory, DocSource, DocVersion, StaleDoc
from cart_recovery.service.alerts import AlertMonitor

log = logging.getLogger("cart_recovery.service")

DOCS = ("rules", "voice")
NOTE_LENGTH = 200


class DocRefused(ValueError):
    """A doc edit that was not saved. ``code``: ``unknown_doc``, ``no_history`` (the docs are
    kept where they cannot be edited from here), ``problems`` (``problems`` lists each bad line
    with its number), ``stale`` (``current`` is the version saved meanwhile). ``text`` is the
    author's text, intact, to fix or merge and save again."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        text: str = "",
        problems: tuple[Problem, ...] = (),
        current: DocVersion | None = None,
    ) -> None:
        self.code = code
        self.text = text
        self.problems = problems
        self.current = current
        super().__init__(message)


@dataclass(frozen=True)
class HistoryEntry:
    """One version in the history, with what changed from the version before it."""

    version: DocVersion
    summary: str  # "+2 −1 lines"; "first version" for the oldest
    diff: str  # unified diff against the version before it ("" for the oldest)


def doc_problems(doc: str, text: str) -> tuple[Problem, ...]:
    """The line-numbered problems of ``text`` as ``doc`` (none: it parses)."""
    try:
        if doc == "rules":
            parse_rules(text)
        else:
            parse_voice(text)
    except (RulesError, VoiceError) as e:
        return tuple(e.problems)
    return ()


def one_line(note: str) -> str:
    """The note as one line, at most NOTE_LENGTH characters."""
    return " ".join(note.split())[:NOTE_LENGTH]


class DocEditing:
    """The doc edits of ``Service`` (see ``service.core``)."""

    store: CartStore
    docs: DocSource
    alerts: AlertMonitor | None

    def _history(self, doc: str) -> DocHistory:
        if doc not in DOCS:
            raise DocRefused("unknown_doc", f"there is no doc {doc!r}: 'rules' or 'voice'")
        if not isinstance(self.docs, DocHistory):
            raise DocRefused("no_history", f"the {doc} doc cannot be edited here")
        return self.docs

    def doc_history(self, doc: str) -> list[HistoryEntry]:
        """Every version of ``doc``, newest first, each with its diff against the one before."""
        versions = self._history(doc).versions(doc)
        out = []
        for version, before in zip(versions, [*versions[1:], None], strict=True):
            if before is None:
                out.append(HistoryEntry(version, "first version", ""))
                continue
            diff = unified_diff(
                before.text,
                version.text,
                old_name=f"{doc} {before.version}",
                new_name=f"{doc} {version.version}",
            )
            out.append(HistoryEntry(version, diff_summary(before.text, version.text), diff))
        return out

    def save_doc(
        self,
        doc: str,
        text: str,
        *,
        base: str | None,
        by: str,
        now: datetime,
        note: str = "",
        source: str = "dashboard",
    ) -> DocVersion:
        """Save ``text`` as the new version of ``doc``, made from version ``base``. DocRefused
        while a problem remains or when ``base`` is no longer current (nothing written, the
        text handed back). Appends the audit row; the next wake-up uses the new version. A
        version refused for its problems raises the owner's ``doc_refused`` alert."""
        history = self._history(doc)
        problems = doc_problems(doc, text)
        if problems:
            self._alert_refused(doc, problems, source, now)
            lines = "; ".join(str(p) for p in problems)
            raise DocRefused("problems", f"{doc} not saved: {lines}", text=text, problems=problems)
        versions = history.versions(doc)
        try:
            saved = history.save(
                doc, text, base=base, by=by, at=now, note=one_line(note), source=source
            )
        except StaleDoc as e:
            raise DocRefused("stale", str(e), text=text, current=e.current) from None
        before = next((v.text for v in versions if v.version == base), "")
        verb = "restored" if source == "restore" else "changed"
        detail = f"{doc} {verb} by {by}: {diff_summary(before, text)} (version {saved.version})"
        if saved.note:
            detail += f": {saved.note}"
        self.store.append_audit(
            AuditEntry(cart_id=f"doc:{doc}", at=now, by=by, action=f"{doc} {verb}", detail=detail)
        )
        return saved

    def _alert_refused(
        self, doc: str, problems: tuple[Problem, ...], source: str, now: datetime
    ) -> None:
        if self.alerts is None:
            return
        try:
            self.alerts.doc_refused(doc, [str(p) for p in problems], source, now)
        except Exception:  # the refusal itself must still reach its author
            log.exception("the doc_refused alert could not be raised")

    def restore_doc(self, doc: str, version: str, *, by: str, now: datetime) -> DocVersion:
        """Save the text of an old ``version`` as a new version on top of the current one."""
        versions = self._history(doc).versions(doc)
        found = next((v for v in versions if v.version == version), None)
        if found is None:
            raise DocRefused("not_found", f"{doc} has no version {version!r}")
        return self.save_doc(
            doc,
            found.text,
            base=versions[0].version,
            by=by,
            now=now,
            note=f"restored version {version}",
            source="restore",
        )
