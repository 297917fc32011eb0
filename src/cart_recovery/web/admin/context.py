"""What every dashboard endpoint gets: the runtime's parts (``AdminParts``, like the link
pages' ``LinkPages``) and, per app, the login guard, with the helpers the endpoints share:
rendering a page, the one-time message, the checked form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import anyio.to_thread
from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from cart_recovery.domain.owners import UNNAMED
from cart_recovery.ports import CartStore, OwnerAccounts, RequestError
from cart_recovery.service import Service
from cart_recovery.web import owner_views as views
from cart_recovery.web.context import OwnerAccess
from cart_recovery.web.pages import PAGE_HEADERS, page_templates, read_body

if TYPE_CHECKING:
    from cart_recovery.web.admin.auth import Guard

LIST_LIMIT = 500
FORM_LIMIT = 16 * 1024
DOC_FORM_LIMIT = 256 * 1024  # a doc's whole text, URL-encoded

ADMIN_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
CART_ACTIONS = {"suppress": "Suppress", "write_off": "Write off"}
ADDRESS_ACTIONS = {"unsubscribe": "Unsubscribe", "forget": "Forget"}

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class AdminParts:
    """What the dashboard needs from a runtime's wiring. ``service`` and ``accounts`` are
    called when a request first needs them, so the login page builds nothing more."""

    service: Callable[[], Service]
    access: OwnerAccess
    accounts: Callable[[], OwnerAccounts]
    now: Callable[[], datetime]
    store_name: Callable[[], str]
    templates: Environment = field(default_factory=page_templates)
    doc_sources: dict[str, str] = field(default_factory=dict)  # doc → its Google Doc link
    # The export's window as a file by name (``carts.xlsx``, ``carts.csv``), made now in its
    # current state, its action links minted for the named owner: (name, owner) → bytes.
    export_file: Callable[[str, str], bytes] | None = None


@dataclass
class Form:
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def read_form(request: Request, limit: int = FORM_LIMIT) -> Form:
    """An ``application/x-www-form-urlencoded`` body of at most ``limit`` bytes (RequestError
    when it is not one)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise RequestError(415, "unsupported_media_type", "expected a form")
    body = await read_body(request, limit)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise RequestError(400, "invalid_form", "the form could not be read") from None
    return Form({k: v[0] for k, v in parsed.items() if v})


def cart_url(cart_id: str) -> str:
    return "/admin/carts/" + quote(cart_id, safe="")


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


class Admin:
    """One dashboard app's context: its parts and its login guard."""

    def __init__(self, parts: AdminParts, guard: Guard) -> None:
        self.parts = parts
        self.access = parts.access
        self.guard = guard

    @property
    def service(self) -> Service:
        return self.parts.service()

    @property
    def store(self) -> CartStore:
        return self.service.store

    def now(self) -> datetime:
        return self.parts.now()

    def owner(self, request: Request) -> str:
        """The logged-in owner's name, as the audit records their actions."""
        who = getattr(request.state, "owner", None)
        return who if isinstance(who, str) and who else UNNAMED

    def fmt(self) -> views.Fmt:
        service = self.service
        zone = ZoneInfo(service.docs.rules().store_timezone)
        return views.Fmt(zone, service.default_locale)

    def render(self, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        template = self.parts.templates.get_template(name)
        html = template.render(store_name=self.parts.store_name(), **values)
        return HTMLResponse(html, status_code=code, headers=ADMIN_HEADERS)

    def page(self, request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        """A dashboard page, with the session's CSRF token and its one-time message."""
        flash = request.session.pop("flash", None)
        return self.render(
            name,
            code,
            csrf=self.guard.csrf(request),
            flash=flash,
            nav=values.pop("nav", ""),
            who=getattr(request.state, "owner", ""),
            **values,
        )

    def flash(self, request: Request, text: str, kind: str = "ok") -> None:
        request.session["flash"] = {"text": text, "kind": kind}

    def csrf_refused(self, request: Request) -> HTMLResponse:
        return self.page(
            request,
            "admin/message.html",
            403,
            title="This form has expired",
            message="Nothing was changed. Go back, reload the page and try again.",
        )

    async def checked_form(self, request: Request, limit: int = FORM_LIMIT) -> Form | Response:
        """The posted form when it is one and carries the session's CSRF token; otherwise the
        answer to send (the form error as JSON, or the expired-form page)."""
        try:
            form = await read_form(request, limit)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if not self.guard.csrf_ok(request, form):
            return self.csrf_refused(request)
        return form
