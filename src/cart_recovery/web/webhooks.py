"""Storefront webhooks: verify, normalise into a CartEvent, ingest, answer after the commit."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..adapters.storefronts.generic import RequestError, decode_event, verify
from ..domain.cart import EventError
from .context import WebContext, read_body


def routes(ctx: WebContext) -> list[BaseRoute]:
    async def generic(request: Request) -> Response:
        try:
            body = await read_body(request)
            now = ctx.clock.now()
            verify(request.headers, body, ctx.webhook_secrets, now)
            event = decode_event(body)
            accepted = await anyio.to_thread.run_sync(ctx.service.ingest, event, now)
        except RequestError as e:
            ctx.count_event(e.code)
            return JSONResponse(e.body(), status_code=e.status)
        except EventError as e:
            ctx.count_event("invalid_event")
            err = RequestError(400, "invalid_event", str(e), e.field)
            return JSONResponse(err.body(), status_code=400)
        ctx.count_event("accepted" if accepted else "duplicate")
        if ctx.on_ingest is not None:
            ctx.on_ingest()
        return JSONResponse(
            {"status": "accepted" if accepted else "duplicate", "event_id": event.event_id}
        )

    return [Route("/webhooks/cart", generic, methods=["POST"])]
