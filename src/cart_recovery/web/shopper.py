"""The shopper's side: the unsubscribe page and one-click POST, and the tracked return link."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cart_recovery.adapters.links import BadToken
from cart_recovery.adapters.storefronts.generic import RequestError
from cart_recovery.web.context import WebContext, read_body


def routes(ctx: WebContext) -> list[BaseRoute]:
    def email_of(token: str) -> str | None:
        try:
            return ctx.tokens.read_unsubscribe(token)
        except BadToken:
            return None

    async def unsubscribe_page(request: Request) -> Response:
        """GET never changes anything: mail scanners prefetch links."""
        token = request.path_params["token"]
        if email_of(token) is None:
            return ctx.page("unsubscribe.html", 404, state="invalid")
        return ctx.page("unsubscribe.html", state="confirm", action=f"/u/{token}")

    async def unsubscribe(request: Request) -> Response:
        """The confirm button and the RFC 8058 one-click POST: one handler."""
        token = request.path_params["token"]
        email = email_of(token)
        try:
            body = await read_body(request, 8 * 1024)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        one_click = b"List-Unsubscribe=One-Click" in body
        if email is None:
            if one_click:
                return JSONResponse({"error": "invalid_token"}, status_code=404)
            return ctx.page("unsubscribe.html", 404, state="invalid")
        now = ctx.clock.now()
        await anyio.to_thread.run_sync(
            lambda: ctx.service.unsubscribe(email, now, source="shopper")
        )
        if one_click:
            return JSONResponse({"status": "unsubscribed"})
        return ctx.page("unsubscribe.html", state="done")

    async def return_link(request: Request) -> Response:
        """Records the click (GET only: a HEAD is a link checker), then redirects only to the
        cart's stored return URL, never to one from the request."""
        try:
            cart_id, step = ctx.tokens.read_return_link(request.path_params["token"])
        except BadToken:
            return ctx.page("unsubscribe.html", 404, state="invalid_link")
        if request.method == "GET":
            now = ctx.clock.now()
            url = await anyio.to_thread.run_sync(ctx.service.follow_return_link, cart_id, step, now)
        else:
            cart, _ = await anyio.to_thread.run_sync(ctx.service.store.load, cart_id)
            url = None if cart is None else cart.return_url
        if not url:
            return ctx.page("unsubscribe.html", 404, state="invalid_link")
        return RedirectResponse(url, status_code=303)

    return [
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["POST"]),
        Route("/r/{token}", return_link, methods=["GET"]),
    ]
