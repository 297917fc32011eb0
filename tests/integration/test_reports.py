"""The nightly export and the monthly summary over a seeded store, checked independently:
the .xlsx through openpyxl, the CSV, and the figures recomputed from the raw SQLite rows."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.domain.model import CHECKED_OUT, UPDATED, CartEvent, EventType, Item
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.simulation.replay import Replay

NY = ZoneInfo("America/New_York")
CLI = [sys.executable, "-m", "cart_recovery"]


def ny(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def ev(cart: str, n: int, when: datetime, kind: EventType = UPDATED, **kw: Any) -> CartEvent:
    return CartEvent(
        event_id=f"{cart}-{n}",
        type=kind,
        cart_id=cart,
        occurred_at=when,
        **kw,
    )


def items(price: str, qty: int = 1) -> tuple[Item, ...]:
    return (Item(title="Thing", quantity=qty, unit_price=Decimal(price)),)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A month of carts (May 2026) run through the real service on a virtual clock."""
    data = tmp_path_factory.mktemp("data")
    init_data_dir(data)
    (data / "config.toml").write_text(
        (data / "config.toml").read_text() + '\nowner_emails = ["owner@shop.example"]\n'
    )
    clock = VirtualClock(ny(1, 0, month=4))
    rt: Embedded = embedded(
        load_settings(data, {}), clock=clock, mailer=MemoryMailer(), run_timers=False
    )
    replay = Replay(rt.service, rt.store, clock)
    a: dict[str, Any] = {"email": "a@example.com", "currency": "USD"}
    # May 12: three carts.
    replay.feed(
        [
            # reminded at 12:00, bought the next morning: recovered
            ev("may12-a", 1, ny(12, 10), items=items("120.00"), **a),
            ev("may12-a", 2, ny(13, 7), CHECKED_OUT),
            # bought before any reminder: came back on their own
            ev(
                "may12-b",
                1,
                ny(12, 11),
                items=items("30.00"),
                email="b@example.com",
                currency="USD",
            ),
            ev("may12-b", 2, ny(12, 12), CHECKED_OUT),
            # never comes back: two reminders, then given up
            ev(
                "may12-c",
                1,
                ny(12, 15),
                items=items("200.00"),
                email="c@example.com",
                currency="EUR",
                locale="de_DE",
            ),
        ]
    )
    # Later in May: one more recovered in EUR, one unsubscribe, one cart from April
    replay.feed(
        [
            ev(
                "may20-d",
                1,
                ny(20, 9),
                items=items("50.00", 2),
                email="d@example.com",
                currency="EUR",
            ),
            ev("may20-d", 2, ny(22, 9), CHECKED_OUT),
            ev(
                "apr-e",
                1,
                ny(28, 9, month=4),
                items=items("80.00"),
                email="e@example.com",
                currency="USD",
            ),
            ev("apr-e", 2, ny(1, 12), CHECKED_OUT),  # bought in May, reminded in April
        ]
    )
    replay.at(ny(20, 12), lambda now: rt.service.unsubscribe("x@example.com", now))
    # and one address bounced for good, one reminder reported as spam
    bounce = MailFeedback(Feedback.HARD_BOUNCE, "c@example.com", "smtp", "550 no such user")
    replay.at(ny(21, 12), lambda now: rt.service.mail_feedback(bounce, now))
    complaint = MailFeedback(Feedback.COMPLAINT, "a@example.com", "ses", "abuse")
    replay.at(ny(23, 12), lambda now: rt.service.mail_feedback(complaint, now))
    replay.run_until(ny(3, 0, month=6))
    rt.close()
    yield data


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_export_of_a_seeded_day_opens_in_openpyxl_and_matches_the_csv(seeded: Path) -> None:
    out = cli("export", "--date", "2026-05-12", "--data-dir", str(seeded))
    assert out.returncode == 0, out.stderr
    xlsx = seeded / "exports" / "carts-2026-05-12.xlsx"
    wb = openpyxl.load_workbook(xlsx)
    ws = wb.active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:3] == ("Cart", "Created", "Email")
    by_cart = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    # the 14 days ending May 12: its three carts, and April's cart bought on May 1
    assert set(by_cart) == {"apr-e", "may12-a", "may12-b", "may12-c"}
    assert str(by_cart["apr-e"]["Recovered"]).startswith("yes")
    assert by_cart["may12-a"]["Total"] == 120.0 and by_cart["may12-a"]["Status"] == "bought"
    assert str(by_cart["may12-b"]["Recovered"]).startswith("no: came back")
    assert str(by_cart["may12-a"]["Recovered"]).startswith("yes")
    assert by_cart["may12-c"]["Status"] == "closed (gave_up)"
    assert by_cart["may12-c"]["Total"] == 200.0 and by_cart["may12-c"]["Currency"] == "EUR"
    assert str(by_cart["may12-c"]["Reminder 1"]).startswith("sent 2026-05-12 16:00")
    # money is a number with a currency format, and the owner actions are links
    total_cell = ws.cell(row=2, column=header.index("Total") + 1)
    assert "$" in total_cell.number_format or "€" in total_cell.number_format
    links = [c.hyperlink.target or "" for c in ws[1 + 3] if c.hyperlink is not None]
    assert any("/a/" in link for link in links)
    # the CSV holds the same rows
    with (seeded / "exports" / "carts-2026-05-12.csv").open(newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["Cart"] for r in csv_rows] == [r[0] for r in body]
    for r in csv_rows:
        assert Decimal(r["Total"]) == Decimal(str(by_cart[r["Cart"]]["Total"]))
        assert r["Status"] == by_cart[r["Cart"]]["Status"]


def _raw_month(db: Path, start: datetime, end: datetime) -> dict[str, Any]:
    """The monthly figures recomputed straight from the SQLite rows, without the domain code."""
    con = sqlite3.connect(db)

    def us(t: datetime) -> int:
        return int(t.timestamp() * 1_000_000)

    s, e = us(start), us(end)
    carts = [json.loads(d) for (d,) in con.execute("SELECT data FROM carts")]
    sends = con.execute("SELECT cart_id, outcome, at FROM sends").fetchall()
    seen = con.execute(
        "SELECT count(*) FROM carts WHERE created_at >= ? AND created_at < ?", (s, e)
    ).fetchone()[0]
    sent = sum(1 for _, o, at in sends if o == "sent" and s <= at < e)
    recovered, own = 0, 0
    won: dict[str, Decimal] = {}
    for c in carts:
        if c["status"] != "bought":
            continue
        bought = datetime.fromisoformat(c["bought_at"])
        if not start <= bought < end:
            continue
        times = [
            datetime.fromtimestamp(at / 1e6, UTC)
            for cid, o, at in sends
            if cid == c["cart_id"] and o == "sent"
        ]
        before = [t for t in times if t <= bought]
        if not before:
            own += 1
        elif bought - max(before) <= timedelta(days=7):
            recovered += 1
            won[c["currency"]] = won.get(c["currency"], Decimal(0)) + Decimal(c["total"])
    unsubs = con.execute(
        "SELECT count(*) FROM unsubscribes WHERE at >= ? AND at < ? "
        "AND source NOT IN ('bounce', 'complaint')",
        (s, e),
    ).fetchone()[0]
    bounces, complaints = (
        con.execute(
            "SELECT count(*) FROM unsubscribes WHERE at >= ? AND at < ? AND source = ?",
            (s, e, source),
        ).fetchone()[0]
        for source in ("bounce", "complaint")
    )
    gave_up = sum(
        1
        for c in carts
        if c["status"] == "closed"
        and c["close_reason"] in ("gave_up", "too_old")
        and start <= datetime.fromisoformat(c["closed_at"]) < end
    )
    con.close()
    return {
        "carts_seen": seen,
        "reminders_sent": sent,
        "recovered": recovered,
        "came_back_on_own": own,
        "won_back": {k: str(v) for k, v in won.items()},
        "unsubscribes": unsubs,
        "bounces": bounces,
        "complaints": complaints,
        "complaint_rate": round(complaints / sent, 6) if sent else 0.0,
        "gave_up": gave_up,
    }


def test_summary_figures_match_an_independent_count(seeded: Path) -> None:
    out = cli("summary", "--month", "2026-05", "--json", "--data-dir", str(seeded))
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)["figures"]
    raw = _raw_month(seeded / "cart-recovery.sqlite3", ny(1, 0), ny(1, 0, month=6))
    for key, value in raw.items():
        assert figures[key] == value, key
    # and the seeded story is what we think it is
    assert raw["carts_seen"] == 4 and raw["recovered"] == 3 and raw["came_back_on_own"] == 1
    assert (raw["unsubscribes"], raw["bounces"], raw["complaints"]) == (1, 1, 1)
    text = cli("summary", "--month", "2026-05", "--data-dir", str(seeded))
    assert text.returncode == 0 and "Carts seen" in text.stdout and "In May 2026" in text.stdout
    rate = f"{raw['complaints'] / raw['reminders_sent']:.2%}"
    assert re.search(rf"Complaint rate \(keep under 0\.1%\)\s+{re.escape(rate)}", text.stdout)
    assert re.search(r"Spam complaints\s+1\n", text.stdout)
    assert "1 reminder was reported as spam" in text.stdout and "keep it under 0.1%" in text.stdout


def test_summary_email_goes_to_the_owners(seeded: Path, tmp_path: Path) -> None:
    out = cli("summary", "--month", "2026-05", "--email", "--data-dir", str(seeded))
    assert out.returncode == 0, out.stderr
    outbox = sorted((seeded / "outbox").glob("*.eml"))
    assert outbox and "owner@shop.example" in outbox[-1].read_text()


def test_the_summary_email_carries_the_chart_as_an_inline_png(seeded: Path) -> None:
    # Given the month's summary as text
    text = cli("summary", "--month", "2026-05", "--data-dir", str(seeded))
    assert text.returncode == 0, text.stderr
    # When it is emailed (the outbox keeps the message as sent)
    before = set((seeded / "outbox").glob("*.eml"))
    out = cli("summary", "--month", "2026-05", "--email", "--data-dir", str(seeded))
    assert out.returncode == 0, out.stderr
    (path,) = set((seeded / "outbox").glob("*.eml")) - before
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    # Then it is multipart/alternative: the text first, then the HTML with its inline PNG
    assert isinstance(msg, EmailMessage) and msg.get_content_type() == "multipart/alternative"
    text_part, related = msg.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.iter_parts()
    assert html_part.get_content_type() == "text/html"
    # the text part is the summary as before, then the weekly bars (in USD, the EUR named)
    plain = text_part.get_content().replace("\r\n", "\n")  # the wire's line ends
    assert plain.startswith(text.stdout)
    assert plain[len(text.stdout) :] == (
        "Recovered revenue per week (USD)\n"
        "May 1–7    █████████████         $80.00\n"
        "May 8–14   ████████████████████  $120.00\n"
        "May 15–21                        $0.00\n"
        "May 22–28                        $0.00\n"
        "May 29–31                        $0.00\n"
        "Revenue is charted in USD; also recovered in other currencies: €100.00.\n"
    )
    # the HTML shows the image by its Content-ID, described in its alt text
    cid = image["Content-ID"].strip("<>")
    html = html_part.get_content()
    assert f'<img src="cid:{cid}"' in html
    assert 'alt="May 2026, per day: 4 carts left' in html and "$200.00 recovered" in html
    assert "Spam complaints" in html and "In May 2026" in html
    # and the image is a real PNG, inline, of the chart's size
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    data = image.get_content()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1200, 780)
    assert 2_000 < len(data) < 200_000


def test_bad_month_and_date_are_refused(seeded: Path) -> None:
    assert cli("summary", "--month", "May", "--data-dir", str(seeded)).returncode == 2
    assert cli("export", "--date", "12/05/2026", "--data-dir", str(seeded)).returncode == 2
