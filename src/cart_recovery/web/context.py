"""What every route module gets: the wired service and the runtime's parts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from jinja2 import Environment
from starlette.responses import HTMLResponse

from cart_recovery.domain.model import CartEvent
from cart_recovery.ports import Clock, LinkTokens, MailEvents, OwnerAccounts, Source, WakeQueue
from cart_recovery.service import Service
from cart_recovery.web.pages import PAGE_HEADERS, page_templates

if TYPE_CHECKING:  # the embedded runtime's (prometheus); the AWS functions never load it
    from cart_recovery.embedded.metrics import Metrics

POKE_INTERVAL = 0.05  # seconds between two pokes of the timer loop after commits


@dataclass(frozen=True)
class OwnerAccess:
    """The dashboard's keys: the admin token it logs in with (empty: the dashboard is off),
    the key its session cookie is signed with, and whether that cookie is for HTTPS only."""

    admin_token: str = field(repr=False)
    session_key: str = field(repr=False)
    https_only: bool = False


@dataclass
class WebContext:
    service: Service
    queue: WakeQueue
    clock: Clock
    tokens: LinkTokens
    store_name: Callable[[], str]
    on_ingest: Callable[[], None] | None = None
    schema_version: int = 0
    metrics: Metrics | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The storefront sources by name (generic, shopify, standard), as bootstrap made them.
    sources: dict[str, Source] = field(default_factory=dict)
    # The mail providers' bounce and complaint webhooks by name (ses, postmark, sendgrid,
    # mailgun), as bootstrap made them: only those whose secret is configured.
    mail_events: dict[str, MailEvents] = field(default_factory=dict)
    owner: OwnerAccess | None = None  # None: no dashboard (the action links still work)
    accounts: OwnerAccounts | None = None  # the owners' logins and sessions (the dashboard's)
    # How an accepted event is applied: by default in a worker thread, one transaction per
    # event; the embedded runtime passes its group-commit queue.
    ingester: Callable[[CartEvent, datetime], Awaitable[bool]] | None = None
    templates: Environment = field(default_factory=page_templates)
    # The docs followed from Google Docs: ``rules`` / ``voice`` → the Doc's link (the
    # dashboard links to it instead of editing).
    doc_sources: dict[str, str] = field(default_factory=dict)
    # The export's window as a file for the owner who downloads it: (name, owner) → bytes.
    export_file: Callable[[str, str], bytes] | None = None

    # the metrics' per-outcome counters, looked up once
    _counters: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _counters_of: Metrics | None = field(default=None, init=False, repr=False)
    _poke_pending: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _poked_at: float = field(default=-math.inf, init=False, repr=False)

    async def ingest(self, event: CartEvent, now: datetime) -> bool:
        """Apply one event; returns only after it is durable (False: a redelivery)."""
        if self.ingester is not None:
            return await self.ingester(event, now)
        return await anyio.to_thread.run_sync(self.service.ingest, event, now)

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(store_name=self.store_name(), **values)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def count_event(self, outcome: str) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        if self._counters_of is not metrics:
            self._counters = {}
            self._counters_of = metrics
        counter = self._counters.get(outcome)
        if counter is None:
            counter = self._counters[outcome] = metrics.events.labels(outcome)
        counter.inc()

    def ingested(self) -> None:
        """New events were committed: tell the runtime (``on_ingest``, which wakes the timer
        loop to look for an earlier wake-up). Under load that would be one timer-loop cycle per
        commit; instead the first call pokes at once and later ones at most every
        ``POKE_INTERVAL`` (a wake-up set within that time of an earlier poke is looked at up to
        that much later: reminders are hours away, and the loop sleeps at most a minute)."""
        if self.on_ingest is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.on_ingest()
            return
        # one is on its way (one due on a loop that has since stopped never comes: then this
        # loop schedules its own)
        if self._poke_pending is loop:
            return
        self._poke_pending = loop
        wait = self._poked_at + POKE_INTERVAL - loop.time()
        if wait <= 0:
            loop.call_soon(self._poke, loop)
        else:
            loop.call_later(wait, self._poke, loop)

    def _poke(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._poke_pending is loop:
            self._poke_pending = None
        self._poked_at = loop.time()
        if self.on_ingest is not None:
            self.on_ingest()
