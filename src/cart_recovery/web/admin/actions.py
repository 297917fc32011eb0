"""The owner's actions from the dashboard: a GET confirm page with the one button, the POST
that acts (suppress, write off, unsubscribe, forget), and the shopper's data export. Every
action goes through the service, which audits it."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cart_recovery.service import ActionRefused, check_address
from cart_recovery.web import owner_views as views
from cart_recovery.web.admin.context import (
    ADDRESS_ACTIONS,
    CART_ACTIONS,
    Admin,
    cart_url,
    run,
)

EXPORT_HEADERS = {
    "Content-Disposition": 'attachment; filename="shopper-data.json"',
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


async def confirm(admin: Admin, request: Request) -> Response:
    """GET shows what the action would do, with the one button that does it."""
    action = request.path_params["action"]
    cart_id = request.query_params.get("cart", "")
    email = request.query_params.get("email", "").strip()
    values: dict[str, Any] = {"action": action, "cart_id": cart_id, "email": email}
    if action in CART_ACTIONS:
        cart, _ = await run(admin.store.load, cart_id)
        if cart is None:
            return admin.page(
                request,
                "admin/message.html",
                404,
                title="No such cart",
                message=f"There is no cart with the id {cart_id!r}.",
            )
        values["cart"] = cart
        values["status"] = views.status_of(cart)[0]
        values["total"] = admin.fmt().money(cart.total, cart.currency)
    elif action in ADDRESS_ACTIONS:
        if not email:
            admin.flash(request, "Type an email address first.", "error")
            return RedirectResponse("/admin/privacy", status_code=303)
        values["linked"] = len(await run(admin.store.linked_carts, email))
    else:
        return admin.page(request, "admin/message.html", 404, title="No such action", message="")
    return admin.page(request, "admin/confirm.html", nav="", cart_url=cart_url, **values)


async def act(admin: Admin, request: Request) -> Response:
    action = request.path_params["action"]
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    now = admin.now()
    cart_id = form.get("cart")
    email = form.get("email").strip()
    back = cart_url(cart_id) if cart_id else "/admin/privacy"
    service = admin.service
    by = admin.owner(request)
    try:
        if action == "suppress":
            await run(lambda: service.suppress(cart_id, now, by=by, via="dashboard"))
            admin.flash(request, f"Cart {cart_id} is suppressed: no more reminders for it.")
        elif action == "write_off":
            await run(lambda: service.write_off(cart_id, now, by=by, via="dashboard"))
            admin.flash(request, f"Cart {cart_id} is written off.")
        elif action == "unsubscribe":
            address = check_address(email)
            done = await run(lambda: service.unsubscribe(address, now, source=by))
            admin.flash(
                request,
                f"{address} is unsubscribed from every reminder."
                if done
                else f"{address} was unsubscribed already.",
            )
        elif action == "forget":
            address = check_address(email)
            forgotten = await run(lambda: service.forget(address, now, by=by))
            n = len(forgotten.cart_ids)
            admin.flash(
                request,
                f"Forgotten: personal data erased from {n} cart{'s' if n != 1 else ''}; "
                "the address stays unsubscribed.",
            )
            back = "/admin/privacy"
        else:
            return admin.page(
                request, "admin/message.html", 404, title="No such action", message=""
            )
    except ActionRefused as e:
        admin.flash(request, str(e)[:300], "error")
        if e.code == "not_found":
            back = "/admin/"
    return RedirectResponse(back, status_code=303)


async def export_shopper(admin: Admin, request: Request) -> Response:
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    now = admin.now()
    service = admin.service
    by = admin.owner(request)
    try:
        data = await run(
            lambda: service.export_shopper(form.get("email"), now, by=by, via="dashboard")
        )
    except ActionRefused as e:
        admin.flash(request, str(e)[:300], "error")
        return RedirectResponse("/admin/privacy", status_code=303)
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return Response(body, media_type="application/json", headers=EXPORT_HEADERS)


async def dismiss_alert(admin: Admin, request: Request) -> Response:
    """POST: the alert leaves the banner (it still holds back another of its kind)."""
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    monitor = admin.service.alerts
    try:
        alert_id = int(request.path_params["alert_id"])
    except ValueError:
        alert_id = 0
    done = monitor is not None and await run(monitor.dismiss, alert_id)
    if done:
        admin.flash(request, "Alert dismissed.")
    else:
        admin.flash(request, "There is no such alert, or it was dismissed already.", "error")
    return RedirectResponse("/admin/", status_code=303)


EXPORT_TYPES = {
    "carts.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "carts.csv": "text/csv; charset=utf-8",
}


async def export_file(admin: Admin, request: Request) -> Response:
    """GET: the export's window as ``carts.xlsx`` or ``carts.csv``, in its current state, its
    action links minted for the owner who downloads it (a read: no CSRF token; the route's
    name is fixed, never a path from the request)."""
    name = request.url.path.rpartition("/")[2]
    make = admin.parts.export_file
    if make is None or name not in EXPORT_TYPES:
        return admin.page(
            request,
            "admin/message.html",
            404,
            title="No export here",
            message="This dashboard keeps no export.",
        )
    by = admin.owner(request)
    data = await run(make, name, by)
    headers = {**EXPORT_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type=EXPORT_TYPES[name], headers=headers)
