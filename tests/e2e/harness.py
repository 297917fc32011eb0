"""A live embedded service for end-to-end tests: uvicorn on 127.0.0.1 in a thread, a real SMTP
server (aiosmtpd), and a virtual clock the test moves."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller

from cart_recovery.adapters.storefronts.generic import sign
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.embedded.clock import VirtualClock

SECRET = "e2e-webhook-secret-0123456789abcdef"
OLD_SECRET = "e2e-old-webhook-secret-0123456789ab"
SHOPIFY_SECRET = "e2e-shopify-app-secret-0123456789abcd"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"e2e-standard-webhooks-secret-32b").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class LiveService:
    def __init__(
        self,
        data_dir: Path,
        start: datetime,
        *,
        run_timers: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.inbox = Inbox()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.port = free_port()
        init_data_dir(data_dir)
        env = {
            "CART_RECOVERY_WEBHOOK_SECRET": f"{SECRET},{OLD_SECRET}",
            "CART_RECOVERY_SMTP_URL": f"smtp://127.0.0.1:{self.smtp.port}",
            "CART_RECOVERY_PORT": str(self.port),
            "CART_RECOVERY_SHOPIFY_SECRET": SHOPIFY_SECRET,
            "CART_RECOVERY_STANDARD_WEBHOOKS_SECRET": STANDARD_SECRET,
            **(env or {}),
        }
        self.settings = load_settings(data_dir, env)
        self.clock = VirtualClock(start)
        self.rt: Embedded = embedded(self.settings, clock=self.clock, run_timers=run_timers)
        config = uvicorn.Config(
            self.rt.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not (self.server.started and (self.rt.loop.idle or not run_timers)):
            if time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.01)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def post_event(
        self, event: dict[str, Any], *, secret: str = SECRET, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body = json.dumps(event).encode()
        signed = sign(body, secret, int(self.clock.now().timestamp()))
        return self.http.post(
            "/webhooks/cart",
            content=body,
            headers={**signed, **(headers or {}), "Content-Type": "application/json"},
        )

    def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(
            path, content=body, headers={"Content-Type": "application/json", **headers}
        )

    def advance(self, to: datetime) -> None:
        """Move the virtual clock and wait until the timer loop has fired all that is due."""
        self.clock.set(to)
        loop = self.rt.loop
        before = loop.cycles
        loop.poke()
        deadline = time.monotonic() + 30
        while not (loop.cycles > before and loop.idle and not self.rt.store.due(to, 1)):
            if time.monotonic() > deadline:
                raise RuntimeError("timer loop did not settle")
            time.sleep(0.005)

    def counts(self) -> dict[str, int]:
        store = self.rt.store
        return {t: store.count(t) for t in ("carts", "events", "audit", "sends", "timers")}

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.rt.close()
        self.smtp.stop()


@dataclass
class Served:
    """``cart-recovery serve`` run as a user runs it; after the block: its exit and stderr."""

    folder: Path
    port: int
    returncode: int | None = None
    stderr: str = ""


@contextlib.contextmanager
def serve_in(folder: Path) -> Iterator[Served]:
    """Start ``serve`` in ``folder`` on a free port, wait for /healthz, SIGTERM it after."""
    served = Served(folder, free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cart_recovery", "serve", "--port", str(served.port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{served.port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {proc.communicate()}")
            time.sleep(0.05)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, served.stderr = proc.communicate(timeout=20)
        served.returncode = proc.returncode
