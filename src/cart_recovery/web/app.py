"""The HTTP side of the embedded runtime (Starlette on uvicorn).

Each route module (webhooks, shopper, ...) contributes its routes; routes are a parse and a call.
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

from cart_recovery.web import contract, dashboard, shopper, webhooks
from cart_recovery.web.context import WebContext


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
        *shopper.routes(ctx),
        *contract.routes(ctx),
        *dashboard.routes(ctx),
    ]
    generic = ctx.sources.get("generic")
    webhook = None if generic is None else webhooks.CartWebhook(ctx, generic)
    return App(routes=routes, lifespan=lifespan, webhook=webhook)
