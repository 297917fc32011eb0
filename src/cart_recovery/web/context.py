"""What every route module gets: the wired service and the runtime's parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..adapters.storefronts.base import MAX_BODY, RequestError, Source
from ..adapters.storefronts.generic import GenericSource
from ..clock import Clock
from ..domain.model import CartEvent
from ..metrics import Metrics
from ..ports import WakeQueue
from ..service import Service
from ..tokens import Tokens

TEMPLATES = Path(__file__).parent / "templates"

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "https: data:; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class OwnerAccess:
    """The dashboard's keys: the admin token it logs in with (empty: the dashboard is off),
    the key its session cookie is signed with, whether that cookie is for HTTPS only, and the
    outbox folder (when mail goes there) whose copies the dashboard shows."""

    admin_token: str = field(repr=False)
    session_key: str = field(repr=False)
    https_only: bool = False
    outbox: Path | None = None


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
    extra: dict[str, Any] = field(default_factory=dict)
    # The storefront sources by name (generic, shopify, standard); the generic one is made
    # from ``webhook_secrets`` unless given.
    sources: dict[str, Source] = field(default_factory=dict)
    owner: OwnerAccess | None = None  # None: no dashboard (the action links still work)
    # How an accepted event is applied: by default in a worker thread, one transaction per
    # event; the embedded runtime passes its group-commit queue.
    ingester: Callable[[CartEvent, datetime], Awaitable[bool]] | None = None
    templates: Environment = field(
        default_factory=lambda: Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
        )
    )

    def __post_init__(self) -> None:
        self.sources.setdefault("generic", GenericSource(self.webhook_secrets))

    async def ingest(self, event: CartEvent, now: datetime) -> bool:
        """Apply one event; returns only after it is durable (False: a redelivery)."""
        if self.ingester is not None:
            return await self.ingester(event, now)
        return await anyio.to_thread.run_sync(self.service.ingest, event, now)

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(store_name=self.store_name(), **values)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def count_event(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.events.labels(outcome).inc()


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
