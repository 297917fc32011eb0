"""``intake`` (SQS ``cr-events``, batches of up to 10): ``service.ingest`` per record.

Records that fail are reported in ``batchItemFailures`` (the event source mapping needs
``ReportBatchItemFailures``), so only they come back; after the queue's redrive count they land
in ``cr-events-dlq``. A redelivered event that was applied already is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import AwsApp, current_app, decode_event
from cart_recovery.ports import RequestError

log = logging.getLogger("cart_recovery.lambdas.intake")


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    app.begin()
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            cart_event = decode_event(str(record["body"]).encode("utf-8", "surrogateescape"))
            accepted = app.service.ingest(cart_event, app.now())
        except RequestError as e:
            log.error(
                "queued cart event is not valid",
                extra={"message_id": message_id, "problem": str(e), "field": e.field},
            )
            failures.append({"itemIdentifier": message_id})
        except Exception as e:  # each record on its own: report it, carry on with the rest
            log.exception(
                "cart event not applied",
                extra={"message_id": message_id, "error": type(e).__name__},
            )
            failures.append({"itemIdentifier": message_id})
        else:
            log.info(
                "cart event applied" if accepted else "cart event was a redelivery",
                extra={
                    "message_id": message_id,
                    "cart_id": cart_event.cart_id,
                    "event_id": cart_event.event_id,
                },
            )
    return {"batchItemFailures": failures}
