"""The owner's dashboard under ``/admin``: a router built from a small set of parts
(``AdminParts``), like the link pages (the signed action links ``/a/<token>`` are in
``web/links.py``, served by both runtimes).

The dashboard logs in a named owner (email and password, or a personal token; the admin token,
compared in constant time, while no owner is named) and keeps a signed session cookie that
carries only a session id, checked against the store on every request (HttpOnly,
SameSite=Lax, Secure behind HTTPS, path ``/admin``). Every form
carries the session's CSRF token and every POST checks it. A visitor who is not logged in is
sent to the login page, or gets a JSON 401 from ``/admin/api``. Pages are rendered on the
server; no script runs, so the strict content security policy of the shopper pages applies.

* ``auth``: login, logout (here or everywhere), the session cookie, CSRF and the lockout;
* ``pages``: the carts (today, this month, search, one cart, a reminder's HTML), docs, privacy;
* ``doc_edits``: the Rules & voice page, its editor (check, save), each doc's history, restore;
* ``actions``: confirm and act (suppress, write off, unsubscribe, forget), the data export,
  the nightly export's files (``/admin/exports/carts.xlsx`` and ``.csv``),
  dismissing an alert of the banner (the owner's alerts, on the carts page);
* ``owners``: the Owners page: who logs in (never a hash), adding an owner (a password typed
  twice, or a personal token shown once), removing one after a confirmation;
* ``api``: the JSON endpoints.

Every action goes through the service, which audits it under the logged-in owner's name;
a change to the owners is a log line naming them (``service.owners``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from cart_recovery.web.admin import actions, api, auth, doc_edits, owners, pages
from cart_recovery.web.admin.auth import Guard, safe_next, session_key
from cart_recovery.web.admin.context import Admin, AdminParts, Endpoint

Handler = Callable[[Admin, Request], Awaitable[Response]]


def routes(parts: AdminParts | None) -> list[BaseRoute]:
    """``/admin`` (nothing when the runtime has no dashboard)."""
    if parts is None:
        return []
    return [Mount("/admin", app=admin_app(parts))]


def admin_app(parts: AdminParts) -> Starlette:
    admin = Admin(parts, Guard(parts.access, parts.accounts, parts.now))

    def open_(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return await handler(admin, request)

        return endpoint

    def owner(handler: Handler) -> Endpoint:
        return auth.login_required(admin, open_(handler))

    admin_routes: list[BaseRoute] = [
        Route("/login", open_(auth.login_page), methods=["GET"]),
        Route("/login", open_(auth.login), methods=["POST"]),
        Route("/logout", open_(auth.logout), methods=["POST"]),
        Route("/logout-everywhere", owner(auth.logout_everywhere), methods=["POST"]),
        Route("/", owner(pages.home), methods=["GET"]),
        Route("/search", owner(pages.search), methods=["GET"]),
        Route("/carts/{cart_id:path}", owner(pages.cart_page), methods=["GET"]),
        Route("/email", owner(pages.email_html), methods=["GET"]),
        Route("/confirm/{action}", owner(actions.confirm), methods=["GET"]),
        Route("/actions/{action}", owner(actions.act), methods=["POST"]),
        Route("/alerts/{alert_id}/dismiss", owner(actions.dismiss_alert), methods=["POST"]),
        Route("/docs", owner(doc_edits.docs_page), methods=["GET"]),
        Route("/docs/{doc}/check", owner(doc_edits.check), methods=["POST"]),
        Route("/docs/{doc}/save", owner(doc_edits.save), methods=["POST"]),
        Route("/docs/{doc}/history", owner(doc_edits.history), methods=["GET"]),
        Route("/docs/{doc}/restore", owner(doc_edits.restore), methods=["POST"]),
        Route("/privacy", owner(pages.privacy_page), methods=["GET"]),
        Route("/privacy/export", owner(actions.export_shopper), methods=["POST"]),
        Route("/owners", owner(owners.owners_page), methods=["GET"]),
        Route("/owners/add", owner(owners.add_owner), methods=["POST"]),
        Route("/owners/remove", owner(owners.confirm_remove), methods=["GET"]),
        Route("/owners/remove", owner(owners.remove_owner), methods=["POST"]),
        Route("/exports/carts.xlsx", owner(actions.export_file), methods=["GET"]),
        Route("/exports/carts.csv", owner(actions.export_file), methods=["GET"]),
        Route("/api/carts", owner(api.carts), methods=["GET"]),
        Route("/api/carts/{cart_id:path}", owner(api.cart), methods=["GET"]),
    ]
    return Starlette(routes=admin_routes, middleware=[auth.session_middleware(parts.access)])


__all__ = ["AdminParts", "admin_app", "routes", "safe_next", "session_key"]
