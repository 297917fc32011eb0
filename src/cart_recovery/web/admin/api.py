"""The dashboard's JSON: the carts of today, this month or a search, and one cart with its
sends, clicks and audit. Reached with the session or the admin token as a bearer token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cart_recovery.web import owner_views as views
from cart_recovery.web.admin.context import LIST_LIMIT, Admin, run
from cart_recovery.web.admin.pages import period, rows_for

NO_STORE = {"Cache-Control": "no-store"}


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


async def carts(admin: Admin, request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    view = request.query_params.get("view", "today")

    def build() -> list[views.CartRow]:
        if q:
            return rows_for(admin, admin.store.search(q, 50), False)
        found = period(admin, "month" if view == "month" else "today")[1]
        return rows_for(admin, found[:LIST_LIMIT], False)

    rows = await run(build)
    return JSONResponse({"carts": [cart_json(r) for r in rows]}, headers=NO_STORE)


def cart_detail(admin: Admin, cart_id: str) -> dict[str, Any] | None:
    """One cart as JSON (None: no such cart)."""
    store = admin.store
    cart, sends = store.load(cart_id)
    if cart is None:
        return None
    [row] = rows_for(admin, [cart], False)
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
            {"at": a.at.isoformat(), "by": a.by, "action": a.action} for a in store.audit(cart_id)
        ],
    }


async def cart(admin: Admin, request: Request) -> Response:
    data = await run(cart_detail, admin, request.path_params["cart_id"])
    if data is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse(data, headers=NO_STORE)
