"""A permanent refusal at send time is a hard bounce; a temporary one is retried. Through the
real SMTP mailer against a real SMTP server (aiosmtpd on 127.0.0.1) that answers 550 to one
recipient and 451 (once) to another, on the SQLite store, with the wake-ups on a virtual clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cart_recovery.adapters.mail import SmtpMailer, SmtpSettings
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.model import Outcome
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import MAIL_RETRY, Bounced, MailFailed, Sent
from cart_recovery.simulation.replay import Replay
from tests.conftest import make_event
from tests.fakes.smtp_server import Recorder, Server

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
FIRST_DUE = datetime(2026, 5, 12, 12, 0, tzinfo=NY)  # the first reminder of a medium cart
GONE = "gone@example.com"  # the server answers 550: no such mailbox
BUSY = "busy@example.com"  # the server answers 451 the first time: try again later


class Refusing(Recorder):
    """Refuses RCPT TO: GONE for good, BUSY once (greylisting)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy_refused = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == GONE:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address == BUSY and self.busy_refused == 0:
            self.busy_refused += 1
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.stop()
    srv.handler = Refusing()
    srv.start()
    yield srv
    srv.stop()


def test_a_550_suppresses_the_address_and_a_451_is_retried(server: Server, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    service = in_memory(store=store, mailer=mailer)
    clock = VirtualClock(START)
    replay = Replay(service, store, clock)
    try:
        # Given two left carts, one of an address that no longer exists, one greylisted
        for cart_id, email in (("c-gone", GONE), ("c-busy", BUSY)):
            replay.feed(
                [
                    make_event(
                        cart_id=cart_id, email=email, occurred_at=START, timezone="America/New_York"
                    )
                ]
            )
        # When their first reminders fall due
        replay.run_until(FIRST_DUE)
        happened = list(replay.happenings)

        # Then the 550 is a hard bounce: the step is skipped and the address suppressed
        [bounced] = [h for h in happened if isinstance(h, Bounced)]
        assert (bounced.cart_id, bounced.step) == ("c-gone", 1)
        row = store.suppression(GONE)
        assert row is not None and row.source == "bounce" and row.cart_id == "c-gone"
        assert row.reason is not None and "550" in row.reason and GONE not in row.reason
        [gone_step] = store.load("c-gone")[1]
        assert (gone_step.outcome, gone_step.reason) == (Outcome.SKIPPED, "bounced")
        assert GONE not in bounced.error
        # and the 451 is retried later, never suppressing
        [failed] = [h for h in happened if isinstance(h, MailFailed)]
        assert (failed.cart_id, failed.retry_at) == ("c-busy", FIRST_DUE + MAIL_RETRY)
        assert store.suppression(BUSY) is None

        # Both are visible in the shopper's export
        gone = service.export_shopper(GONE, FIRST_DUE)
        assert gone["unsubscribed"] is True
        assert gone["suppressed"]["source"] == "bounce" and "550" in gone["suppressed"]["reason"]
        [reminder] = gone["carts"][0]["reminders"]
        assert (reminder["outcome"], reminder["reason"]) == ("skipped", "bounced")
        history = [(h["by"], h["action"]) for h in gone["carts"][0]["history"]]
        assert ("bounce", "unsubscribed") in history
        busy = service.export_shopper(BUSY, FIRST_DUE)
        assert busy["unsubscribed"] is False and busy["suppressed"] is None
        [waiting] = busy["carts"][0]["reminders"]
        assert (waiting["outcome"], waiting["reason"], waiting["failed_attempts"]) == (
            "deferred",
            "mail_error",
            1,
        )

        # When the retry falls due, the greylisted address gets its reminder
        replay.run_until(FIRST_DUE + MAIL_RETRY)
        sent = [h for h in replay.happenings if isinstance(h, Sent)]
        assert [(h.cart_id, h.at) for h in sent] == [("c-busy", FIRST_DUE + MAIL_RETRY)]
        assert [m.rcpt_tos for m in server.handler.messages] == [[BUSY]]
        again = service.export_shopper(BUSY, FIRST_DUE + MAIL_RETRY)
        assert again["carts"][0]["reminders"][0]["outcome"] == "sent"
        assert again["unsubscribed"] is False
        # and the bounced address is never tried again, second reminder included
        replay.run_until(datetime(2026, 5, 16, 0, 0, tzinfo=NY))
        assert all(GONE not in m.rcpt_tos for m in server.handler.messages)
    finally:
        mailer.close()
        store.close()
