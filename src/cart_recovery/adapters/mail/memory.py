"""``MemoryMailer``: keeps the messages it is given (simulation and unit tests)."""

from __future__ import annotations

import copy
import threading
from email.message import EmailMessage

from cart_recovery.adapters.mail.envelope import Closing, Message, envelope, written
from cart_recovery.adapters.mail.wire import WireMessage
from cart_recovery.ports import MailError


class MemoryMailer(Closing):
    """Keeps sent messages in ``sent`` (copies, as they were at send time).

    ``fail_next=n`` makes the next ``n`` sends raise ``MailError`` without keeping the message;
    set the attribute again at any time.  ``attempts`` counts every call to ``send``.
    """

    def __init__(self, *, fail_next: int = 0) -> None:
        if fail_next < 0:
            raise ValueError("fail_next must be >= 0")
        self.sent: list[EmailMessage] = []
        self.fail_next = fail_next
        self.attempts = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryMailer(sent={len(self.sent)}, fail_next={self.fail_next})"

    def send(self, message: Message) -> None:
        with self._lock:
            self.attempts += 1
            ready = written(message)
            envelope(ready)
            if self.fail_next > 0:
                self.fail_next -= 1
                raise MailError("simulated mail failure (MemoryMailer.fail_next)", code=451)
            if isinstance(ready, WireMessage):
                self.sent.append(ready.parsed())  # what a mail client would read
            else:
                self.sent.append(copy.deepcopy(ready))

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()
