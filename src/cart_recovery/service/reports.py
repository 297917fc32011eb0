"""The owner's reports: the nightly export and the monthly summary.

Used by the embedded runtime's report schedule, the CLI (``export``, ``summary``) and the AWS
``nightly-export`` and ``summary`` functions. Time comes in as arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency

from cart_recovery.domain.calendar import day_bounds, month_bounds
from cart_recovery.domain.export_rows import export_rows
from cart_recovery.domain.feedback import COMPLAINT_RATE_LIMIT
from cart_recovery.domain.stats import (
    CartFacts,
    MonthFigures,
    month_figures,
    plain_paragraph,
)
from cart_recovery.ports import CartStore, DocSource, Exporter, LineWriter, Mailer

log = logging.getLogger("cart_recovery.reports")


@dataclass(frozen=True)
class Summary:
    year: int
    month: int
    figures: MonthFigures
    paragraph: str
    text: str


@dataclass
class Reports:
    store: CartStore
    docs: DocSource
    exporters: Sequence[Exporter]
    action_url: Callable[[str, str], str]
    mailer: Mailer | None = None
    lines: LineWriter | None = None
    owners: Sequence[str] = ()
    sender: str = ""
    locale: str = "en_US"
    on_done: Callable[[str], None] | None = None
    _zone: ZoneInfo | None = field(default=None, repr=False)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.docs.rules().store_timezone)

    def facts(self, cart_ids: Sequence[str]) -> list[CartFacts]:
        clicks = self.store.clicks_for(list(cart_ids))
        out = []
        for cart_id in cart_ids:
            cart, sends = self.store.load(cart_id)
            if cart is not None:
                out.append(CartFacts(cart, tuple(sends), tuple(clicks.get(cart_id, ()))))
        return out

    # ---- the nightly export ---------------------------------------------------------------
    def export_day(self, day: date) -> list[str]:
        """The carts first seen on ``day`` (store time), one row each, to every exporter."""
        start, end = day_bounds(day, self.zone())
        carts = self.store.carts_between(start, end)
        rows = export_rows(
            self.facts([c.cart_id for c in carts]),
            rules=self.docs.rules(),
            action_url=self.action_url,
        )
        written: list[str] = []
        for exporter in self.exporters:
            written.extend(exporter.write(day, rows))
        log.info("export written", extra={"day": day.isoformat(), "carts": len(rows)})
        return written

    # ---- the monthly summary --------------------------------------------------------------
    def summarise(self, year: int, month: int) -> Summary:
        zone = self.zone()
        start, end = month_bounds(year, month, zone)
        ids = self.store.touched_between(start, end)
        figures = month_figures(
            self.facts(ids),
            listed=self.store.suppressions_between(start, end),
            start=start,
            end=end,
        )
        label = date(year, month, 1).strftime("%B %Y")
        store_name = self.docs.voice().store_name
        money = self.money(figures)
        plain = plain_paragraph(figures, store_name=store_name, month=label, money=money)
        paragraph = plain
        if self.lines is not None:
            polished = self.lines.summary_paragraph(plain=plain, figures=figures.as_dict())
            paragraph = polished or plain
        return Summary(year, month, figures, paragraph, self.text(figures, label, paragraph))

    def money(self, figures: MonthFigures) -> str:
        if not figures.won_back:
            return format_currency(0, "USD", locale=self.locale)
        return " + ".join(
            format_currency(v, c, locale=self.locale) for c, v in sorted(figures.won_back.items())
        )

    def text(self, f: MonthFigures, label: str, paragraph: str) -> str:
        rows = [
            ("Carts seen", f.carts_seen),
            ("Reminders sent", f.reminders_sent),
            ("Recovered", f.recovered),
            ("  clicked a reminder, then bought", f.clicked_then_bought),
            ("  bought after a reminder, no click", f.bought_after_reminder),
            ("Won back", self.money(f)),
            ("Came back on their own", f.came_back_on_own),
            ("Written off", f.written_off),
            ("Suppressed", f.suppressed),
            ("Gave up (no answer)", f.gave_up),
            ("Unsubscribes", f.unsubscribes),
            ("Bounced (not mailed again)", f.bounces),
            ("Spam complaints", f.complaints),
            (f"Complaint rate (keep under {COMPLAINT_RATE_LIMIT:.1%})", f"{f.complaint_rate:.2%}"),
        ]
        width = max(len(k) for k, _ in rows)
        table = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
        return f"Cart recovery, {label}\n\n{paragraph}\n\n{table}\n"

    def email(self, summary: Summary, now: datetime) -> EmailMessage:
        msg = EmailMessage()
        label = date(summary.year, summary.month, 1).strftime("%B %Y")
        msg["Subject"] = f"Cart recovery: {label}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.owners)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = make_msgid(f"summary.{summary.year}-{summary.month:02d}")
        msg.set_content(summary.text)
        return msg

    def send_summary(self, summary: Summary, now: datetime) -> bool:
        if self.mailer is None or not self.owners or not self.sender:
            log.info("summary not emailed: no owner addresses configured")
            return False
        self.mailer.send(self.email(summary, now))
        return True


def run_nightly_export(reports: Reports, day: date) -> list[str]:
    return reports.export_day(day)


def run_monthly_summary(reports: Reports, year: int, month: int, now: datetime) -> Summary:
    summary = reports.summarise(year, month)
    reports.send_summary(summary, now)
    return summary


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "month": f"{summary.year}-{summary.month:02d}",
        "figures": summary.figures.as_dict(),
        "paragraph": summary.paragraph,
    }
