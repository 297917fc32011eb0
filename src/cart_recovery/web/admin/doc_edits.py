"""The Rules & voice page and its editor: the docs with what they mean and their preview;
Check (what the edited text means, its problems and its preview, nothing saved), Save (refused
while a problem remains or when made from a stale version, the text kept in the editor), each
doc's history with its diffs, and Restore. Every POST checks the session's CSRF token; every
save goes through the service, which audits it."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cart_recovery.service import DocRefused
from cart_recovery.web import owner_docs
from cart_recovery.web import owner_views as views
from cart_recovery.web.admin.context import DOC_FORM_LIMIT, Admin, Form, run

DOC_TITLES = {"rules": "Rules", "voice": "Voice"}
DEFAULT_AT = time(19, 30)


def sample_time(wanted: str) -> time:
    try:
        return time.fromisoformat(wanted) if len(wanted) == 5 else DEFAULT_AT
    except ValueError:
        return DEFAULT_AT


async def show(
    admin: Admin,
    request: Request,
    at: time,
    draft: owner_docs.Draft | None = None,
    code: int = 200,
) -> Response:
    """The docs page; with ``draft`` in its doc's editor and the preview from it."""

    def build() -> owner_docs.DocsPage:
        service = admin.service
        page_ = owner_docs.docs_page(service, at, admin.parts.doc_sources)
        if draft is not None:
            owner_docs.with_draft(page_, draft)
        zone = ZoneInfo(service.docs.rules().store_timezone)
        start = owner_docs.sample_day(admin.now(), zone, at)
        return owner_docs.with_preview(page_, service, start, draft)

    docs = await run(build)
    return admin.page(
        request,
        "admin/docs.html",
        code,
        nav="docs",
        docs=docs,
        at=f"{at:%H:%M}",
        fmt=admin.fmt(),
        step_names=views.STEP_NAMES,
    )


async def docs_page(admin: Admin, request: Request) -> Response:
    return await show(admin, request, sample_time(request.query_params.get("at", "19:30")))


def _doc(request: Request) -> str | None:
    doc = str(request.path_params["doc"])
    return doc if doc in DOC_TITLES else None


def _no_doc(admin: Admin, request: Request) -> Response:
    return admin.page(request, "admin/message.html", 404, title="No such doc", message="")


def _follows_a_google_doc(admin: Admin, request: Request, doc: str) -> Response | None:
    """A save or restore refused: this doc's source is its Google Doc (edit it there)."""
    link = admin.parts.doc_sources.get(doc)
    if not link:
        return None
    message = f"The {doc} follow a Google Doc: edit it there ({link})."
    return admin.page(
        request, "admin/message.html", 409, title="Edit the Google Doc", message=message
    )


async def _posted(admin: Admin, request: Request, *, editing: bool) -> tuple[str, Form] | Response:
    """The doc a POST names and its CSRF-checked form; or the answer that refuses it (no such
    doc, a bad form, or, when ``editing``, a doc that follows its Google Doc)."""
    doc = _doc(request)
    if doc is None:
        return _no_doc(admin, request)
    form = await admin.checked_form(request, DOC_FORM_LIMIT)
    if isinstance(form, Response):
        return form
    if editing:
        refused = _follows_a_google_doc(admin, request, doc)
        if refused is not None:
            return refused
    return doc, form


def _draft(form: Form, doc: str, **over: str) -> owner_docs.Draft:
    values = {"text": form.get("text"), "base": form.get("base"), "note": form.get("note")}
    values.update(over)
    return owner_docs.read_draft(doc, values["text"], values["base"], values["note"])


async def check(admin: Admin, request: Request) -> Response:
    """What the edited text means, its problems and its preview: nothing is saved."""
    posted = await _posted(admin, request, editing=False)
    if isinstance(posted, Response):
        return posted
    doc, form = posted
    return await show(admin, request, sample_time(form.get("at")), _draft(form, doc))


async def save(admin: Admin, request: Request) -> Response:
    """Save the edited text as the doc's new version, made from the version in ``base``."""
    posted = await _posted(admin, request, editing=True)
    if isinstance(posted, Response):
        return posted
    doc, form = posted
    at = sample_time(form.get("at"))
    draft = _draft(form, doc)
    service, now, by = admin.service, admin.now(), admin.owner(request)
    try:
        saved = await run(
            lambda: service.save_doc(
                doc, draft.text, base=draft.base or None, by=by, now=now, note=draft.note
            )
        )
    except DocRefused as e:
        if e.code == "problems":
            notice = "Not saved: fix the lines named below first. Your text is kept."
            return await show(admin, request, at, replace(draft, notice=notice), 422)
        if e.code == "stale" and e.current is not None:
            current = e.current
            notice = (
                f"Not saved: {e}. Your text is kept below; compare it with the version saved "
                "meanwhile and save again to replace it."
            )
            kept = _draft(form, doc, text=e.text, base=current.version)
            return await show(
                admin, request, at, replace(kept, notice=notice, current=current), 409
            )
        admin.flash(request, str(e)[:300], "error")
        return RedirectResponse("/admin/docs", status_code=303)
    title = DOC_TITLES[doc]
    admin.flash(request, f"{title} saved as version {saved.version}: the next wake-up uses it.")
    return RedirectResponse(f"/admin/docs#{doc}", status_code=303)


async def history(admin: Admin, request: Request) -> Response:
    """Every version of the doc, newest first, each with its diff and a Restore button."""
    doc = _doc(request)
    if doc is None:
        return _no_doc(admin, request)
    service = admin.service
    try:
        entries = await run(service.doc_history, doc)
    except DocRefused as e:
        return admin.page(request, "admin/message.html", 404, title="No history", message=str(e))
    return admin.page(
        request,
        "admin/doc_history.html",
        nav="docs",
        doc=doc,
        title=DOC_TITLES[doc],
        entries=entries,
        fmt=admin.fmt(),
        google_doc=admin.parts.doc_sources.get(doc),
    )


async def restore(admin: Admin, request: Request) -> Response:
    """Save an old version's text as a new version on top of the current one."""
    posted = await _posted(admin, request, editing=True)
    if isinstance(posted, Response):
        return posted
    doc, form = posted
    version = form.get("version")
    service, now, by = admin.service, admin.now(), admin.owner(request)
    try:
        saved = await run(lambda: service.restore_doc(doc, version, by=by, now=now))
    except DocRefused as e:
        admin.flash(request, str(e)[:300], "error")
    else:
        admin.flash(
            request,
            f"{DOC_TITLES[doc]} version {version} restored as version {saved.version}: "
            "the next wake-up uses it.",
        )
    return RedirectResponse(f"/admin/docs/{doc}/history", status_code=303)
