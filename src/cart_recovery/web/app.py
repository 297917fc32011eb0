"""The HTTP side of the embedded runtime (Starlette on uvicorn).

Each route module (webhooks, links, admin, ...) contributes its routes; routes are a parse
and a call. The link pages (``web/links.py``) are also what the unsubscribe Lambda serves.
The generic webhook, the one path under load, is answered before the router (``CartWebhook``).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from cart_recovery.web import admin, contract, mail_events, webhooks
from cart_recovery.web.admin import AdminParts
from cart_recovery.web.context import WebContext
from cart_recovery.web.links import LinkPages
from cart_recovery.web.links import routes as link_routes


def operations(ctx: WebContext) -> list[BaseRoute]:
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

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def link_pages(ctx: WebContext) -> LinkPages:
    """The link pages (``/u``, ``/r``, ``/a``) with the embedded runtime's parts."""
    accounts = ctx.accounts
    return LinkPages(
        service=lambda: ctx.service,
        tokens=ctx.tokens,
        now=ctx.clock.now,
        store_name=ctx.store_name,
        templates=ctx.templates,
        accounts=None if accounts is None else (lambda: accounts),
    )


def admin_parts(ctx: WebContext) -> AdminParts | None:
    """The dashboard (``/admin``) with the embedded runtime's parts (None: it is off)."""
    accounts = ctx.accounts
    if ctx.owner is None or accounts is None:
        return None
    return AdminParts(
        service=lambda: ctx.service,
        access=ctx.owner,
        accounts=lambda: accounts,
        now=ctx.clock.now,
        store_name=ctx.store_name,
        templates=ctx.templates,
        doc_sources=ctx.doc_sources,
        export_file=ctx.export_file,
    )


class App(Starlette):
    """The Starlette app, with ``POST /webhooks/cart`` answered before the framework's
    middleware and router (the same flow and answers as its route, with less work)."""

    def __init__(self, *, webhook: webhooks.CartWebhook | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook = webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        webhook = self.webhook
        if webhook is not None and webhook.handles(scope):
            scope["app"] = self
            await webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(ctx: WebContext, *, lifespan: Any = None) -> Starlette:
    routes = [
        *operations(ctx),
        *webhooks.routes(ctx),
        *mail_events.routes(ctx),
        *link_routes(link_pages(ctx)),
        *contract.routes(ctx),
        *admin.routes(admin_parts(ctx)),
    ]
    generic = ctx.sources.get("generic")
    webhook = None if generic is None else webhooks.CartWebhook(ctx, generic)
    return App(routes=routes, lifespan=lifespan, webhook=webhook)
