"""``mail-feedback`` (SNS ``cr-mail-feedback``, where the configuration set ``cr-sends-config``
publishes its bounce and complaint events): each recipient's report goes to
``Service.mail_feedback``, which suppresses the address for a hard bounce or a complaint and
counts a soft bounce (three within 30 days suppress).

A record that is not an SES bounce or complaint (or not SNS at all) is logged, without any
address, and skipped: sending it again would not make it readable. A failure to write (DynamoDB
unavailable) is logged as an error (counted for the ``cr-log-errors`` alarm) and raised, so
Lambda's asynchronous retries deliver the message again; a hard bounce or a complaint applied
twice is applied once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import (
    AwsApp,
    SesEventError,
    current_app,
    decode_message,
    feedback_of,
    sns_message,
)

log = logging.getLogger("cart_recovery.lambdas.mail_feedback")

OUTCOMES = ("suppressed", "already", "counted", "skipped")


def handler(event: Mapping[str, Any], context: object) -> dict[str, int]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, int]:
    now = app.now()
    heard: Counter[str] = Counter()
    records = event.get("Records") if isinstance(event, Mapping) else None
    for record in records if isinstance(records, list) else []:
        message_id = ""
        try:
            message = sns_message(record)
            message_id = message.message_id
            reports = feedback_of(decode_message(message.text))
        except SesEventError as e:
            log.warning(
                "mail feedback skipped: not an SES bounce or complaint",
                extra={"message_id": message_id, "problem": str(e)},
            )
            heard["skipped"] += 1
            continue
        for feedback in reports:
            try:
                outcome = app.service.mail_feedback(feedback, now)
            except Exception as e:  # counted by the LogErrors filter (cr-log-errors)
                log.error(
                    "mail feedback not applied: the delivery is retried",
                    extra={
                        "message_id": message_id,
                        "kind": str(feedback.kind),
                        "error": type(e).__name__,
                    },
                )
                raise
            heard[str(outcome)] += 1
    return {k: heard.get(k, 0) for k in OUTCOMES}
