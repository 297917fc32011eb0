"""Storefront webhooks: one flow for every source. Read the body (size-limited), check the
source's signature on the raw bytes, normalise into cart events, ingest, and answer 2xx only
after the commit. Nothing is stored for a refused request."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..adapters.storefronts.base import RequestError, Source
from ..domain.cart import EventError
from .context import WebContext, read_body

# The path of each source. The generic one is always there (it answers 503 until a secret is
# configured); the others only when their secret is.
PATHS = {
    "generic": "/webhooks/cart",
    "shopify": "/webhooks/shopify",
    "standard": "/webhooks/standard",
}

SETTING = {
    "shopify": "shopify_secrets",
    "standard": "standard_webhooks_secrets",
}


def routes(ctx: WebContext) -> list[BaseRoute]:
    def handler(name: str, source: Source | None) -> Route:
        async def receive(request: Request) -> Response:
            if source is None:
                ctx.count_event("not_configured")
                err = RequestError(
                    404,
                    "not_configured",
                    f"the {name} source is not enabled: set '{SETTING[name]}' in the config",
                )
                return JSONResponse(err.body(), status_code=404)
            try:
                body = await read_body(request)
                now = ctx.clock.now()
                source.verify(request.headers, body, now)
                parsed = source.parse(request.headers, body, now)
                results = []
                for event in parsed.events:
                    accepted = await ctx.ingest(event, now)
                    results.append((event, accepted))
            except RequestError as e:
                ctx.count_event(e.code)
                return JSONResponse(e.body(), status_code=e.status)
            except EventError as e:
                ctx.count_event("invalid_event")
                err = RequestError(400, "invalid_event", str(e), e.field)
                return JSONResponse(err.body(), status_code=400)
            if not results:
                ctx.count_event("ignored")
                return JSONResponse({"status": "ignored", "reason": parsed.ignored or ""})
            event, accepted = results[-1]
            any_new = any(ok for _e, ok in results)
            for _e, ok in results:
                ctx.count_event("accepted" if ok else "duplicate")
            if any_new and ctx.on_ingest is not None:
                ctx.on_ingest()
            answer: dict[str, str] = {
                "status": "accepted" if accepted else "duplicate",
                "event_id": event.event_id,
            }
            if name != "generic":  # the source's ids are not the cart id: say which cart
                answer["cart_id"] = event.cart_id
            return JSONResponse(answer)

        return Route(PATHS[name], receive, methods=["POST"], name=f"webhook_{name}")

    sources: Mapping[str, Source | None] = ctx.sources
    return [handler(name, sources.get(name)) for name in PATHS]
