"""The HTTP side of the embedded runtime (Starlette on uvicorn).

Each route module (webhooks, shopper, ...) contributes its routes; routes are a parse and a call.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import contract, dashboard, shopper, webhooks
from .context import WebContext


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


def create_app(ctx: WebContext, *, lifespan: Any = None) -> Starlette:
    routes = [
        *operations(ctx),
        *webhooks.routes(ctx),
        *shopper.routes(ctx),
        *contract.routes(ctx),
        *dashboard.routes(ctx),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
