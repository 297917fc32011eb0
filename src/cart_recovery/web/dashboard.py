"""The owner's side: the dashboard under ``/admin`` (the signed action links ``/a/<token>``
are in ``web/links.py``, served by both runtimes).

The dashboard logs in with the admin token (compared in constant time) and keeps a signed
session cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS, path ``/admin``). Every form
carries the session's CSRF token and every POST checks it. A visitor who is not logged in is
sent to the login page, or gets a JSON 401 from ``/admin/api``. Pages are rendered on the
server; no script runs, so the strict content security policy of the shopper pages applies.

Every action goes through the service, which audits it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode
from zoneinfo import ZoneInfo

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from cart_recovery.domain.calendar import day_bounds, month_bounds
from cart_recovery.domain.model import Cart, SendRecord
from cart_recovery.domain.stats import attribution
from cart_recovery.ports import RequestError
from cart_recovery.service import ActionRefused, check_address
from cart_recovery.web import owner_views as views
from cart_recovery.web.context import OwnerAccess, WebContext
from cart_recovery.web.pages import PAGE_HEADERS, read_body

SESSION_COOKIE = "cr_owner"
SESSION_MAX_AGE = 12 * 3600  # seconds: log in again after half a day
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_ATTEMPTS = 10  # failed logins per client address per window
LIST_LIMIT = 500
FORM_LIMIT = 16 * 1024
OWNER = "owner"

ADMIN_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
EMAIL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https: "
    "data:; sandbox",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
CART_ACTIONS = {"suppress": "Suppress", "write_off": "Write off"}
ADDRESS_ACTIONS = {"unsubscribe": "Unsubscribe", "forget": "Forget"}

Endpoint = Callable[[Request], Awaitable[Response]]


def session_key(signing_key: str) -> str:
    """The dashboard cookie's signing key, derived from the service's signing key."""
    return hmac.new(
        signing_key.encode("utf-8"), b"cart-recovery.dashboard-session", hashlib.sha256
    ).hexdigest()


def routes(ctx: WebContext) -> list[BaseRoute]:
    if ctx.owner is None:
        return []
    return [Mount("/admin", app=admin_app(ctx, ctx.owner))]


# ---- shared helpers ---------------------------------------------------------------------------


@dataclass
class Form:
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def read_form(request: Request) -> Form:
    """An ``application/x-www-form-urlencoded`` body (RequestError when it is not one)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise RequestError(415, "unsupported_media_type", "expected a form")
    body = await read_body(request, FORM_LIMIT)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise RequestError(400, "invalid_form", "the form could not be read") from None
    return Form({k: v[0] for k, v in parsed.items() if v})


def fmt_for(ctx: WebContext) -> views.Fmt:
    zone = ZoneInfo(ctx.service.docs.rules().store_timezone)
    return views.Fmt(zone, ctx.service.default_locale)


def render(ctx: WebContext, name: str, code: int = 200, **values: Any) -> HTMLResponse:
    html = ctx.templates.get_template(name).render(store_name=ctx.store_name(), **values)
    return HTMLResponse(html, status_code=code, headers=ADMIN_HEADERS)


def cart_url(cart_id: str) -> str:
    return "/admin/carts/" + quote(cart_id, safe="")


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


# ---- the dashboard ----------------------------------------------------------------------------


class Guard:
    """Login, the session and CSRF."""

    def __init__(self, ctx: WebContext, access: OwnerAccess) -> None:
        self.ctx = ctx
        self.access = access
        self.failures: dict[str, list[datetime]] = {}
        # The session proves a login with *this* token: changing the token logs everyone out.
        self.mark = hmac.new(
            access.session_key.encode(), b"login:" + access.admin_token.encode(), hashlib.sha256
        ).hexdigest()

    @property
    def enabled(self) -> bool:
        return bool(self.access.admin_token)

    def logged_in(self, request: Request) -> bool:
        if not self.enabled:
            return False
        mark = request.session.get("owner")
        return isinstance(mark, str) and hmac.compare_digest(mark, self.mark)

    def bearer(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not self.enabled or not header.lower().startswith("bearer "):
            return False
        return self.token_matches(header[7:].strip())

    def token_matches(self, given: str) -> bool:
        expected = self.access.admin_token.encode("utf-8")
        return bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected)

    def csrf(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str) or len(token) < 32:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def csrf_ok(self, request: Request, form: Form) -> bool:
        expected = request.session.get("csrf")
        given = form.get("csrf")
        return (
            isinstance(expected, str)
            and bool(given)
            and hmac.compare_digest(given.encode(), expected.encode())
        )

    def too_many(self, client: str, now: datetime) -> bool:
        recent = [t for t in self.failures.get(client, []) if now - t < LOGIN_WINDOW]
        self.failures[client] = recent
        return len(recent) >= LOGIN_ATTEMPTS

    def failed(self, client: str, now: datetime) -> None:
        if len(self.failures) > 10_000:  # forget addresses with no failure in the window
            self.failures = {
                c: ts for c, ts in self.failures.items() if ts and now - ts[-1] < LOGIN_WINDOW
            }
        self.failures.setdefault(client, []).append(now)

    def log_in(self, request: Request) -> None:
        request.session.clear()
        request.session["owner"] = self.mark
        request.session["csrf"] = secrets.token_urlsafe(32)


def admin_app(ctx: WebContext, access: OwnerAccess) -> Starlette:
    guard = Guard(ctx, access)
    store = ctx.service.store

    def page(request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        flash = request.session.pop("flash", None)
        return render(
            ctx,
            name,
            code,
            csrf=guard.csrf(request),
            flash=flash,
            nav=values.pop("nav", ""),
            **values,
        )

    def login_required(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if guard.logged_in(request):
                return await endpoint(request)
            path = request.url.path
            if path.startswith("/admin/api/"):
                if guard.bearer(request):
                    return await endpoint(request)
                return JSONResponse(
                    {"error": "login_required", "message": "log in to the dashboard first"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
                )
            target = path + (f"?{request.url.query}" if request.url.query else "")
            next_part = "" if target in ("/admin", "/admin/") else "?" + urlencode({"next": target})
            return RedirectResponse("/admin/login" + next_part, status_code=303)

        return guarded

    def csrf_refused(request: Request) -> HTMLResponse:
        return page(
            request,
            "admin/message.html",
            403,
            title="This form has expired",
            message="Nothing was changed. Go back, reload the page and try again.",
        )

    def flash(request: Request, text: str, kind: str = "ok") -> None:
        request.session["flash"] = {"text": text, "kind": kind}

    # ---- login -------------------------------------------------------------------------------
    async def login_page(request: Request) -> Response:
        if guard.logged_in(request):
            return RedirectResponse("/admin/", status_code=303)
        return page(
            request,
            "admin/login.html",
            enabled=guard.enabled,
            next=safe_next(request.query_params.get("next", "")),
        )

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if not guard.csrf_ok(request, form):
            return csrf_refused(request)
        client = request.client.host if request.client else "?"
        now = ctx.clock.now()
        target = safe_next(form.get("next"))
        if not guard.enabled:
            return page(request, "admin/login.html", 403, enabled=False, next=target)
        if guard.too_many(client, now):
            return page(
                request,
                "admin/login.html",
                429,
                enabled=True,
                next=target,
                error="Too many tries. Wait a quarter of an hour, then try again.",
            )
        if not guard.token_matches(form.get("token").strip()):
            guard.failed(client, now)
            return page(
                request,
                "admin/login.html",
                401,
                enabled=True,
                next=target,
                error="That token doesn't match. It's admin_token in config.toml.",
            )
        guard.log_in(request)
        return RedirectResponse(target or "/admin/", status_code=303)

    async def logout(request: Request) -> Response:
        try:
            form = await read_form(request)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if not guard.csrf_ok(request, form):
            return csrf_refused(request)
        request.session.clear()
        flash(request, "You're logged out.")
        return RedirectResponse("/admin/login", status_code=303)

    # ---- lists ---------------------------------------------------------------------------------
    def rows_for(carts: list[Cart], short_times: bool) -> list[views.CartRow]:
        ids = [c.cart_id for c in carts]
        sends: dict[str, list[SendRecord]] = {}
        for cart_id in ids:
            sends[cart_id] = store.load(cart_id)[1]
        clicks = store.clicks_for(ids)
        fmt = fmt_for(ctx)
        return views.cart_rows(
            carts, sends, clicks, ctx.service.docs.rules(), fmt, short_times=short_times
        )

    def period(view: str) -> tuple[str, list[Cart]]:
        fmt = fmt_for(ctx)
        now = fmt.local(ctx.clock.now())
        if view == "month":
            start, end = month_bounds(now.year, now.month, fmt.zone)
            label = f"{now:%B %Y}"
        else:
            start, end = day_bounds(now.date(), fmt.zone)
            label = f"Today, {now:%A} {now.day} {now:%B}"
        carts = store.carts_between(start, end)
        carts.sort(key=lambda c: (c.created_at, c.cart_id), reverse=True)
        return label, carts

    async def home(request: Request) -> Response:
        view = "month" if request.query_params.get("view") == "month" else "today"

        def build() -> tuple[str, list[views.CartRow], int]:
            label, carts = period(view)
            return label, rows_for(carts[:LIST_LIMIT], view == "today"), len(carts)

        label, rows, count = await run(build)
        return page(
            request,
            "admin/home.html",
            nav="carts",
            view=view,
            label=label,
            rows=rows,
            hidden=max(count - len(rows), 0),
            tiles=views.tiles(rows, fmt_for(ctx)),
            q="",
            cart_url=cart_url,
        )

    async def search(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()[:200]
        if not q:
            return RedirectResponse("/admin/", status_code=303)

        def build() -> list[views.CartRow]:
            return rows_for(store.search(q, 50), False)

        rows = await run(build)
        return page(
            request,
            "admin/search.html",
            nav="carts",
            q=q,
            rows=rows,
            cart_url=cart_url,
        )

    # ---- one cart ------------------------------------------------------------------------------
    def cart_view(cart_id: str) -> dict[str, Any] | None:
        cart, sends = store.load(cart_id)
        if cart is None:
            return None
        fmt = fmt_for(ctx)
        rules = ctx.service.docs.rules()
        clicks = store.clicks_for([cart_id]).get(cart_id, [])
        events = store.events_of(cart_id)
        status, status_class = views.status_of(cart)
        outcome = views.ATTRIBUTION_LABELS[attribution(cart, sends, clicks)]
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
            "emails": views.shown_emails(ctx.service, cart, sends, fmt),
            "unsubscribed": bool(cart.email) and store.is_unsubscribed(cart.email or ""),
            "fmt": fmt,
            "email_url": lambda step: (
                "/admin/email?" + urlencode({"cart": cart.cart_id, "step": step})
            ),
        }

    async def cart_page(request: Request) -> Response:
        cart_id = request.path_params["cart_id"]
        values = await run(cart_view, cart_id)
        if values is None:
            return page(
                request,
                "admin/message.html",
                404,
                nav="carts",
                title="No such cart",
                message=f"There is no cart with the id {cart_id!r}.",
            )
        return page(
            request,
            "admin/cart.html",
            nav="carts",
            actions=CART_ACTIONS,
            cart_url=cart_url,
            step_name=lambda step: views.STEP_NAMES.get(step, f"Step {step}"),
            **values,
        )

    async def email_html(request: Request) -> Response:
        """The HTML part of a reminder, as the shopper sees it (sandboxed: nothing runs)."""
        cart_id = request.query_params.get("cart", "")
        step_text = request.query_params.get("step", "")

        def build() -> str | None:
            if step_text not in ("1", "2"):
                return None
            cart, sends = store.load(cart_id)
            record = next((s for s in sends if s.step == int(step_text)), None)
            if cart is None or record is None:
                return None
            found = views.outbox_message(ctx.service.mailer, record)
            if found is not None:
                return views.html_part(found.message)
            email = views.recompose(ctx.service, cart, record.step, record.at)
            return None if email is None else email.html

        html = await run(build)
        if not html:
            return HTMLResponse("<p>No such email.</p>", 404, headers=EMAIL_HEADERS)
        return HTMLResponse(html, headers=EMAIL_HEADERS)

    # ---- actions -------------------------------------------------------------------------------
    async def confirm(request: Request) -> Response:
        """GET shows what the action would do, with the one button that does it."""
        action = request.path_params["action"]
        cart_id = request.query_params.get("cart", "")
        email = request.query_params.get("email", "").strip()
        values: dict[str, Any] = {"action": action, "cart_id": cart_id, "email": email}
        if action in CART_ACTIONS:
            cart, _ = await run(store.load, cart_id)
            if cart is None:
                return page(
                    request,
                    "admin/message.html",
                    404,
                    title="No such cart",
                    message=f"There is no cart with the id {cart_id!r}.",
                )
            values["cart"] = cart
            values["status"] = views.status_of(cart)[0]
            values["total"] = fmt_for(ctx).money(cart.total, cart.currency)
        elif action in ADDRESS_ACTIONS:
            if not email:
                flash(request, "Type an email address first.", "error")
                return RedirectResponse("/admin/privacy", status_code=303)
            values["linked"] = len(await run(store.linked_carts, email))
        else:
            return page(request, "admin/message.html", 404, title="No such action", message="")
        return page(request, "admin/confirm.html", nav="", cart_url=cart_url, **values)

    async def act(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            form = await read_form(request)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if not guard.csrf_ok(request, form):
            return csrf_refused(request)
        now = ctx.clock.now()
        cart_id = form.get("cart")
        email = form.get("email").strip()
        back = cart_url(cart_id) if cart_id else "/admin/privacy"
        service = ctx.service
        try:
            if action == "suppress":
                await run(lambda: service.suppress(cart_id, now, by=OWNER, via="dashboard"))
                flash(request, f"Cart {cart_id} is suppressed: no more reminders for it.")
            elif action == "write_off":
                await run(lambda: service.write_off(cart_id, now, by=OWNER, via="dashboard"))
                flash(request, f"Cart {cart_id} is written off.")
            elif action == "unsubscribe":
                address = check_address(email)
                done = await run(lambda: service.unsubscribe(address, now, source=OWNER))
                flash(
                    request,
                    f"{address} is unsubscribed from every reminder."
                    if done
                    else f"{address} was unsubscribed already.",
                )
            elif action == "forget":
                address = check_address(email)
                forgotten = await run(lambda: service.forget(address, now, by=OWNER))
                n = len(forgotten.cart_ids)
                flash(
                    request,
                    f"Forgotten: personal data erased from {n} cart{'s' if n != 1 else ''}; "
                    "the address stays unsubscribed.",
                )
                back = "/admin/privacy"
            else:
                return page(request, "admin/message.html", 404, title="No such action", message="")
        except ActionRefused as e:
            flash(request, str(e)[:300], "error")
            if e.code == "not_found":
                back = "/admin/"
        return RedirectResponse(back, status_code=303)

    # ---- docs and privacy ------------------------------------------------------------------
    async def docs_page(request: Request) -> Response:
        wanted = request.query_params.get("at", "19:30")
        try:
            at = time.fromisoformat(wanted) if len(wanted) == 5 else time(19, 30)
        except ValueError:
            at = time(19, 30)

        def build() -> views.DocsPage:
            page_ = views.docs_page(ctx.service, at)
            zone = ZoneInfo(ctx.service.docs.rules().store_timezone)
            start = views.sample_day(ctx.clock.now(), zone, at)
            return views.with_preview(page_, ctx.service, start)

        docs = await run(build)
        return page(
            request,
            "admin/docs.html",
            nav="docs",
            docs=docs,
            at=f"{at:%H:%M}",
            fmt=fmt_for(ctx),
            step_names=views.STEP_NAMES,
        )

    async def privacy_page(request: Request) -> Response:
        return page(request, "admin/privacy.html", nav="privacy")

    async def export_shopper(request: Request) -> Response:
        try:
            form = await read_form(request)
        except RequestError as e:
            return JSONResponse(e.body(), status_code=e.status)
        if not guard.csrf_ok(request, form):
            return csrf_refused(request)
        now = ctx.clock.now()
        try:
            data = await run(
                lambda: ctx.service.export_shopper(
                    form.get("email"), now, by=OWNER, via="dashboard"
                )
            )
        except ActionRefused as e:
            flash(request, str(e)[:300], "error")
            return RedirectResponse("/admin/privacy", status_code=303)
        body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return Response(
            body,
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="shopper-data.json"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    # ---- JSON ----------------------------------------------------------------------------------
    def cart_json(row: views.CartRow) -> dict[str, Any]:
        cart = row.cart
        return {
            "cart_id": cart.cart_id,
            "email": cart.email,
            "created_at": cart.created_at.isoformat(),
            "total": str(cart.total),
            "currency": cart.currency,
            "status": str(cart.status),
            "close_reason": None if cart.close_reason is None else str(cart.close_reason),
            "size": row.tier,
            "reminders_sent": row.sent,
            "attribution": str(row.attribution),
        }

    async def api_carts(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()[:200]
        view = request.query_params.get("view", "today")

        def build() -> list[views.CartRow]:
            if q:
                return rows_for(store.search(q, 50), False)
            return rows_for(period("month" if view == "month" else "today")[1][:LIST_LIMIT], False)

        rows = await run(build)
        return JSONResponse(
            {"carts": [cart_json(r) for r in rows]}, headers={"Cache-Control": "no-store"}
        )

    async def api_cart(request: Request) -> Response:
        cart_id = request.path_params["cart_id"]

        def build() -> dict[str, Any] | None:
            cart, sends = store.load(cart_id)
            if cart is None:
                return None
            [row] = rows_for([cart], False)
            clicks = store.clicks_for([cart_id]).get(cart_id, [])
            return {
                **cart_json(row),
                "sends": [
                    {
                        "step": s.step,
                        "outcome": str(s.outcome),
                        "at": s.at.isoformat(),
                        "reason": s.reason,
                    }
                    for s in sends
                ],
                "clicks": [{"step": step, "at": at.isoformat()} for step, at in clicks],
                "audit": [
                    {"at": a.at.isoformat(), "by": a.by, "action": a.action}
                    for a in store.audit(cart_id)
                ],
            }

        data = await run(build)
        if data is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    admin_routes: list[BaseRoute] = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", login_required(home), methods=["GET"]),
        Route("/search", login_required(search), methods=["GET"]),
        Route("/carts/{cart_id:path}", login_required(cart_page), methods=["GET"]),
        Route("/email", login_required(email_html), methods=["GET"]),
        Route("/confirm/{action}", login_required(confirm), methods=["GET"]),
        Route("/actions/{action}", login_required(act), methods=["POST"]),
        Route("/docs", login_required(docs_page), methods=["GET"]),
        Route("/privacy", login_required(privacy_page), methods=["GET"]),
        Route("/privacy/export", login_required(export_shopper), methods=["POST"]),
        Route("/api/carts", login_required(api_carts), methods=["GET"]),
        Route("/api/carts/{cart_id:path}", login_required(api_cart), methods=["GET"]),
    ]
    return Starlette(
        routes=admin_routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=access.session_key,
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE,
                path="/admin",
                same_site="lax",
                https_only=access.https_only,
            )
        ],
    )


def safe_next(target: str) -> str:
    """Only a dashboard path: never an open redirect after login."""
    if target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


__all__ = ["admin_app", "routes", "session_key"]
