"""The dashboard's door: the login with the admin token (compared in constant time), the signed
session cookie, CSRF on every form, and the lockout after too many failed logins."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cart_recovery.web.admin.context import Admin, Endpoint, Form
from cart_recovery.web.context import OwnerAccess

SESSION_COOKIE = "cr_owner"
SESSION_MAX_AGE = 12 * 3600  # seconds: log in again after half a day
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_ATTEMPTS = 10  # failed logins per client address per window


def session_key(signing_key: str) -> str:
    """The dashboard cookie's signing key, derived from the service's signing key."""
    return hmac.new(
        signing_key.encode("utf-8"), b"cart-recovery.dashboard-session", hashlib.sha256
    ).hexdigest()


def session_middleware(access: OwnerAccess) -> Middleware:
    """The signed session cookie: HttpOnly, SameSite=Lax, Secure behind HTTPS, path ``/admin``."""
    return Middleware(
        SessionMiddleware,
        secret_key=access.session_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        path="/admin",
        same_site="lax",
        https_only=access.https_only,
    )


def safe_next(target: str) -> str:
    """Only a dashboard path: never an open redirect after login."""
    if target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


class Guard:
    """Login, the session and CSRF."""

    def __init__(self, access: OwnerAccess) -> None:
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


def login_required(admin: Admin, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` for a logged-in owner (or, under ``/admin/api/``, the admin token as a
    bearer token); others are sent to the login page, or get a JSON 401 from the API."""
    guard = admin.guard

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


# ---- endpoints --------------------------------------------------------------------------------


async def login_page(admin: Admin, request: Request) -> Response:
    if admin.guard.logged_in(request):
        return RedirectResponse("/admin/", status_code=303)
    return admin.page(
        request,
        "admin/login.html",
        enabled=admin.guard.enabled,
        next=safe_next(request.query_params.get("next", "")),
    )


async def login(admin: Admin, request: Request) -> Response:
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    guard = admin.guard
    client = request.client.host if request.client else "?"
    now = admin.now()
    target = safe_next(form.get("next"))
    if not guard.enabled:
        return admin.page(request, "admin/login.html", 403, enabled=False, next=target)
    if guard.too_many(client, now):
        return admin.page(
            request,
            "admin/login.html",
            429,
            enabled=True,
            next=target,
            error="Too many tries. Wait a quarter of an hour, then try again.",
        )
    if not guard.token_matches(form.get("token").strip()):
        guard.failed(client, now)
        return admin.page(
            request,
            "admin/login.html",
            401,
            enabled=True,
            next=target,
            error="That token doesn't match. It's admin_token in config.toml.",
        )
    guard.log_in(request)
    return RedirectResponse(target or "/admin/", status_code=303)


async def logout(admin: Admin, request: Request) -> Response:
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    request.session.clear()
    admin.flash(request, "You're logged out.")
    return RedirectResponse("/admin/login", status_code=303)
