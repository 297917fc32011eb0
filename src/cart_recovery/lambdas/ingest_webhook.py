"""``ingest-webhook`` (Function URL): the signed generic webhook → SQS ``cr-events`` → 200.

Same checks and the same 4xx JSON errors as the embedded ``POST /webhooks/cart``: the signature
on the raw body (two secrets during a rotation), a replay window, a 256 KiB limit, the event's
shape (naming the field at fault). Accepted means enqueued; the intake applies it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import (
    AwsApp,
    QueueUnavailable,
    current_app,
    decode_event,
    verify,
)
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.lambdas.function_url import error_response, json_response, parse_request
from cart_recovery.ports import MAX_BODY, RequestError

log = logging.getLogger("cart_recovery.lambdas.ingest_webhook")


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def secrets_of(app: AwsApp) -> tuple[str, ...]:
    """The webhook secrets; 503 (the storefront retries) when Secrets Manager fails."""
    try:
        return app.webhook_secrets()
    except Exception as e:
        log.error("webhook secrets not readable", extra={"error": type(e).__name__})
        raise RequestError(503, "unavailable", "the webhook is not ready: try again") from None


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    try:
        request = parse_request(event, MAX_BODY)
        if request.method != "POST":
            raise RequestError(405, "method_not_allowed", "POST the signed cart event here")
        now = app.now()
        try:
            verify(request.headers, request.body, secrets_of(app), now)
        except RequestError as e:
            # A rotation may have happened since the secrets were read: read them again once.
            if e.code != "bad_signature" or not app.refresh_webhook_secrets():
                raise
            verify(request.headers, request.body, secrets_of(app), now)
        cart_event = validate_event(decode_event(request.body), now)
    except RequestError as e:
        return error_response(e)
    except EventError as e:
        return error_response(RequestError(400, "invalid_event", str(e), e.field))
    try:
        app.queue.send(cart_event)
    except QueueUnavailable as e:
        return error_response(RequestError(503, "unavailable", f"{e}: try again"))
    return json_response(200, {"status": "accepted", "event_id": cart_event.event_id})
