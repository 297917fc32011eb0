"""The mail providers' bounce and complaint webhooks: ``POST /webhooks/mail-events/<provider>``.

The storefront webhooks' flow (``web/webhooks.py``): read the body (size-limited), have the
provider check its signature on the raw bytes (``adapters/mail_events/``), read its reports
into ``MailFeedback``, then ``Service.mail_feedback`` for each, off the event loop, and answer
2xx after. A refused request (4xx) stores nothing: every report of a delivery is read before
the first is applied. A provider whose secret is not configured answers 404, as the other
optional webhooks do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cart_recovery.ports import MailEvents, RequestError
from cart_recovery.service import Service
from cart_recovery.web.context import WebContext
from cart_recovery.web.pages import read_body

log = logging.getLogger("cart_recovery.web.mail_events")

PATH = "/webhooks/mail-events/{provider}"

# The setting that turns each provider's webhook on.
SETTING = {
    "ses": "sns_topic_arns",
    "postmark": "postmark_webhook_users",
    "sendgrid": "sendgrid_webhook_public_key",
    "mailgun": "mailgun_webhook_signing_key",
}


def deliver(
    service: Service,
    provider: MailEvents,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> dict[str, str | int]:
    """Verify, read and apply one delivery (blocking: run it in a worker thread); the JSON
    answer. Raises RequestError, having applied nothing, when the delivery is refused."""
    provider.verify(headers, body, now)
    reported = provider.read(headers, body, now)
    if not reported.feedback:
        return {"status": "ignored", "reason": reported.ignored or ""}
    heard: dict[str, int] = {}
    for feedback in reported.feedback:
        outcome = str(service.mail_feedback(feedback, now))
        heard[outcome] = heard.get(outcome, 0) + 1
    return {"status": "accepted", **heard}


def _answer(err: RequestError) -> Response:
    return JSONResponse(err.body(), status_code=err.status)


def routes(ctx: WebContext) -> list[BaseRoute]:
    async def receive(request: Request) -> Response:
        name = request.path_params["provider"]
        if name not in SETTING:
            known = ", ".join(SETTING)
            return _answer(RequestError(404, "unknown_provider", f"no provider {name!r} ({known})"))
        provider = ctx.mail_events.get(name)
        if provider is None:
            return _answer(
                RequestError(
                    404,
                    "not_configured",
                    f"the {name} webhook is not enabled: set '{SETTING[name]}' in the config",
                )
            )
        try:
            body = await read_body(request)
            now = ctx.clock.now()
            answer = await anyio.to_thread.run_sync(
                deliver, ctx.service, provider, request.headers, body, now
            )
        except RequestError as e:
            log.info("mail events refused", extra={"provider": name, "code": e.code})
            return _answer(e)
        return JSONResponse(answer)

    return [Route(PATH, receive, methods=["POST"], name="mail_events")]
