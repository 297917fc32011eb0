"""``waiter`` (EventBridge Scheduler one-off, input ``{"cart_id": ...}``): one wake-up.

The service decides afresh (still shopping, a reminder due, give up); a due reminder is handed
to the sender as an EventBridge event, and the next wake-up is scheduled. A failure raises, so
Lambda's asynchronous retries run it again (a second run never sends twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import AwsApp, current_app


class BadInput(ValueError):
    """The schedule's input is not ``{"cart_id": "<id>"}``."""


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    cart_id = event.get("cart_id") if isinstance(event, Mapping) else None
    if not isinstance(cart_id, str) or not cart_id:
        raise BadInput('the waiter expects {"cart_id": "<id>"}')
    app.begin()
    happened = app.service.wake(cart_id, app.now())
    return {"cart_id": cart_id, "happened": [type(h).__name__ for h in happened]}
