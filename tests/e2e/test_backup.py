"""Backup and restore as an owner runs them: ``serve`` takes events over HTTP while ``backup``
copies its store, and a fresh folder restored from the copy carries on where it left off."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from reliability.service import AcceleratedClock, Inbox, ServiceProcess, signed

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday, 10am in New York
SPEED = 60.0  # a virtual minute a second (a signature's timestamp stays within its tolerance)
WAITS = ["1 minute", "30 days"]  # the first reminder in a second, the second never here


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
    return subprocess.run(
        [sys.executable, "-m", "cart_recovery", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cart(cart_id: str, email: str, clock: AcceleratedClock, n: int = 1) -> dict[str, Any]:
    return {
        "event_id": f"{cart_id}-{n}",
        "type": "cart.updated",
        "cart_id": cart_id,
        "occurred_at": clock.now().isoformat(),
        "email": email,
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}],
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart_id}",
        "wait_override": WAITS,
    }


def post(service: ServiceProcess, body: dict[str, Any]) -> httpx.Response:
    raw, headers = signed(body, service.clock)
    return httpx.post(f"{service.url}/webhooks/cart", content=raw, headers=headers, timeout=10)


def mail_to(inbox: Inbox, address: str) -> list[EmailMessage]:
    with inbox.lock:
        return [r.message for r in inbox.got if r.message["To"] == address]


def wait_for_mail(inbox: Inbox, address: str) -> EmailMessage:
    """The first reminder to ``address`` (its wait passes on the accelerated clock)."""
    deadline = time.monotonic() + 60
    while not mail_to(inbox, address):
        if time.monotonic() > deadline:
            raise AssertionError(f"no reminder reached {address}")
        time.sleep(0.02)
    return mail_to(inbox, address)[0]


class Poster:
    """Posts events for new carts, one after another, until stopped; remembers when each
    was accepted."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.accepted: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            self.post_until_stopped()
        except BaseException as e:
            self.error = e

    def post_until_stopped(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            cart_id = f"bg-{n}"
            answer = post(self.service, cart(cart_id, f"bg{n}@example.com", self.service.clock))
            assert answer.is_success, answer.text
            self.accepted.append((time.monotonic(), cart_id))

    def __enter__(self) -> Poster:
        self.thread.start()
        while len(self.accepted) < 5:  # the webhook is busy before the backup starts
            assert self.thread.is_alive(), self.error
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert self.error is None, self.error


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    process = ServiceProcess(tmp_path / "data", AcceleratedClock(T0, SPEED), Inbox())
    try:
        process.start()
        yield process
    finally:
        process.stop()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_backup_taken_while_serving_restores_into_a_service_that_carries_on(
    service: ServiceProcess, tmp_path: Path
) -> None:
    # Given a running service that reminded Ada and Bo, and Ada unsubscribed from hers
    inbox = service.smtp.handler
    for cart_id, email in (("c-ada", "ada@example.com"), ("c-bo", "bo@example.com")):
        assert post(service, cart(cart_id, email, service.clock)).is_success
    ada_mail = wait_for_mail(inbox, "ada@example.com")
    wait_for_mail(inbox, "bo@example.com")
    url = str(ada_mail["List-Unsubscribe"]).strip("<>")
    one_click = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200

    # When a backup runs while the webhook takes events
    copy = tmp_path / "copy.sqlite3"
    with Poster(service) as poster:
        started = time.monotonic()
        made = cli("backup", str(copy), "--data-dir", str(service.data_dir))
    assert made.returncode == 0, made.stderr
    assert f"Wrote {copy}" in made.stdout and "Integrity check: ok" in made.stdout

    # Then the copy is sound and holds every event accepted before the backup started
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    before = {c for at, c in poster.accepted if at < started}
    in_copy = {c for (c,) in rows(copy, "SELECT cart_id FROM events")}
    assert before and before <= in_copy
    assert len(poster.accepted) > len(before)  # the webhook kept answering meanwhile
    claimed = {c for (c,) in rows(copy, "SELECT cart_id FROM sends WHERE step = 1")}
    assert {"c-ada", "c-bo"} <= claimed
    assert rows(copy, "SELECT source FROM unsubscribes") == [("shopper",)]

    # And restore refuses while serve runs on the folder, naming it and what to do
    assert service.proc is not None
    refused = cli("restore", str(copy), "--data-dir", str(service.data_dir))
    assert refused.returncode == 1
    assert (
        f"cart-recovery serve is running on {service.data_dir} (process {service.proc.pid}): "
        "stop it first"
    ) in refused.stderr
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=30) in (0, -signal.SIGTERM)

    # When the copy is restored into a fresh folder and serve starts from there
    fresh = ServiceProcess(
        tmp_path / "fresh", AcceleratedClock(service.clock.now(), SPEED), Inbox()
    )
    try:
        restored = cli("restore", str(copy), "--data-dir", str(fresh.data_dir))
        assert restored.returncode == 0, restored.stderr
        assert "Restored" in restored.stdout
        fresh.start()
        clock = fresh.clock
        assert post(fresh, cart("c-ada-2", "ada@example.com", clock)).is_success
        assert post(fresh, cart("c-cy", "cy@example.com", clock)).is_success
        wait_for_mail(fresh.smtp.handler, "cy@example.com")  # Cy's wait has passed
    finally:
        fresh.stop()

    # Then the unsubscribed address stays unsubscribed, and no step claimed before the
    # backup goes out again
    inbox_b = fresh.smtp.handler
    assert mail_to(inbox_b, "ada@example.com") == []
    with inbox_b.lock:
        resent = [str(r.message["To"]) for r in inbox_b.got]
    claimed_addresses = {
        r
        for (r,) in rows(copy, "SELECT recipient FROM sends WHERE step = 1 AND recipient NOT NULL")
    }
    assert "bo@example.com" in claimed_addresses
    assert set(resent) & claimed_addresses == set()
    skipped = rows(
        fresh.data_dir / "cart-recovery.sqlite3",
        "SELECT outcome, reason FROM sends WHERE cart_id = 'c-ada-2'",
    )
    assert skipped == [("skipped", "unsubscribed")]
    assert fresh.clock.now() - T0 < timedelta(days=30)  # no second reminder was due
