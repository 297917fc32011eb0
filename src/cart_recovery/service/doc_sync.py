"""Following the owner's Google Docs: each Doc's head revision becomes a new version of the
rules or the voice when it reads fine, and is refused (the owners told once) when it does not.

Runtime-neutral: the embedded runtime runs ``DocSync.run`` every few minutes in ``serve``; the
AWS runtime can run the same step from a scheduled function.

What was done with a revision is kept where the doc's story already is, so nothing else has to
be stored: an applied revision is the note of the version it became (``Google Doc revision
R``, source ``drive``); a refused one is an audit row under ``doc:rules`` / ``doc:voice``
(action ``rules refused``, detail ``Google Doc revision R: <the problems, one a line>``). A
head revision found in either costs the one metadata call and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from cart_recovery.domain.model import AuditEntry
from cart_recovery.domain.rules import Problem
from cart_recovery.ports import DocsDrive, DriveDoc, DriveError
from cart_recovery.service.core import Service
from cart_recovery.service.docs import DocRefused

SOURCE = "drive"
NOTE = "Google Doc revision "
SYNC_BY = "google-docs"


def revision_note(revision: str) -> str:
    return f"{NOTE}{revision}"


def refused_action(doc: str) -> str:
    return f"{doc} refused"


@dataclass(frozen=True)
class Refusal:
    """The last refused revision of a doc, as the dashboard shows it."""

    doc: str
    revision: str
    at: datetime
    by: str
    problems: str  # the line-numbered problems, one a line


@dataclass(frozen=True)
class Synced:
    """What one sync did with a doc: ``unchanged``, ``applied`` (``version``), ``refused``, or
    ``failed`` (``error``: Drive could not be read, or the doc was saved meanwhile; the next
    sync tries again)."""

    doc: str
    outcome: str
    revision: str = ""
    version: str = ""
    error: str = ""


def last_refusal(service: Service, doc: str) -> Refusal | None:
    """The newest refused revision of ``doc`` if no version was saved after it."""
    rows = [a for a in service.store.audit(f"doc:{doc}") if a.action == refused_action(doc)]
    if not rows:
        return None
    row = max(rows, key=lambda a: a.at)
    revision, _, problems = (row.detail or "").removeprefix(NOTE).partition(": ")
    history = service.doc_history(doc)
    if history and history[0].version.at > row.at:
        return None
    return Refusal(doc, revision, row.at, row.by, problems)


@dataclass
class DocSync:
    """Follows ``doc_ids`` (``rules`` / ``voice`` → Google Doc id) through ``drive``.
    ``on_refused`` is told the doc of each newly refused revision (AWS counts it in a metric)."""

    service: Service
    drive: DocsDrive
    doc_ids: Mapping[str, str]
    owners: Sequence[str]
    on_refused: Callable[[str], None] | None = None

    def run(self, now: datetime) -> list[Synced]:
        """One sync of every doc; a doc Drive cannot give is ``failed``, the others go on."""
        out = []
        for doc, file_id in self.doc_ids.items():
            try:
                out.append(self.sync(doc, file_id, now))
            except (DriveError, DocRefused) as e:  # DocRefused: saved meanwhile (stale)
                out.append(Synced(doc, "failed", error=str(e)))
        return out

    def sync(self, doc: str, file_id: str, now: datetime) -> Synced:
        head = self.drive.head(file_id)
        history = self.service.doc_history(doc)
        current = history[0].version if history else None
        note = revision_note(head.revision)
        if current is not None and current.source == SOURCE and current.note == note:
            return Synced(doc, "unchanged", head.revision, current.version)
        if self._refused(doc, head.revision):
            return Synced(doc, "unchanged", head.revision)
        text = self.drive.export_text(file_id)
        try:
            saved = self.service.save_doc(
                doc,
                text,
                base=current.version if current is not None else None,
                by=head.by or SYNC_BY,
                now=now,
                note=note,
                source=SOURCE,
            )
        except DocRefused as e:
            if e.code != "problems":
                raise
            self._refuse(doc, head, e.problems, now)
            if self.on_refused is not None:
                self.on_refused(doc)
            return Synced(doc, "refused", head.revision)
        return Synced(doc, "applied", head.revision, saved.version)

    def _refused(self, doc: str, revision: str) -> bool:
        prefix = f"{revision_note(revision)}: "
        return any(
            a.action == refused_action(doc) and (a.detail or "").startswith(prefix)
            for a in self.service.store.audit(f"doc:{doc}")
        )

    def _refuse(self, doc: str, head: DriveDoc, problems: Sequence[Problem], now: datetime) -> None:
        """Tell the owners (one email), then remember the revision as refused."""
        lines = [str(p) for p in problems]
        if self.owners:
            self.service.mailer.send(self._mail(doc, head, lines))
        self.service.store.append_audit(
            AuditEntry(
                cart_id=f"doc:{doc}",
                at=now,
                by=head.by or SYNC_BY,
                action=refused_action(doc),
                detail=f"{revision_note(head.revision)}: " + "\n".join(lines),
            )
        )

    def _mail(self, doc: str, head: DriveDoc, lines: Sequence[str]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.service.sender
        msg["To"] = ", ".join(self.owners)
        msg["Subject"] = f"Your {doc} doc was not applied: {len(lines)} problem(s)"
        body = [
            f"The latest revision of the {doc} Google Doc"
            + (f", by {head.by}," if head.by else "")
            + " does not read fine, so it was not applied.",
            "Cart recovery keeps using the last good version until the Doc is fixed.",
            "",
            *(f"  {line}" for line in lines),
            "",
            f"The Doc: {head.link}",
        ]
        msg.set_content("\n".join(body) + "\n")
        return msg
