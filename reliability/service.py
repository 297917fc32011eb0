"""The service under test as a real process on an accelerated clock, with a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

SECRET = "reliability-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    message: EmailMessage
    real: float  # time.monotonic() when the SMTP transaction completed


@dataclass
class Inbox:
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.got.append(Received(msg, time.monotonic()))
        return "250 OK"


class AcceleratedClock:
    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.origin_unix = time.time()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin_unix) * self.speed)

    def spec(self) -> str:
        return f"{self.start.isoformat()}@{self.origin_unix}*{self.speed}"

    def real_seconds(self, virtual: timedelta) -> float:
        return virtual.total_seconds() / self.speed


class ServiceProcess:
    """``cart-recovery serve`` in its own process: start, SIGKILL, restart."""

    def __init__(
        self, data_dir: Path, clock: AcceleratedClock, inbox: Inbox, *, synchronous: str = "FULL"
    ) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = (data_dir.parent / "service.log").open("ab")
        (data_dir / "config.toml").write_text(
            f'webhook_secrets = ["{SECRET}"]\nsigning_key = "reliability-signing-key-0123456789"\n'
            f'admin_token = "reliability-admin-token"\nsqlite_synchronous = "{synchronous}"\n'
        )

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
        env.update(
            {
                "CART_RECOVERY_DATA_DIR": str(self.data_dir),
                "CART_RECOVERY_PORT": str(self.port),
                "CART_RECOVERY_SMTP_URL": f"smtp://127.0.0.1:{self.smtp.port}",
                "CART_RECOVERY_CLOCK": self.clock.spec(),
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cart_recovery", "serve"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}")
            time.sleep(0.02)
        raise RuntimeError("the service did not start in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.smtp.stop()
        self.log.close()


def signed(body: dict[str, Any], clock: AcceleratedClock) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    ts = str(int(clock.now().timestamp()))
    mac = hmac.new(SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return raw, {
        "Content-Type": "application/json",
        "X-Cart-Timestamp": ts,
        "X-Cart-Signature": f"sha256={mac}",
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
