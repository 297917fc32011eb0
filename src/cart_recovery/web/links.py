"""The pages behind the links in emails and exports, the same on uvicorn and on the
unsubscribe Lambda (through Mangum).

* ``GET /u/<token>``: a page with one confirm button (never changes anything: mail scanners
  prefetch links). ``POST /u/<token>``: the button, or the RFC 8058 one-click request
  (``List-Unsubscribe=One-Click``). Its answer page offers "Get reminders again":
  ``POST /u/<token>/again`` takes the address off the list, as the shopper (never after a
  spam complaint: that is final).
* ``GET /r/<token>``: the tracked return link: records the click, then 303 to that cart's
  stored return URL only.
* ``GET /a/<token>``: an owner's signed, expiring action link (suppress, write off,
  unsubscribe) shows what it would do; ``POST`` does it as the owner it was minted for, while
  that owner is still one (when the runtime gives the pages the owners' accounts).

Every change goes through the service, which audits it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cart_recovery.domain.model import Cart
from cart_recovery.domain.owners import UNNAMED
from cart_recovery.ports import BadToken, LinkTokens, OwnerAccounts, RequestError, UnsubscribeLink
from cart_recovery.service import ActionRefused, OptIn, Service
from cart_recovery.web import owner_views as views
from cart_recovery.web.pages import PAGE_HEADERS, page_templates, read_body

ONE_CLICK = b"List-Unsubscribe=One-Click"
UNSUBSCRIBE_BODY_LIMIT = 8 * 1024
CART_ACTIONS = {"suppress": "Suppress", "write_off": "Write off"}
ACTION_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
REDIRECT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class LinkPages:
    """What the link pages need from a runtime's wiring. ``service`` is called when a request
    first needs it, so a page that only reads its token builds nothing more. ``accounts``:
    the owners' accounts, read to refuse an action link minted for an owner since removed
    (None: every well-signed link acts)."""

    service: Callable[[], Service]
    tokens: LinkTokens
    now: Callable[[], datetime]
    store_name: Callable[[], str]
    templates: Environment = field(default_factory=page_templates)
    accounts: Callable[[], OwnerAccounts] | None = None

    def owner_kept(self, owner: str) -> bool:
        """Is the owner a link names still one? (The unnamed owner's links, which the export
        makes, always are.)"""
        if owner == UNNAMED or self.accounts is None:
            return True
        return self.accounts().owner_named(owner) is not None

    def render(self, name: str, code: int, headers: dict[str, str], /, **values: Any) -> Response:
        html = self.templates.get_template(name).render(store_name=self.store_name(), **values)
        return HTMLResponse(html, status_code=code, headers=headers)


def links_app(pages: LinkPages) -> Starlette:
    """The link pages alone, as an ASGI app (the unsubscribe Lambda serves this)."""
    return Starlette(routes=routes(pages))


def routes(pages: LinkPages) -> list[BaseRoute]:
    return [*shopper_routes(pages), *action_routes(pages)]


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


# ---- the shopper's links: unsubscribe and return ---------------------------------------------


def shopper_routes(pages: LinkPages) -> list[BaseRoute]:
    def page(code: int = 200, /, **values: Any) -> Response:
        return pages.render("unsubscribe.html", code, PAGE_HEADERS, **values)

    def link_of(token: str) -> UnsubscribeLink | None:
        try:
            return pages.tokens.read_unsubscribe_link(token)
        except BadToken:
            return None

    async def unsubscribe_page(request: Request) -> Response:
        """GET never changes anything: mail scanners prefetch links."""
        token = request.path_params["token"]
        if link_of(token) is None:
            return page(404, state="invalid")
        return page(state="confirm", action=f"/u/{token}")

    async def unsubscribe(request: Request) -> Response:
        """The confirm button and the RFC 8058 one-click POST: one handler."""
        token = request.path_params["token"]
        link = link_of(token)
        try:
            body = await read_body(request, UNSUBSCRIBE_BODY_LIMIT)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        one_click = ONE_CLICK in body
        if link is None:
            if one_click:
                return JSONResponse({"error": "invalid_token"}, status_code=404)
            return page(404, state="invalid")
        now = pages.now()
        await run(lambda: pages.service().unsubscribe_link(link, now, source="shopper"))
        if one_click:
            return JSONResponse({"status": "unsubscribed"})
        return page(state="done", again=f"/u/{token}/again")

    async def opt_back_in(request: Request) -> Response:
        """ "Changed your mind? Get reminders again": only from the shopper's own signed link,
        and never for an address suppressed by a complaint."""
        link = link_of(request.path_params["token"])
        try:
            await read_body(request, UNSUBSCRIBE_BODY_LIMIT)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if link is None:
            return page(404, state="invalid")
        now = pages.now()
        done = await run(lambda: pages.service().opt_back_in(link, now))
        if done is OptIn.FINAL:
            return page(409, state="final")
        return page(state="back")

    async def return_link(request: Request) -> Response:
        """Records the click (GET only: a HEAD is a link checker), then redirects only to the
        cart's stored return URL, never to one from the request."""
        try:
            cart_id, step = pages.tokens.read_return_link(request.path_params["token"])
        except BadToken:
            return page(404, state="invalid_link")
        service = pages.service()
        if request.method == "GET":
            url = await run(service.follow_return_link, cart_id, step, pages.now())
        else:
            cart, _ = await run(service.store.load, cart_id)
            url = None if cart is None else cart.return_url
        if not url:
            return page(404, state="invalid_link")
        return RedirectResponse(url, status_code=303, headers=REDIRECT_HEADERS)

    return [
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["POST"]),
        Route("/u/{token}/again", opt_back_in, methods=["POST"]),
        Route("/r/{token}", return_link, methods=["GET"]),
    ]


# ---- the owner's signed action links ---------------------------------------------------------


def action_routes(pages: LinkPages) -> list[BaseRoute]:
    """An action link from the export sheet is its own credential: GET shows what it would do
    (mail scanners prefetch links, so GET never changes anything), POST does it as the owner
    the link was minted for (a link that names none: the unnamed ``owner``)."""

    def page(code: int = 200, /, **values: Any) -> Response:
        return pages.render("admin/action_link.html", code, ACTION_HEADERS, **values)

    async def read(token: str) -> tuple[str, str, str] | Response:
        try:
            found = pages.tokens.read_owner_action(token, now=pages.now().timestamp())
        except BadToken as e:
            expired = "expired" in str(e)
            return page(403 if expired else 404, state="expired" if expired else "invalid")
        if not await run(pages.owner_kept, found[2]):
            return page(403, state="removed")
        return found

    async def describe(action: str, target: str) -> dict[str, Any]:
        values: dict[str, Any] = {"action": action, "target": target}
        if action in CART_ACTIONS or action == "unsubscribe_cart":
            service = pages.service()
            cart, _ = await run(service.store.load, target)
            values["cart"] = cart
            if cart is not None:
                zone = ZoneInfo(service.docs.rules().store_timezone)
                fmt = views.Fmt(zone, service.default_locale)
                values["total"] = fmt.money(cart.total, cart.currency)
                values["status"] = views.status_of(cart)[0]
        return values

    async def confirm(request: Request) -> Response:
        token = request.path_params["token"]
        found = await read(token)
        if isinstance(found, Response):
            return found
        action, target, _ = found
        values = await describe(action, target)
        cart: Cart | None = values.get("cart")
        if action in CART_ACTIONS and (cart is None or not cart.is_open):
            return page(409, state="stale", **values)
        if action == "unsubscribe_cart" and (cart is None or not cart.email):
            return page(409, state="stale", **values)
        return page(state="confirm", post_to=f"/a/{token}", **values)

    async def perform(request: Request) -> Response:
        found = await read(request.path_params["token"])
        if isinstance(found, Response):
            return found
        action, target, by = found
        service, now = pages.service(), pages.now()
        try:
            if action == "suppress":
                await run(lambda: service.suppress(target, now, by=by, via="action link"))
            elif action == "write_off":
                await run(lambda: service.write_off(target, now, by=by, via="action link"))
            elif action == "unsubscribe_cart":
                await run(lambda: service.unsubscribe_cart(target, now, source=by))
            else:
                await run(lambda: service.unsubscribe(target, now, source=by))
        except ActionRefused as e:
            values = await describe(action, target)
            return page(409, state="refused", reason=str(e), **values)
        values = await describe(action, target)
        return page(state="done", **values)

    return [
        Route("/a/{token}", confirm, methods=["GET"]),
        Route("/a/{token}", perform, methods=["POST"]),
    ]
