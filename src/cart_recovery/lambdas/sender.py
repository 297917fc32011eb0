"""``sender`` (EventBridge rule on ``first_reminder`` / ``second_reminder`` from source
``cart-recovery``; also the target of quiet-hours deferrals, with the same payload).

``detail`` is ``{"cart_id", "step", "due"}``. The service runs the four gates and sends at most
once (a claim first); it decides afresh, so a late, repeated or stale event sends nothing it
should not. A failure raises, so Lambda retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import EVENT_SOURCE, STEP_EVENTS, AwsApp, current_app

log = logging.getLogger("cart_recovery.lambdas.sender")


class BadInput(ValueError):
    """Not a reminder event."""


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    detail = event.get("detail")
    kind = event.get("detail-type")
    if event.get("source") != EVENT_SOURCE or kind not in STEP_EVENTS.values():
        raise BadInput(f"not a reminder event from {EVENT_SOURCE}: {kind!r}")
    cart_id = detail.get("cart_id") if isinstance(detail, Mapping) else None
    if not isinstance(cart_id, str) or not cart_id:
        raise BadInput("the reminder event has no detail.cart_id")
    app.begin()
    happened = app.send_reminder(cart_id, app.now())
    return {"cart_id": cart_id, "happened": [type(h).__name__ for h in happened]}
