"""Messages between the AWS functions, and out to shoppers.

* ``EventQueue``: the webhook's accepted cart events onto SQS ``cr-events`` (the intake reads
  them in batches; failures go to ``cr-events-dlq`` after the queue's redrive count).
* ``EventBridgeHandOff``: the waiter's hand-off of a due step to the sender, as a
  ``first_reminder`` / ``second_reminder`` event on the default bus (source ``cart-recovery``).
* ``SesMailer``: the ``Mailer`` port over SES ``SendRawEmail`` with a configuration set.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import msgspec

from cart_recovery.adapters.aws.errors import client_error_type, error_code, transport_error_types
from cart_recovery.adapters.aws.scheduler import EVENT_SOURCE, reminder_event
from cart_recovery.adapters.mail.envelope import Message, written
from cart_recovery.domain.model import CartEvent
from cart_recovery.ports import MailError

log = logging.getLogger("cart_recovery.aws.messaging")

_event_encoder = msgspec.json.Encoder(decimal_format="string")


class QueueUnavailable(RuntimeError):
    """SQS did not take the event: the webhook answers 503 so the storefront retries."""


class HandOffFailed(RuntimeError):
    """EventBridge did not take the reminder event: the waiter fails and Lambda retries it."""


class EventQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    @staticmethod
    def body(event: CartEvent) -> str:
        """The message body: the validated event as compact JSON (money as exact text)."""
        return _event_encoder.encode(event).decode()

    def send(self, event: CartEvent) -> str:
        """Enqueue one event; returns the SQS message id. Raises QueueUnavailable."""
        try:
            answer = self._client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=self.body(event),
                MessageAttributes={
                    "cart_id": {"DataType": "String", "StringValue": event.cart_id},
                    "event_id": {"DataType": "String", "StringValue": event.event_id},
                    "type": {"DataType": "String", "StringValue": event.type},
                },
            )
        except (client_error_type(), *transport_error_types()) as e:
            log.error(
                "cart event not enqueued",
                extra={"cart_id": event.cart_id, "error": error_code(e) or type(e).__name__},
            )
            raise QueueUnavailable("the event queue is unavailable") from None
        return str(answer["MessageId"])


class EventBridgeHandOff:
    """``Service.hand_off``: ``(cart_id, step, due)`` → one event on the bus."""

    def __init__(self, client: Any, bus: str = "default") -> None:
        self._client = client
        self.bus = bus

    def __call__(self, cart_id: str, step: int, due: datetime) -> None:
        event = reminder_event(cart_id, step, due)
        answer = self._client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"], separators=(",", ":")),
                    "EventBusName": self.bus,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entry = (answer.get("Entries") or [{}])[0]
            raise HandOffFailed(
                f"EventBridge refused the {event['detail-type']} event for cart {cart_id}: "
                f"{entry.get('ErrorCode', 'unknown error')}"
            )


class SesMailer:
    """Sends each message as it is (headers, both parts) with SES ``SendRawEmail``. An SES
    refusal or an unreachable endpoint raises ``MailError``: the service retries later."""

    def __init__(self, client: Any, configuration_set: str | None = "cr-sends-config") -> None:
        self._client = client
        self.configuration_set = configuration_set

    def send(self, message: Message) -> None:
        request: dict[str, Any] = {"RawMessage": {"Data": written(message).as_bytes()}}
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            self._client.send_raw_email(**request)
        except (client_error_type(), *transport_error_types()) as e:
            # The error code only: SES messages can quote the addresses.
            code = error_code(e) or type(e).__name__
            raise MailError(f"SES did not take the message: {code}") from None
