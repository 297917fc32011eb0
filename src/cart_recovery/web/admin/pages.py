"""The dashboard's pages: today's or this month's carts, search, one cart, a reminder's HTML,
the docs with their preview, and the privacy tools. Rendered on the server; no script runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cart_recovery.domain.calendar import day_bounds, month_bounds
from cart_recovery.domain.chart import chart, svg
from cart_recovery.domain.model import Cart, SendRecord
from cart_recovery.domain.stats import attribution
from cart_recovery.service.reports import month_series_of
from cart_recovery.web import owner_views as views
from cart_recovery.web.admin.context import CART_ACTIONS, LIST_LIMIT, Admin, cart_url, run

EMAIL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https: "
    "data:; sandbox",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


# Why an address is on the unsubscribe list, in the owner's words (by its source).
SOURCES = {
    "shopper": "Unsubscribed",
    "owner": "By the owner",
    "bounce": "Bounced",
    "complaint": "Spam complaint",
}


# ---- lists (the API reads them too) -----------------------------------------------------------


def rows_for(admin: Admin, carts: list[Cart], short_times: bool) -> list[views.CartRow]:
    store = admin.store
    ids = [c.cart_id for c in carts]
    sends: dict[str, list[SendRecord]] = {}
    for cart_id in ids:
        sends[cart_id] = store.load(cart_id)[1]
    clicks = store.clicks_for(ids)
    fmt = admin.fmt()
    return views.cart_rows(
        carts, sends, clicks, admin.service.docs.rules(), fmt, short_times=short_times
    )


def period(admin: Admin, view: str) -> tuple[str, list[Cart]]:
    """Today's carts, or this month's (``view == "month"``), newest first, with their label."""
    fmt = admin.fmt()
    now = fmt.local(admin.now())
    if view == "month":
        start, end = month_bounds(now.year, now.month, fmt.zone)
        label = f"{now:%B %Y}"
    else:
        start, end = day_bounds(now.date(), fmt.zone)
        label = f"Today, {now:%A} {now.day} {now:%B}"
    carts = admin.store.carts_between(start, end)
    carts.sort(key=lambda c: (c.created_at, c.cart_id), reverse=True)
    return label, carts


@dataclass(frozen=True)
class AlertRow:
    id: int
    title: str
    body: str
    when: str  # store time


def alert_rows(admin: Admin) -> list[AlertRow]:
    """The owner's recent alerts, for the banner (none when the runtime raises none)."""
    monitor = admin.service.alerts
    if monitor is None:
        return []
    fmt = admin.fmt()
    return [AlertRow(a.id, a.title, a.body, fmt.when(a.at)) for a in monitor.recent(admin.now())]


def month_chart(admin: Admin) -> dict[str, Any]:
    """This month's chart, day by day (store time), as inline SVG with the same numbers as a
    table. Money in the month's main currency; what came in another is named in ``note``."""
    fmt = admin.fmt()
    now = fmt.local(admin.now())
    series = month_series_of(admin.store, fmt.zone, now.year, now.month)
    drawing = chart(series, locale=fmt.locale)
    cur = drawing.currency
    rows = [
        (
            f"{d.day:%a} {d.day.day}",
            d.carts_left,
            d.reminders_sent,
            fmt.money(d.clicked_in(cur), cur),
            fmt.money(d.reminded_in(cur), cur),
        )
        for d in series.days
        if d.day <= now.date()
    ]
    return {
        "svg": svg(drawing, ident="month-chart"),
        "title": drawing.title,
        "currency": cur,
        "note": drawing.note,
        "rows": rows,
    }


async def home(admin: Admin, request: Request) -> Response:
    view = "month" if request.query_params.get("view") == "month" else "today"

    def build() -> tuple[str, list[views.CartRow], int, dict[str, Any] | None]:
        label, carts = period(admin, view)
        rows = rows_for(admin, carts[:LIST_LIMIT], view == "today")
        return label, rows, len(carts), month_chart(admin) if view == "month" else None

    label, rows, count, month = await run(build)
    return admin.page(
        request,
        "admin/home.html",
        alerts=await run(alert_rows, admin),
        nav="carts",
        view=view,
        label=label,
        rows=rows,
        hidden=max(count - len(rows), 0),
        tiles=views.tiles(rows, admin.fmt()),
        chart=month,
        q="",
        cart_url=cart_url,
        exports=admin.parts.export_file is not None,  # the nightly export's files, when kept
    )


async def search(admin: Admin, request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    if not q:
        return RedirectResponse("/admin/", status_code=303)

    def build() -> list[views.CartRow]:
        return rows_for(admin, admin.store.search(q, 50), False)

    rows = await run(build)
    return admin.page(
        request,
        "admin/search.html",
        nav="carts",
        q=q,
        rows=rows,
        cart_url=cart_url,
    )


# ---- one cart ---------------------------------------------------------------------------------


def cart_view(admin: Admin, cart_id: str) -> dict[str, Any] | None:
    """What the cart page shows (None: no such cart)."""
    store = admin.store
    cart, sends = store.load(cart_id)
    if cart is None:
        return None
    fmt = admin.fmt()
    rules = admin.service.docs.rules()
    clicks = store.clicks_for([cart_id]).get(cart_id, [])
    events = store.events_of(cart_id)
    status, status_class = views.status_of(cart)
    outcome = views.ATTRIBUTION_LABELS[attribution(cart, sends, clicks)]
    listed = store.suppression(cart.email) if cart.email else None
    return {
        "cart": cart,
        "status": status,
        "status_class": status_class,
        "status_phrase": views.status_phrase(cart),
        "outcome": outcome[0],
        "outcome_class": outcome[1],
        "tier": views.tier_of(cart, rules),
        "total": fmt.money(cart.total, cart.currency),
        "items": [
            (i, fmt.money(i.unit_price, cart.currency), fmt.money(i.line_total, cart.currency))
            for i in cart.items
        ],
        "times": [
            ("Started", fmt.when(cart.created_at)),
            ("Last activity", fmt.when(cart.abandoned_at)),
            ("Bought", fmt.when(cart.bought_at)),
            ("Closed", fmt.when(cart.closed_at)),
        ],
        "timeline": views.timeline(cart, events, sends, clicks, rules, fmt),
        "audit": views.audit_lines(store.audit(cart_id), fmt),
        "emails": views.shown_emails(admin.service, cart, sends, fmt),
        "unsubscribed": listed is not None,
        "listed_why": "" if listed is None else SOURCES.get(listed.source, f"by {listed.source}"),
        "fmt": fmt,
        "email_url": lambda step: "/admin/email?" + urlencode({"cart": cart.cart_id, "step": step}),
    }


async def cart_page(admin: Admin, request: Request) -> Response:
    cart_id = request.path_params["cart_id"]
    values = await run(cart_view, admin, cart_id)
    if values is None:
        return admin.page(
            request,
            "admin/message.html",
            404,
            nav="carts",
            title="No such cart",
            message=f"There is no cart with the id {cart_id!r}.",
        )
    return admin.page(
        request,
        "admin/cart.html",
        nav="carts",
        actions=CART_ACTIONS,
        cart_url=cart_url,
        step_name=lambda step: views.STEP_NAMES.get(step, f"Step {step}"),
        **values,
    )


async def email_html(admin: Admin, request: Request) -> Response:
    """The HTML part of a reminder, as the shopper sees it (sandboxed: nothing runs)."""
    cart_id = request.query_params.get("cart", "")
    step_text = request.query_params.get("step", "")

    def build() -> str | None:
        if step_text not in ("1", "2"):
            return None
        cart, sends = admin.store.load(cart_id)
        record = next((s for s in sends if s.step == int(step_text)), None)
        if cart is None or record is None:
            return None
        found = views.outbox_message(admin.service.mailer, record)
        if found is not None:
            return views.html_part(found.message)
        email = views.recompose(admin.service, cart, record.step, record.at)
        return None if email is None else email.html

    html = await run(build)
    if not html:
        return HTMLResponse("<p>No such email.</p>", 404, headers=EMAIL_HEADERS)
    return HTMLResponse(html, headers=EMAIL_HEADERS)


# ---- docs and privacy -------------------------------------------------------------------------


async def privacy_page(admin: Admin, request: Request) -> Response:
    """The privacy tools, and who gets no reminders and why (the unsubscribe list)."""
    fmt = admin.fmt()

    def build() -> list[dict[str, Any]]:
        return [
            {
                "when": fmt.when(s.row.at),
                "why": SOURCES.get(s.row.source, f"By {s.row.source}"),
                "source": s.row.source,
                "reason": s.row.reason or "",
                "email": s.email,
                "cart_id": s.row.cart_id,
            }
            for s in admin.service.suppressed(LIST_LIMIT)
        ]

    rows = await run(build)
    return admin.page(
        request, "admin/privacy.html", nav="privacy", suppressed=rows, cart_url=cart_url
    )
