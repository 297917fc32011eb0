"""What the dashboard's docs page shows: the rules and voice docs as they are on disk, what
they mean when they parse (or their problems, while the last good version is served), and a
preview of a sample cart's reminders. When the docs keep their versions, each doc has an
editor: a ``Draft`` is the owner's edited text read before it is saved, and the preview is
computed from it. No HTTP here; ``web/admin/pages.py`` and ``web/admin/doc_edits.py`` render
this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cart_recovery.domain.compose import OutgoingEmail
from cart_recovery.domain.model import Cart, Item
from cart_recovery.domain.preview import TierPreview, preview
from cart_recovery.domain.rules import Rules, RulesError, describe_rules, parse_rules
from cart_recovery.domain.voice import Voice, VoiceError, parse_voice
from cart_recovery.ports import DocFiles, DocHistory, DocVersion
from cart_recovery.service import Service
from cart_recovery.service.doc_sync import Refusal, last_refusal
from cart_recovery.web.owner_views import STEP_NAMES, recompose


@dataclass(frozen=True)
class Draft:
    """The owner's edited text of ``doc``, read before anything is saved: what it means, or
    its line-numbered problems. ``notice``: why a save was refused; ``current``: the version
    saved meanwhile, when the edit was made from a stale one."""

    doc: str
    text: str
    base: str
    note: str
    meaning: str
    problems: tuple[str, ...]
    parsed: Rules | Voice | None
    notice: str = ""
    current: DocVersion | None = None


@dataclass
class DocView:
    title: str
    path: str
    text: str
    ok: bool
    meaning: str  # what the current text means, when it parses
    problems: tuple[str, ...]
    serving_last_good: bool
    doc: str = ""
    version: str = ""  # the current version, the editor's base
    editable: bool = False
    draft: Draft | None = None
    google_doc: str = ""  # the Google Doc this doc follows (the editor links to it)
    refusal: Refusal | None = None  # the Doc's last refused revision, while no newer one applied


@dataclass
class DocsPage:
    rules: DocView
    voice: DocView
    samples: list[TierPreview] = field(default_factory=list)
    sample_at: datetime | None = None
    sample_emails: list[OutgoingEmail] = field(default_factory=list)
    edited: str = ""  # the doc whose edited text the preview shows ("": the docs as they serve)

    @property
    def editable(self) -> bool:
        return self.rules.editable or self.voice.editable

    def view(self, doc: str) -> DocView:
        return self.rules if doc == "rules" else self.voice


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _voice_meaning(voice: Voice) -> str:
    lines = [f"Store name: {voice.store_name}"]
    for step in (1, 2):
        try:
            lines.append(f"{STEP_NAMES[step]} subject (template): {voice.step(step).subject}")
        except ValueError:
            continue
    return "\n".join(lines)


def docs_page(
    service: Service, sample_time: time, sources: dict[str, str] | None = None
) -> DocsPage:
    """The docs as they serve; ``sources``: the docs followed from a Google Doc (its link)."""
    docs = service.docs
    rules = docs.rules()
    voice = docs.voice()
    if isinstance(docs, DocFiles):
        rules_view = _doc_view(
            "Rules",
            docs.rules_doc.path,
            docs.rules_doc.last_error,
            parse=lambda text: describe_rules(parse_rules(text)),
            errors=RulesError,
        )
        voice_view = _doc_view(
            "Voice",
            docs.voice_doc.path,
            docs.voice_doc.last_error,
            parse=lambda text: _voice_meaning(parse_voice(text)),
            errors=VoiceError,
        )
    else:
        rules_view = DocView("Rules", "(built in)", "", True, describe_rules(rules), (), False)
        voice_view = DocView("Voice", "(built in)", "", True, _voice_meaning(voice), (), False)
    page = DocsPage(rules=rules_view, voice=voice_view)
    for doc, view in (("rules", rules_view), ("voice", voice_view)):
        view.doc = doc
        if isinstance(docs, DocHistory):
            versions = docs.versions(doc)
            view.editable = True
            view.version = versions[0].version if versions else ""
            if versions and not view.text:
                view.text = versions[0].text
        view.google_doc = (sources or {}).get(doc, "")
        if view.google_doc:
            view.editable = False
            view.refusal = last_refusal(service, doc)
    return page


def read_draft(doc: str, text: str, base: str, note: str = "") -> Draft:
    """The owner's edited ``text`` of ``doc``, read: its meaning or its problems."""
    text = text.replace("\r\n", "\n")
    try:
        parsed: Rules | Voice
        if doc == "rules":
            parsed = parse_rules(text)
            meaning = describe_rules(parsed)
        else:
            parsed = parse_voice(text)
            meaning = _voice_meaning(parsed)
    except (RulesError, VoiceError) as e:
        problems = tuple(str(p) for p in getattr(e, "problems", ())) or (str(e),)
        return Draft(doc, text, base, note, "", problems, None)
    return Draft(doc, text, base, note, str(meaning), (), parsed)


def with_draft(page: DocsPage, draft: Draft) -> DocsPage:
    """The page with ``draft`` in its doc's editor (and the preview from it, when it reads)."""
    page.view(draft.doc).draft = draft
    if draft.parsed is not None:
        page.edited = draft.doc
    return page


def _doc_view(
    title: str, path: Path, last_error: str | None, *, parse: Any, errors: type[Exception]
) -> DocView:
    text = _read(path)
    if text is None:
        return DocView(title, str(path), "", False, "", ("the file cannot be read",), True)
    try:
        meaning = parse(text)
    except errors as e:
        problems = tuple(str(p) for p in getattr(e, "problems", ())) or (str(e),)
        return DocView(title, str(path), text, False, "", problems, True)
    return DocView(title, str(path), text, True, str(meaning), (), last_error is not None)


def sample_day(now: datetime, zone: ZoneInfo, at: time) -> datetime:
    """Today (store time) at wall time ``at``: the sample abandoned time of the preview."""
    today: date = now.astimezone(zone).date()
    return datetime.combine(today, at).replace(tzinfo=zone).astimezone(zone)


def with_preview(
    page: DocsPage, service: Service, abandoned_at: datetime, draft: Draft | None = None
) -> DocsPage:
    """The reminder plan and both sample emails, under the docs as they serve, or under the
    edited text of ``draft`` when it reads."""
    edited = draft.parsed if draft is not None else None
    rules = edited if isinstance(edited, Rules) else service.docs.rules()
    voice = edited if isinstance(edited, Voice) else None
    page.samples = preview(rules, abandoned_at)
    page.sample_at = abandoned_at
    sample = Cart(
        cart_id="sample-cart",
        email="maya@example.com",
        name="Maya",
        items=(
            Item(title="Linen shirt", quantity=1, unit_price=Decimal("68.00")),
            Item(title="Beeswax candle", quantity=2, unit_price=Decimal("18.00")),
        ),
        total=Decimal("104.00"),
        return_url="https://shop.example/cart",
        created_at=abandoned_at,
        abandoned_at=abandoned_at,
        last_event_at=abandoned_at,
    )
    for step in (1, 2):
        email = recompose(service, sample, step, abandoned_at + timedelta(hours=step), voice)
        if email is not None:
            page.sample_emails.append(email)
    return page
