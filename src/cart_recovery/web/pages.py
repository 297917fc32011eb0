"""What every page of the web app shares: the templates, the headers pages carry, and the
bounded body read."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

from cart_recovery.ports import MAX_BODY, RequestError

TEMPLATES = Path(__file__).parent / "templates"

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "https: data:; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def page_templates() -> Environment:
    """The one template set (the shopper pages, the action links and the dashboard)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` before reading it all."""
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
