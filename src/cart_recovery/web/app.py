"""The HTTP side of the embedded runtime (Starlette on uvicorn). Routes are a parse and a call."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..adapters.storefronts.generic import MAX_BODY, RequestError, decode_event, verify
from ..clock import Clock
from ..domain.cart import EventError
from ..metrics import Metrics
from ..ports import WakeQueue
from ..service import Service
from ..tokens import BadToken, Tokens

log = logging.getLogger("cart_recovery.web")
TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class WebContext:
    service: Service
    queue: WakeQueue
    clock: Clock
    tokens: Tokens
    webhook_secrets: Sequence[str]
    store_name: Callable[[], str]
    on_ingest: Callable[[], None] | None = None
    schema_version: int = 0
    metrics: Metrics | None = None


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(ctx: WebContext, *, lifespan: Any = None) -> Starlette:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
    )

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(store_name=ctx.store_name(), **values)
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "form-action 'self'",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def count(outcome: str) -> None:
        if ctx.metrics is not None:
            ctx.metrics.events.labels(outcome).inc()

    async def webhook(request: Request) -> Response:
        try:
            body = await read_body(request)
            now = ctx.clock.now()
            verify(request.headers, body, ctx.webhook_secrets, now)
            event = decode_event(body)
            accepted = await anyio.to_thread.run_sync(ctx.service.ingest, event, now)
        except RequestError as e:
            count(e.code)
            return JSONResponse(e.body(), status_code=e.status)
        except EventError as e:
            count("invalid_event")
            err = RequestError(400, "invalid_event", str(e), e.field)
            return JSONResponse(err.body(), status_code=400)
        count("accepted" if accepted else "duplicate")
        if ctx.on_ingest is not None:
            ctx.on_ingest()
        return JSONResponse(
            {"status": "accepted" if accepted else "duplicate", "event_id": event.event_id},
            status_code=200,
        )

    def _email(token: str) -> str | None:
        try:
            return ctx.tokens.read_unsubscribe(token)
        except BadToken:
            return None

    async def unsubscribe_page(request: Request) -> Response:
        token = request.path_params["token"]
        if _email(token) is None:
            return page("unsubscribe.html", 404, state="invalid")
        return page("unsubscribe.html", state="confirm", action=f"/u/{token}")

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        email = _email(token)
        one_click = False
        try:
            body = await read_body(request, 8 * 1024)
            one_click = b"List-Unsubscribe=One-Click" in body
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if email is None:
            if one_click:
                return JSONResponse({"error": "invalid_token"}, status_code=404)
            return page("unsubscribe.html", 404, state="invalid")
        await anyio.to_thread.run_sync(
            lambda: ctx.service.unsubscribe(email, ctx.clock.now(), source="shopper")
        )
        if one_click:
            return JSONResponse({"status": "unsubscribed"})
        return page("unsubscribe.html", state="done")

    async def return_link(request: Request) -> Response:
        try:
            cart_id, _step = ctx.tokens.read_return_link(request.path_params["token"])
        except BadToken:
            return page("unsubscribe.html", 404, state="invalid_link")
        cart, _ = await anyio.to_thread.run_sync(ctx.service.store.load, cart_id)
        if cart is None or not cart.return_url:
            return page("unsubscribe.html", 404, state="invalid_link")
        return RedirectResponse(cart.return_url, status_code=303)

    async def healthz(request: Request) -> Response:
        pending = await anyio.to_thread.run_sync(ctx.queue.pending)
        return JSONResponse(
            {"status": "ok", "pending_wakeups": pending, "schema_version": ctx.schema_version}
        )

    async def metrics(request: Request) -> Response:
        if ctx.metrics is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        ctx.metrics.pending.set(await anyio.to_thread.run_sync(ctx.queue.pending))
        return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4")

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/webhooks/cart", webhook, methods=["POST"]),
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["POST"]),
        Route("/r/{token}", return_link, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@contextlib.asynccontextmanager
async def no_lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
