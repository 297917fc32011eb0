"""What every mailer reads from a message: its envelope (sender and recipients) and its
bytes as they go over SMTP. A composed reminder is written for the wire first (``written``)."""

from __future__ import annotations

import copy
import email.policy
import email.utils
from email.message import EmailMessage
from types import TracebackType
from typing import Self

from cart_recovery.adapters.mail.wire import WireMessage, to_wire
from cart_recovery.domain.compose import OutgoingEmail
from cart_recovery.ports import MailError

# What a mailer takes: a composed reminder, or a message built with the ``email`` package
# (the owner's reports) whose From, To and Message-ID are set.
Message = EmailMessage | OutgoingEmail
Written = EmailMessage | WireMessage


def written(message: Message) -> Written:
    """A composed reminder written for the wire (``wire.to_wire``); any other message as it is."""
    return to_wire(message) if isinstance(message, OutgoingEmail) else message


def envelope(message: Written) -> tuple[str, list[str]]:
    """Envelope sender (From) and recipients (To) of ``message``; MailError if missing."""
    if isinstance(message, WireMessage):
        if not message.sender or not message.recipients:
            raise MailError("message has no From or no To address")
        return message.sender, list(message.recipients)
    senders = [addr for _, addr in email.utils.getaddresses(_header_values(message, "From"))]
    senders = [addr for addr in senders if addr]
    if not senders:
        raise MailError("message has no From address")
    recipients = [addr for _, addr in email.utils.getaddresses(_header_values(message, "To"))]
    recipients = [addr for addr in recipients if addr]
    if not recipients:
        raise MailError("message has no To address")
    return senders[0], recipients


def _header_values(message: EmailMessage, name: str) -> list[str]:
    return [str(value) for value in message.get_all(name, [])]


# RFC 5322's hard limit instead of the 78 of ``email.policy.SMTP``: with 78, the stdlib
# folds a header holding one long word (a List-Unsubscribe URL with a signed token) into
# RFC 2047 encoded-words, which mail clients do not decode there, so unsubscribe breaks.
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)


def wire_bytes(message: Written, *, utf8: bool = False) -> bytes:
    """The message as it goes over SMTP: CRLF line ends, no Bcc headers."""
    if isinstance(message, WireMessage):
        return message.data  # written for the wire already (``OutgoingEmail.to_bytes``)
    if "Bcc" in message or "Resent-Bcc" in message:
        message = copy.copy(message)  # shallow: ``del`` rebinds the header list
        del message["Bcc"]
        del message["Resent-Bcc"]
    policy = WIRE_POLICY.clone(utf8=True) if utf8 else WIRE_POLICY
    try:
        return message.as_bytes(policy=policy)
    except (UnicodeError, ValueError, TypeError, LookupError) as exc:
        raise MailError(f"cannot serialise message: {exc}") from exc


class Closing:
    """``with mailer:`` closes it on the way out; a mailer with nothing to release keeps this
    ``close``, so that every mailer can be closed alike."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
