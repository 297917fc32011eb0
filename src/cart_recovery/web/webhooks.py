"""Storefront webhooks: one flow for every source. Read the body (size-limited), check the
source's signature on the raw bytes, normalise into cart events, ingest, and answer 2xx only
after the commit. Nothing is stored for a refused request.

The generic webhook (``POST /webhooks/cart``, the busiest path) is also served by
``CartWebhook``, a plain ASGI handler the app calls before its router: the same flow and the
same answers, without the framework's per-request layers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from cart_recovery.domain.cart import EventError
from cart_recovery.ports import MAX_BODY, RequestError, Source
from cart_recovery.web.context import WebContext
from cart_recovery.web.pages import read_body

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

Answer = tuple[int, dict[str, str]]


def refused(ctx: WebContext, err: RequestError) -> Answer:
    ctx.count_event(err.code)
    return err.status, err.body()


async def deliver(
    ctx: WebContext, name: str, source: Source, headers: Mapping[str, str], body: bytes
) -> Answer:
    """Verify, parse and ingest one delivery; the HTTP status and JSON body to answer with
    (2xx only once every event in it is committed)."""
    try:
        now = ctx.clock.now()
        source.verify(headers, body, now)
        parsed = source.parse(headers, body, now)
        results = []
        for event in parsed.events:
            accepted = await ctx.ingest(event, now)
            results.append((event, accepted))
    except RequestError as e:
        return refused(ctx, e)
    except EventError as e:
        return refused(ctx, RequestError(400, "invalid_event", str(e), e.field))
    if not results:
        ctx.count_event("ignored")
        return 200, {"status": "ignored", "reason": parsed.ignored or ""}
    event, accepted = results[-1]
    any_new = False
    for _e, ok in results:
        any_new |= ok
        ctx.count_event("accepted" if ok else "duplicate")
    if any_new:
        ctx.ingested()
    answer: dict[str, str] = {
        "status": "accepted" if accepted else "duplicate",
        "event_id": event.event_id,
    }
    if name != "generic":  # the source's ids are not the cart id: say which cart
        answer["cart_id"] = event.cart_id
    return 200, answer


def routes(ctx: WebContext) -> list[BaseRoute]:
    def handler(name: str, source: Source | None) -> Route:
        async def receive(request: Request) -> Response:
            if source is None:
                status, answer = refused(
                    ctx,
                    RequestError(
                        404,
                        "not_configured",
                        f"the {name} source is not enabled: set '{SETTING[name]}' in the config",
                    ),
                )
                return JSONResponse(answer, status_code=status)
            try:
                body = await read_body(request)
            except RequestError as e:
                status, answer = refused(ctx, e)
            else:
                status, answer = await deliver(ctx, name, source, request.headers, body)
            return JSONResponse(answer, status_code=status)

        return Route(PATHS[name], receive, methods=["POST"], name=f"webhook_{name}")

    sources: Mapping[str, Source | None] = ctx.sources
    return [handler(name, sources.get(name)) for name in PATHS]


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


async def _read(headers: Mapping[str, str], receive: Receive, limit: int = MAX_BODY) -> bytes:
    """``read_body`` on the raw ASGI messages: the body, refusing (413) anything over
    ``limit`` before reading it all."""
    length = headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
    message = await receive()
    if message["type"] != "http.request":
        raise _Disconnected
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "too_large", f"body is larger than {limit // 1024} KiB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# JSONResponse's rendering (json.dumps with these options), without a new encoder per call
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def render(answer: Mapping[str, str]) -> bytes:
    """The JSON body exactly as ``JSONResponse`` renders it."""
    return _encoder.encode(answer).encode("utf-8")


class RawHeaders(dict[str, str]):
    """An ASGI request's headers as a mapping with case-insensitive keys, the first of
    repeated headers winning (as in Starlette's ``Headers``), built with one pass."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        super().__init__(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in reversed(raw)
        )

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


_JSON = (b"content-type", b"application/json")
_ERROR_HEADERS = [(b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")]


class CartWebhook:
    """``POST /webhooks/cart`` as a plain ASGI app: the generic source through ``deliver``,
    answered with the bytes and headers ``JSONResponse`` would send."""

    path = PATHS["generic"]

    def __init__(self, ctx: WebContext, source: Source) -> None:
        self.ctx = ctx
        self.source = source

    def handles(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == "POST"
            and not scope.get("root_path")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        try:
            headers = RawHeaders(scope["headers"])
            try:
                body = await _read(headers, receive)
            except RequestError as e:
                status, answer = refused(self.ctx, e)
            else:
                status, answer = await deliver(self.ctx, "generic", self.source, headers, body)
            content = render(answer)
            start: dict[str, Any] = {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(content)).encode()), _JSON],
            }
            started = True
            await send(start)
            await send({"type": "http.response.body", "body": content})
        except _Disconnected:
            return
        except Exception:
            # what the framework's error middleware does: a plain 500, then the error is
            # raised on for the server to log
            if not started:
                await send(
                    {"type": "http.response.start", "status": 500, "headers": _ERROR_HEADERS}
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
