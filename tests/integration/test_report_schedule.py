"""The embedded report schedule of ``serve`` (the 02:00 nightly export and the first-Monday
summary) driven on a virtual clock, and the audit row a checkout writes when it stops a cart.
The real runtime on SQLite; nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.model import CHECKED_OUT, Status
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.embedded.reports import ReportSchedule
from tests.conftest import make_event

NY = ZoneInfo("America/New_York")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


class Serve:
    """The embedded runtime as ``serve`` wires it, on a virtual clock."""

    def __init__(self, data: Path, start: datetime) -> None:
        init_data_dir(data)
        config = data / "config.toml"
        config.write_text(config.read_text() + '\nowner_emails = ["owner@shop.example"]\n')
        self.clock = VirtualClock(start)
        self.mailer = MemoryMailer()
        self.rt: Embedded = embedded(
            load_settings(data, {}), clock=self.clock, mailer=self.mailer, run_timers=False
        )
        self.exports = self.rt.settings.export_dir

    def schedule(self) -> ReportSchedule:
        return ReportSchedule(self.rt.reports, self.clock, self.exports)

    def run_schedule_until(self, schedule: ReportSchedule, until: datetime) -> list[datetime]:
        """The schedule's loop beside the timer loop: the clock moves to the next reminder due
        or the next time the schedule asks for, whichever is first; reminders go out when due
        and each report runs at its time."""
        fired = []
        while True:
            report = schedule.next_at(self.clock.now())
            timer = self.rt.store.next_due()
            at = min(report, timer) if timer is not None else report
            if at > until:
                break
            self.clock.set(max(at, self.clock.now()))
            self.rt.loop.run_due(self.clock.now())
            if at == report:
                schedule.fire(at, self.clock.now())
                fired.append(at)
        self.clock.set(until)
        return fired

    def summaries(self) -> list[str]:
        return [str(m["Subject"]) for m in self.mailer.sent if "Cart recovery:" in m["Subject"]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "data", ny(5, 28, 9))
    yield s
    s.rt.close()


def test_the_schedule_exports_each_night_and_sums_up_the_month_on_the_first_monday(
    serve: Serve,
) -> None:
    # Given a cart started Thursday May 28 and bought Saturday
    serve.rt.service.ingest(make_event(occurred_at=serve.clock.now()), serve.clock.now())
    schedule = serve.schedule()
    schedule.catch_up(serve.clock.now())
    assert schedule.runs == ["export 2026-05-27"]  # 02:00 today's run, missed before start

    # When the schedule runs until Tuesday June 2, 3am
    serve.run_schedule_until(schedule, ny(5, 30, 14))
    serve.rt.service.ingest(
        make_event(event_id="e2", type=CHECKED_OUT, occurred_at=serve.clock.now()),
        serve.clock.now(),
    )
    fired = serve.run_schedule_until(schedule, ny(6, 2, 3))

    # Then each night at 02:00 exported the day before, and Monday June 1 at 09:00 the summary
    assert fired == [ny(5, 31, 2), ny(6, 1, 2), ny(6, 1, 9), ny(6, 2, 2)]
    assert schedule.runs == [
        "export 2026-05-27",
        "export 2026-05-28",
        "export 2026-05-29",
        "export 2026-05-30",
        "export 2026-05-31",
        "summary 2026-05",
        "export 2026-06-01",
    ]
    for day in ("2026-05-27", "2026-05-31", "2026-06-01"):
        assert (serve.exports / f"carts-{day}.xlsx").is_file()
        assert (serve.exports / f"carts-{day}.csv").is_file()
    # the latest file holds the cart as it is now: reminded, then bought
    ws = openpyxl.load_workbook(serve.exports / "carts.xlsx").active
    assert ws is not None
    header, *body = list(ws.iter_rows(values_only=True))
    (row,) = [dict(zip(header, r, strict=True)) for r in body]
    assert (row["Cart"], row["Status"]) == ("c1", "bought")
    assert str(row["Reminder 1"]).startswith("sent 2026-05-28 11:00")
    assert str(row["Recovered"]).startswith("yes")
    # the summary was written and mailed to the owner once
    assert serve.summaries() == ["Cart recovery: May 2026"]
    assert "Carts seen" in (serve.exports / "summary-2026-05.txt").read_text()

    # and a restart catches up nothing that already ran
    again = serve.schedule()
    again.catch_up(serve.clock.now())
    assert again.runs == []
    assert serve.summaries() == ["Cart recovery: May 2026"]


def test_a_restart_catches_up_a_missed_night_and_a_missed_summary(serve: Serve) -> None:
    # Given the service was down from Thursday May 28 until Wednesday June 3, 10:00
    serve.clock.set(ny(6, 3, 10))
    schedule = serve.schedule()
    schedule.catch_up(serve.clock.now())
    # Then the last night and May's summary run at start-up, once
    assert schedule.runs == ["export 2026-06-02", "summary 2026-05"]
    assert serve.summaries() == ["Cart recovery: May 2026"]
    schedule.catch_up(serve.clock.now())
    assert schedule.runs == ["export 2026-06-02", "summary 2026-05"]


def test_a_checkout_stops_the_cart_with_an_audit_row(serve: Serve) -> None:
    # Given an open cart, reminded once
    service, store = serve.rt.service, serve.rt.store
    service.ingest(make_event(occurred_at=serve.clock.now()), serve.clock.now())
    serve.run_schedule_until(serve.schedule(), ny(5, 28, 12))
    before, sends = store.load("c1")
    assert before is not None and before.status is Status.OPEN and len(sends) == 1
    # When the storefront reports the checkout
    bought_at = ny(5, 28, 13)
    serve.clock.set(bought_at)
    service.ingest(make_event(event_id="e-buy", type=CHECKED_OUT, occurred_at=bought_at), bought_at)
    # Then the cart is bought, no wake-up is left, and the audit row says who, what and why
    after, _ = store.load("c1")
    assert after is not None and after.status is Status.BOUGHT
    assert store.next_due() is None
    row = store.audit("c1")[-1]
    assert (row.by, row.action, row.detail) == ("system", "checked_out", "cart.checked_out e-buy")
    assert row.at == bought_at
    assert row.before is not None and row.after is not None
    assert (row.before["status"], row.after["status"]) == ("open", "bought")
    assert row.before["bought_at"] is None
    assert datetime.fromisoformat(row.after["bought_at"]) == bought_at
    assert row.before["version"] == before.version
    changed = {k for k in row.after if row.after[k] != row.before.get(k)}
    assert changed == {"status", "bought_at", "last_event_at"}
    assert datetime.fromisoformat(row.after["last_event_at"]) == bought_at
