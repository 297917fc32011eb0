"""The dashboard's door: the login (an owner's email and password or personal token; the admin
token while no owner is named), the signed session cookie that carries only a session id, CSRF
on every form, and the lockout after too many failed logins.

What the door decides is ``service.owners.OwnerLogins`` over the ``OwnerAccounts`` port: every
request reads its session from the store (nothing is cached here), so a session revoked by
logging out everywhere or by removing the owner ends on its next request, in every process."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from urllib.parse import urlencode

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cart_recovery.domain.owners import SESSION_AGE, UNNAMED
from cart_recovery.ports import OwnerAccounts
from cart_recovery.service.owners import Login, OwnerLogins, Refusal
from cart_recovery.web.admin.context import Admin, Endpoint, Form, run
from cart_recovery.web.context import OwnerAccess

SESSION_COOKIE = "cr_owner"
SESSION_MAX_AGE = int(SESSION_AGE.total_seconds())  # log in again after half a day


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
    """Login, the session and CSRF, over the owners' accounts and the clock."""

    def __init__(
        self,
        access: OwnerAccess,
        accounts: Callable[[], OwnerAccounts],
        now: Callable[[], datetime],
    ) -> None:
        self.access = access
        self._accounts = accounts
        self.now = now
        # The unnamed owner's session also proves a login with *this* admin token: changing
        # the token logs them out.
        self.mark = hmac.new(
            access.session_key.encode(), b"login:" + access.admin_token.encode(), hashlib.sha256
        ).hexdigest()

    @cached_property
    def logins(self) -> OwnerLogins:
        return OwnerLogins(self._accounts(), self.access.admin_token)

    def _current(self, session_id: object, mark: object) -> str | None:
        if not isinstance(session_id, str):
            return None
        found = self.logins.session(session_id, self.now())
        if found is None:
            return None
        if found.owner == UNNAMED and not (
            isinstance(mark, str) and hmac.compare_digest(mark, self.mark)
        ):
            return None
        return found.owner

    async def owner(self, request: Request) -> str | None:
        """Who this request's session is (read from the store now), or None."""
        who: str | None = await run(
            self._current, request.session.get("sid"), request.session.get("mark")
        )
        return who

    async def bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        who: str | None = await run(self.logins.token_owner, header[7:].strip())
        return who

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

    def log_in(self, request: Request, login: Login) -> None:
        request.session.clear()
        request.session["sid"] = login.session_id
        if login.owner == UNNAMED:
            request.session["mark"] = self.mark
        request.session["csrf"] = secrets.token_urlsafe(32)


def login_required(admin: Admin, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` for a logged-in owner (or, under ``/admin/api/``, an owner's personal token,
    or the admin token while no owner is named, as a bearer token); others are sent to the
    login page, or get a JSON 401 from the API. The owner's name is ``request.state.owner``."""
    guard = admin.guard

    async def guarded(request: Request) -> Response:
        who = await guard.owner(request)
        path = request.url.path
        if who is None and path.startswith("/admin/api/"):
            who = await guard.bearer(request)
            if who is None:
                return JSONResponse(
                    {"error": "login_required", "message": "log in to the dashboard first"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
                )
        if who is not None:
            request.state.owner = who
            return await endpoint(request)
        target = path + (f"?{request.url.query}" if request.url.query else "")
        next_part = "" if target in ("/admin", "/admin/") else "?" + urlencode({"next": target})
        return RedirectResponse("/admin/login" + next_part, status_code=303)

    return guarded


# ---- endpoints --------------------------------------------------------------------------------

REFUSED = {
    Refusal.LOCKED: (429, "Too many tries. Wait a quarter of an hour, then try again."),
    Refusal.USE_EMAIL: (
        401,
        "The admin token no longer logs in: owners are named now. "
        "Log in with your email and password, or your personal token.",
    ),
}


async def _login_values(admin: Admin) -> dict[str, bool]:
    logins = admin.guard.logins
    named = await run(logins.named)
    return {"enabled": named or bool(admin.access.admin_token), "named": named}


async def login_page(admin: Admin, request: Request) -> Response:
    if await admin.guard.owner(request) is not None:
        return RedirectResponse("/admin/", status_code=303)
    return admin.page(
        request,
        "admin/login.html",
        next=safe_next(request.query_params.get("next", "")),
        **await _login_values(admin),
    )


async def login(admin: Admin, request: Request) -> Response:
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    guard = admin.guard
    client = request.client.host if request.client else "?"
    now = admin.now()
    target = safe_next(form.get("next"))
    values = await _login_values(admin)
    if not values["enabled"]:
        return admin.page(request, "admin/login.html", 403, next=target, **values)
    email = form.get("email").strip()
    if email:
        done = await run(guard.logins.with_password, email, form.get("password"), client, now)
        wrong = "That email and password don't match."
    else:
        done = await run(guard.logins.with_token, form.get("token").strip(), client, now)
        wrong = (
            "That token doesn't match."
            if values["named"]
            else "That token doesn't match. It's admin_token in config.toml."
        )
    if done.refused is not None:
        code, error = REFUSED.get(done.refused, (401, wrong))
        return admin.page(
            request, "admin/login.html", code, next=target, error=error, email=email, **values
        )
    guard.log_in(request, done)
    return RedirectResponse(target or "/admin/", status_code=303)


async def logout(admin: Admin, request: Request) -> Response:
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        await run(admin.guard.logins.log_out, session_id)
    request.session.clear()
    admin.flash(request, "You're logged out.")
    return RedirectResponse("/admin/login", status_code=303)


async def logout_everywhere(admin: Admin, request: Request) -> Response:
    """Every session of the logged-in owner ends: this browser's and every other."""
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    await run(admin.guard.logins.log_out_everywhere, admin.owner(request))
    request.session.clear()
    admin.flash(request, "You're logged out everywhere: every session of yours has ended.")
    return RedirectResponse("/admin/login", status_code=303)
