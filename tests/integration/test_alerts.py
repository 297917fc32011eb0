"""The owner's alerts in the embedded runtime: a real SMTP server (aiosmtpd) behind the real SMTP
mailer, SQLite, the dashboard over HTTP, on a virtual clock. The alert check is the runtime's
own (``AlertSchedule.tick``), run at each virtual minute the test looks at."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from cart_recovery.adapters.mail import SmtpMailer, SmtpSettings
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.alerts import Alert
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import DocRefused, MailFailed
from tests.conftest import make_event
from tests.fakes.smtp_server import Server

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
DUE = datetime(2026, 5, 12, 12, 0, tzinfo=NY)  # the medium cart's first reminder
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OWNER = "owner@shop.example"
BAD_RULES = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")


class Shop:
    """The embedded runtime over SQLite, mailing through ``server`` with the SMTP mailer."""

    def __init__(self, data_dir: Path, server: Server, clock: VirtualClock) -> None:
        if not data_dir.exists():
            init_data_dir(data_dir)
            config = data_dir / "config.toml"
            config.write_text(config.read_text() + f'\nowner_emails = ["{OWNER}"]\n')
        self.server = server
        self.clock = clock
        self.settings = load_settings(data_dir, {})
        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=5))
        self.rt: Embedded = embedded(self.settings, clock=clock, mailer=mailer, run_timers=False)
        self.client = TestClient(self.rt.app, base_url="http://testserver")
        self.happenings: list[Any] = []

    def at(self, t: datetime) -> list[Alert]:
        """The clock reaches ``t``: due wake-ups run, then the alert check."""
        self.clock.set(t)
        self.happenings += self.rt.loop.run_due(t)
        return self.rt.alert_schedule.tick(t)

    def alerts(self) -> list[Alert]:
        return self.rt.store.recent_alerts(START - timedelta(days=30))

    def owner_mail(self) -> list[EmailMessage]:
        out = []
        for m in self.server.handler.messages:
            if m.rcpt_tos == [OWNER]:
                msg = message_from_bytes(m.content, policy=policy.default)
                assert isinstance(msg, EmailMessage)
                out.append(msg)
        return out

    def login(self) -> str:
        page = self.client.get("/admin/login").text
        csrf = CSRF.search(page)
        assert csrf is not None
        r = self.client.post(
            "/admin/login",
            data={"csrf": csrf.group(1), "token": self.settings.admin_token, "next": ""},
            follow_redirects=False,
        )
        assert r.status_code == 303
        found = CSRF.search(self.client.get("/admin/").text)
        assert found is not None
        return found.group(1)

    def close(self) -> None:
        self.client.close()
        self.rt.close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def shop(tmp_path: Path, server: Server) -> Iterator[Shop]:
    s = Shop(tmp_path / "data", server, VirtualClock(START))
    yield s
    s.close()


def ingest(shop: Shop, cart_id: str = "c1", email: str = "maya@example.com") -> None:
    event = make_event(
        cart_id=cart_id,
        event_id=f"e-{cart_id}",
        email=email,
        occurred_at=shop.clock.now(),
        timezone="America/New_York",
    )
    shop.rt.service.ingest(event, shop.clock.now())


def test_smtp_down_raises_one_alert_per_six_hours_in_the_log_and_on_the_dashboard(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cart_recovery.alerts")
    # Given a cart whose reminder falls due at noon, and the mail server down
    ingest(shop)
    shop.server.stop()
    # When the reminder fails at noon and on every retry (12:05, 12:15, 12:30, ...)
    for minute in (0, 1, 5, 15, 29):
        assert shop.at(DUE + timedelta(minutes=minute)) == []
    failures = [h for h in shop.happenings if isinstance(h, MailFailed)]
    assert len(failures) == 3
    # Then nothing is raised before 30 minutes; at 30 minutes, one alert
    [alert] = shop.at(DUE + timedelta(minutes=30))
    assert alert.kind == "mail_failing" and alert.title == "Reminder emails are not going out"
    assert "for 30 minutes" in alert.body and "could not be reached" in alert.body
    assert "maya@example.com" not in alert.body
    # And, the mail being what fails, it reached the log (one structured line) and the store
    [line] = [r for r in caplog.records if r.name == "cart_recovery.alerts"]
    assert line.__dict__["alert"] == "mail_failing"
    assert line.__dict__["mail"].startswith("not mailed: SMTP connecting to 127.0.0.1")
    assert [a.id for a in shop.alerts()] == [alert.id]
    # And no second one within 6 hours, however often it is checked
    for t in (timedelta(minutes=31), timedelta(minutes=50), timedelta(hours=6, minutes=29)):
        assert shop.at(DUE + t) == []
    # Then 6 hours after the first, still failing, the next
    [again] = shop.at(DUE + timedelta(hours=6, minutes=30))
    assert again.kind == "mail_failing" and "for 390 minutes" in again.body
    assert shop.owner_mail() == []  # the mail was down all along


def test_the_dashboard_banner_lists_the_alerts_and_dismisses_one_with_its_csrf_token(
    shop: Shop,
) -> None:
    # Given the mail-failing alert
    ingest(shop)
    shop.server.stop()
    shop.at(DUE)
    [alert] = shop.at(DUE + timedelta(minutes=30))
    # When the owner opens the dashboard
    csrf = shop.login()
    page = shop.client.get("/admin/").text
    # Then the banner shows what happened and what to do, with a dismiss button
    assert "Reminder emails are not going out" in page
    assert "smtp_url" in page and f'action="/admin/alerts/{alert.id}/dismiss"' in page
    # And a dismiss without the form's CSRF token changes nothing
    path = f"/admin/alerts/{alert.id}/dismiss"
    r = shop.client.post(path, data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and [a.id for a in shop.alerts()] == [alert.id]
    # When it is dismissed with the token
    r = shop.client.post(path, data={"csrf": csrf}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/")
    page = shop.client.get("/admin/").text
    # Then the banner is gone and the page says so once
    assert "Reminder emails are not going out" not in page and "Alert dismissed." in page
    assert shop.alerts() == []
    # And an unknown alert is refused plainly
    r = shop.client.post("/admin/alerts/999/dismiss", data={"csrf": csrf}, follow_redirects=True)
    assert "no such alert" in r.text


def test_a_refused_doc_edit_is_mailed_to_the_owners_once_per_six_hours(shop: Shop) -> None:
    base = shop.rt.service.doc_history("rules")[0].version.version
    # When the owner saves rules that do not read fine
    with pytest.raises(DocRefused):
        shop.rt.service.save_doc("rules", BAD_RULES, base=base, by="owner", now=shop.clock.now())
    # Then the owners get one email naming the line, and the dashboard lists it
    [mail] = shop.owner_mail()
    assert mail["Subject"] == "Cart recovery: Your rules doc was not applied"
    assert mail["To"] == OWNER and "line 4" in mail.get_content()
    [alert] = shop.alerts()
    assert alert.kind == "doc_refused" and "from the dashboard" in alert.body
    # And a second refusal within 6 hours is refused as before, with no second alert
    shop.clock.set(START + timedelta(hours=5))
    with pytest.raises(DocRefused):
        shop.rt.service.save_doc("rules", BAD_RULES, base=base, by="owner", now=shop.clock.now())
    assert len(shop.owner_mail()) == 1 and len(shop.alerts()) == 1
    # And a Google Doc's refusal (the docs sync mails the owners itself) is listed, not mailed
    shop.clock.set(START + timedelta(hours=6))
    with pytest.raises(DocRefused):
        shop.rt.service.save_doc(
            "rules", BAD_RULES, base=base, by="Ann", now=shop.clock.now(), source="drive"
        )
    assert len(shop.owner_mail()) == 1
    assert "from the Google Doc" in shop.alerts()[0].body


def test_complaints_over_a_tenth_of_a_percent_of_30_days_sends_are_mailed(shop: Shop) -> None:
    # Given two reminders sent
    ingest(shop)
    ingest(shop, "c2", "jo@example.com")
    assert shop.at(DUE) == []
    assert shop.rt.store.sent_between(DUE - timedelta(days=30), DUE + timedelta(minutes=1)) == 2
    # When one shopper marks hers as spam
    shop.rt.service.mail_feedback(
        MailFeedback(Feedback.COMPLAINT, "jo@example.com", "ses", "abuse"), DUE
    )
    [alert] = shop.at(DUE + timedelta(minutes=1))
    # Then the owners hear of it (1 of 2: 50%)
    assert alert.kind == "complaint_rate" and "50.00%" in alert.body
    [mail] = shop.owner_mail()
    assert mail["Subject"] == "Cart recovery: Too many shoppers marked reminders as spam"
    assert "jo@example.com" not in mail.get_content()
    # And not again within 6 hours; the complaint counts for 30 days
    assert shop.at(DUE + timedelta(hours=5)) == []
    assert [a.kind for a in shop.at(DUE + timedelta(hours=6, minutes=1))] == ["complaint_rate"]
    assert shop.at(DUE + timedelta(days=31)) == []


def test_a_restart_that_finds_uncertain_steps_tells_the_owners_once(
    shop: Shop, tmp_path: Path
) -> None:
    # Given a reminder claimed when the process stopped (a crash between claim and send)
    ingest(shop)
    shop.clock.set(DUE)
    shop.rt.store.claim_send("c1", 1, "maya@example.com", DUE)
    shop.close()
    # When the service starts again on the same data (the timer loop's start-up recovery)
    again = Shop(tmp_path / "data", shop.server, shop.clock)
    try:
        [record] = again.rt.service.recover(DUE + timedelta(minutes=2))
        assert (record.cart_id, record.step) == ("c1", 1)
        # Then the owners get one alert naming the cart
        [mail] = again.owner_mail()
        assert mail["Subject"] == "Cart recovery: Some reminders may not have been sent"
        assert "cart c1, reminder 1" in mail.get_content()
        assert [a.kind for a in again.alerts()] == ["uncertain_steps"]
        # And another crash within 6 hours, after another restart, sends no second one
        again.rt.store.claim_send("c9", 1, "x@example.com", DUE)
        ingest(again, "c3", "al@example.com")
        again.rt.store.claim_send("c3", 1, "al@example.com", DUE + timedelta(minutes=3))
        again.close()
        third = Shop(tmp_path / "data", shop.server, shop.clock)
        try:
            assert len(third.rt.service.recover(DUE + timedelta(hours=1))) == 1
            assert len(third.owner_mail()) == 1 and len(third.alerts()) == 1
        finally:
            third.close()
    finally:
        again.close()
