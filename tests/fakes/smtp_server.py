"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording every delivery."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from tests.aws.services import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool | None


@dataclass
class Recorder:
    """aiosmtpd handler: keeps every delivered message and every connection that said EHLO."""

    messages: list[Received] = field(default_factory=list)
    connections: list[object] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            # One aiosmtpd SMTP protocol object per TCP connection (EHLO is repeated after
            # STARTTLS on the same one).
            if not any(seen is server for seen in self.connections):
                self.connections.append(server)
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content,
                    tls=session.ssl is not None,
                    authenticated=session.authenticated,
                )
            )
        return "250 Message accepted"


class Server:
    """A running aiosmtpd Controller that a test may stop and start again (same port)."""

    def __init__(self, **smtp_kwargs: Any) -> None:
        self.port = free_port()
        self.handler = Recorder()
        self._kwargs = smtp_kwargs
        self._controller: Controller | None = None
        self.start()

    def start(self) -> None:
        assert self._controller is None
        controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self._kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
