"""``unsub-handler`` (Function URL; ``CR_BASE_URL`` points here): the links in emails and exports.

* ``GET /u/<token>``: a page with one confirm button (never changes anything: mail scanners
  prefetch links). ``POST /u/<token>``: the button, or the RFC 8058 one-click request
  (``List-Unsubscribe=One-Click``) → ``service.unsubscribe``.
* ``GET /r/<token>``: the tracked return link → 303 to that cart's stored return URL only.
* ``GET /a/<token>``: an owner's signed, expiring action link (suppress, write off,
  unsubscribe) shows what it would do; ``POST`` does it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cart_recovery.adapters.links import BadToken
from cart_recovery.adapters.storefronts.base import RequestError
from cart_recovery.bootstrap.aws import AwsApp, current_app
from cart_recovery.lambdas.function_url import (
    HttpRequest,
    error_response,
    html_response,
    json_response,
    parse_request,
    redirect_response,
)
from cart_recovery.service import ActionRefused

log = logging.getLogger("cart_recovery.lambdas.unsub_handler")

MAX_BODY = 8 * 1024
OWNER = "owner"
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
ONE_CLICK = b"List-Unsubscribe=One-Click"
_ROUTE = re.compile(r"^/(?P<kind>[ura])/(?P<token>[A-Za-z0-9_.\-]{1,2048})/?$")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)

ACTION_PAGE = _env.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · {{ store_name }}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}
button{font:inherit;padding:.6rem 1.2rem}</style></head>
<body><main><h1>{{ title }}</h1><p>{{ message }}</p>
{% if post_to %}<form method="post" action="{{ post_to }}">
<button type="submit">{{ button }}</button></form>{% endif %}
</main></body></html>
"""
)

_WHAT = {
    "suppress": ("Suppress cart {target}?", "Stop reminders for this one cart.", "Suppress"),
    "write_off": (
        "Write off cart {target}?",
        "Close this cart as written off (counted apart in the summary).",
        "Write off",
    ),
    "unsubscribe": (
        "Unsubscribe {target}?",
        "Stop every reminder to this address, for good.",
        "Unsubscribe",
    ),
}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    try:
        request = parse_request(event, MAX_BODY)
    except RequestError as e:
        return error_response(e)
    match = _ROUTE.match(request.path)
    if match is None:
        return json_response(404, {"error": "not_found"})
    kind, token = match.group("kind"), match.group("token")
    routes: dict[tuple[str, str], Callable[[AwsApp, HttpRequest, str], dict[str, Any]]] = {
        ("u", "GET"): unsubscribe_page,
        ("u", "POST"): unsubscribe,
        ("r", "GET"): return_link,
        ("a", "GET"): action_page,
        ("a", "POST"): action,
    }
    route = routes.get((kind, request.method))
    if route is None:
        return json_response(405, {"error": "method_not_allowed"})
    app.begin()
    return route(app, request, token)


def _page(app: AwsApp, status: int = 200, **values: Any) -> dict[str, Any]:
    html = _env.get_template("unsubscribe.html").render(
        store_name=app.docs.voice().store_name, **values
    )
    return html_response(status, html, PAGE_HEADERS)


def _email_of(app: AwsApp, token: str) -> str | None:
    try:
        return app.tokens.read_unsubscribe(token)
    except BadToken:
        return None


def unsubscribe_page(app: AwsApp, request: HttpRequest, token: str) -> dict[str, Any]:
    if _email_of(app, token) is None:
        return _page(app, 404, state="invalid")
    return _page(app, state="confirm", action=f"/u/{token}")


def unsubscribe(app: AwsApp, request: HttpRequest, token: str) -> dict[str, Any]:
    one_click = ONE_CLICK in request.body
    email = _email_of(app, token)
    if email is None:
        if one_click:
            return json_response(404, {"error": "invalid_token"})
        return _page(app, 404, state="invalid")
    app.service.unsubscribe(email, app.now(), source="shopper")
    if one_click:
        return json_response(200, {"status": "unsubscribed"})
    return _page(app, state="done")


def return_link(app: AwsApp, request: HttpRequest, token: str) -> dict[str, Any]:
    """Only ever to the cart's stored return URL: never to a URL taken from the request."""
    try:
        cart_id, step = app.tokens.read_return_link(token)
    except BadToken:
        return _page(app, 404, state="invalid_link")
    cart, _ = app.store.load(cart_id)
    if cart is None or not cart.return_url:
        return _page(app, 404, state="invalid_link")
    record_click = getattr(app.store, "record_click", None)
    if callable(record_click):
        record_click(cart_id, step, app.now())
    return redirect_response(cart.return_url)


def _action_of(app: AwsApp, token: str) -> tuple[str, str] | dict[str, Any]:
    try:
        return app.tokens.read_action(token, now=app.now().timestamp())
    except BadToken as e:
        expired = "expired" in str(e)
        return _action_html(
            app,
            403 if expired else 404,
            "This link has expired" if expired else "This link doesn't work",
            "Open a newer export for a fresh link." if expired else "It may be incomplete.",
        )


def _action_html(
    app: AwsApp, status: int, title: str, message: str, post_to: str = "", button: str = ""
) -> dict[str, Any]:
    html = ACTION_PAGE.render(
        store_name=app.docs.voice().store_name,
        title=title,
        message=message,
        post_to=post_to,
        button=button,
    )
    return html_response(status, html, PAGE_HEADERS)


def action_page(app: AwsApp, request: HttpRequest, token: str) -> dict[str, Any]:
    """GET never changes anything: it shows what the button would do."""
    found = _action_of(app, token)
    if isinstance(found, dict):
        return found
    action, target = found
    title, message, button = _WHAT[action]
    if action != "unsubscribe":
        cart, _ = app.store.load(target)
        if cart is None or not cart.is_open:
            state = "unknown" if cart is None else str(cart.status)
            return _action_html(
                app, 409, f"Cart {target}", f"Nothing to do: the cart is {state} already."
            )
    return _action_html(
        app, 200, title.format(target=target), message, post_to=f"/a/{token}", button=button
    )


def action(app: AwsApp, request: HttpRequest, token: str) -> dict[str, Any]:
    found = _action_of(app, token)
    if isinstance(found, dict):
        return found
    action, target = found
    now = app.now()
    try:
        if action == "suppress":
            app.service.suppress(target, now, by=OWNER, via="action link")
        elif action == "write_off":
            app.service.write_off(target, now, by=OWNER, via="action link")
        else:
            app.service.unsubscribe(target, now, source=OWNER)
    except ActionRefused as e:
        return _action_html(app, 409, "Nothing done", str(e))
    log.info("owner action done", extra={"action": action})
    return _action_html(app, 200, "Done", f"{_WHAT[action][2]}: done.")
