"""Mail adapters: the ``Mailer`` port over SMTP, a folder of ``.eml`` files, and memory.

All three take a composed reminder (``domain.compose.OutgoingEmail``, which they write for the
wire with ``wire.to_wire``) or an ``email.message.EmailMessage`` whose From, To and Message-ID
are set, raise
``MailError`` when the message was not accepted, and return once it was.  ``close()`` releases
whatever they hold; they are also context managers.

* ``SmtpMailer``: stdlib ``smtplib``; plain, STARTTLS or implicit TLS; one lazily opened, reused
  connection guarded by a lock.  Configure it with ``parse_smtp_url``.
* ``OutboxMailer``: writes each message atomically to ``<folder>/<time>-<pid>-<message-id>.eml``
  (development, demos, the dead-letter copy).
* ``MemoryMailer``: keeps the messages in ``sent`` (simulation and unit tests).

One module each (``smtp``, ``outbox``, ``memory``), over ``wire`` (the MIME writer),
``settings`` (the SMTP URL) and ``envelope`` (what every mailer reads from a message).
``outbox`` also reads a reminder's copy back from the folder (``find_copy``, ``read_copy``,
``erase_copies``, and ``OutboxFolder``: the outbox mailer that ``KeepsCopies``). ``MailError``
is the port's, from ``ports.py``.

No error text and no ``repr`` here ever shows the SMTP password.
"""

from __future__ import annotations

from cart_recovery.adapters.mail.envelope import Message
from cart_recovery.adapters.mail.memory import MemoryMailer
from cart_recovery.adapters.mail.outbox import (
    OutboxFolder,
    OutboxMailer,
    erase_copies,
    find_copy,
    read_copy,
)
from cart_recovery.adapters.mail.settings import SmtpMode, SmtpSettings, parse_smtp_url
from cart_recovery.adapters.mail.smtp import SmtpMailer
from cart_recovery.adapters.mail.wire import WireMessage, to_bytes, to_message, to_wire
from cart_recovery.ports import MailError

__all__ = [
    "MailError",
    "MemoryMailer",
    "Message",
    "OutboxFolder",
    "OutboxMailer",
    "SmtpMailer",
    "SmtpMode",
    "SmtpSettings",
    "WireMessage",
    "erase_copies",
    "find_copy",
    "parse_smtp_url",
    "read_copy",
    "to_bytes",
    "to_message",
    "to_wire",
]
