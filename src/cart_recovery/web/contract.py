"""The public contract, served as kept in the repo: the OpenAPI document and the cart event's
JSON Schema."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cart_recovery import contract
from cart_recovery.web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    async def openapi(request: Request) -> Response:
        return Response(contract.raw(contract.OPENAPI_NAME), media_type="application/json")

    async def cart_event_schema(request: Request) -> Response:
        return Response(contract.raw(contract.SCHEMA_NAME), media_type="application/schema+json")

    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/schemas/cart-event.json", cart_event_schema, methods=["GET"]),
    ]
