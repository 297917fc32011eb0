"""The owner's reports: the nightly export and the monthly summary.

Used by the embedded runtime's report schedule, the CLI (``export``, ``summary``) and the AWS
``nightly-export`` and ``summary`` functions. Time comes in as arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency
from markupsafe import escape

from cart_recovery.domain.calendar import day_bounds, month_bounds
from cart_recovery.domain.chart import Chart, chart, text_bars
from cart_recovery.domain.chart_png import png
from cart_recovery.domain.export_rows import EXPORT_WINDOW_DAYS, Row, export_rows
from cart_recovery.domain.feedback import COMPLAINT_RATE_LIMIT
from cart_recovery.domain.model import CloseReason, Status
from cart_recovery.domain.series import MonthSeries, month_series
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
    series: MonthSeries | None = None  # the month day by day, for the chart


OWNER_CLOSES = frozenset({CloseReason.SUPPRESSED, CloseReason.WRITTEN_OFF})


def cart_facts(store: CartStore, cart_ids: Sequence[str]) -> list[CartFacts]:
    """The given carts with their sends and clicks (unknown ids are left out), and who closed
    each cart an owner suppressed or wrote off (the audit row of that close)."""
    clicks = store.clicks_for(list(cart_ids))
    out = []
    for cart_id in cart_ids:
        cart, sends = store.load(cart_id)
        if cart is None:
            continue
        closed_by = None
        if cart.status is Status.CLOSED and cart.close_reason in OWNER_CLOSES:
            rows = [a for a in store.audit(cart_id) if a.action == str(cart.close_reason)]
            closed_by = rows[-1].by if rows else None
        out.append(CartFacts(cart, tuple(sends), tuple(clicks.get(cart_id, ())), closed_by))
    return out


def month_series_of(store: CartStore, zone: ZoneInfo, year: int, month: int) -> MonthSeries:
    """The month's figures day by day (the dashboard's month chart), in store time ``zone``."""
    start, end = month_bounds(year, month, zone)
    facts = cart_facts(store, store.touched_between(start, end))
    return month_series(facts, year=year, month=month, zone=zone)


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
    window_days: int = EXPORT_WINDOW_DAYS
    # The latest export as a link for the summary email (AWS: a presigned S3 GET), or None.
    export_link: Callable[[], str | None] | None = None
    _zone: ZoneInfo | None = field(default=None, repr=False)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.docs.rules().store_timezone)

    def facts(self, cart_ids: Sequence[str]) -> list[CartFacts]:
        return cart_facts(self.store, cart_ids)

    # ---- the nightly export ---------------------------------------------------------------
    def export_window(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of the ``window_days`` store-time days ending with ``day``."""
        zone = self.zone()
        start, _ = day_bounds(day - timedelta(days=self.window_days - 1), zone)
        _, end = day_bounds(day, zone)
        return start, end

    def window_rows(
        self, day: date, action_url: Callable[[str, str], str] | None = None
    ) -> list[Row]:
        """Every cart with activity (created, an event, an audit row) in the window ending
        with ``day`` (store time), one row each in its current state; the owner action links
        made by ``action_url`` (default: the unnamed owner's, as the shared sheet has)."""
        start, end = self.export_window(day)
        return export_rows(
            self.facts(self.store.touched_between(start, end)),
            rules=self.docs.rules(),
            action_url=action_url or self.action_url,
        )

    def export_day(self, day: date) -> list[str]:
        """The window's rows (``window_rows``) to every exporter."""
        rows = self.window_rows(day)
        written: list[str] = []
        for exporter in self.exporters:
            written.extend(exporter.write(day, rows))
        log.info(
            "export written",
            extra={"day": day.isoformat(), "days": self.window_days, "carts": len(rows)},
        )
        return written

    # ---- the monthly summary --------------------------------------------------------------
    def summarise(self, year: int, month: int) -> Summary:
        zone = self.zone()
        start, end = month_bounds(year, month, zone)
        facts = self.facts(self.store.touched_between(start, end))
        figures = month_figures(
            facts,
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
        series = month_series(facts, year=year, month=month, zone=zone)
        text = self.text(figures, label, paragraph)
        return Summary(year, month, figures, paragraph, text, series)

    def money(self, figures: MonthFigures) -> str:
        if not figures.won_back:
            return format_currency(0, "USD", locale=self.locale)
        return " + ".join(
            format_currency(v, c, locale=self.locale) for c, v in sorted(figures.won_back.items())
        )

    def rows(self, f: MonthFigures) -> list[tuple[str, object]]:
        """The summary's table, label and value, as the text and the HTML part show it."""
        return [
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

    def text(self, f: MonthFigures, label: str, paragraph: str) -> str:
        rows = self.rows(f)
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
        link = self.export_link() if self.export_link is not None else None
        text = summary.text
        if link:
            text += (
                f"\nEvery cart of the last {self.window_days} days, as a spreadsheet"
                f" (the link works for 7 days):\n{link}\n"
            )
        if summary.series is None:
            msg.set_content(text)
            return msg
        # multipart/alternative: the text (with the chart as weekly bars), then the HTML with
        # the chart as an inline PNG (mail clients show no SVG) in a multipart/related
        drawing = chart(summary.series, locale=self.locale)
        bars = text_bars(summary.series, locale=self.locale, currency=drawing.currency)
        msg.set_content(text + "\n" + bars + (f"{drawing.note}\n" if drawing.note else ""))
        cid = f"chart.{summary.year}-{summary.month:02d}@cart-recovery"
        msg.add_alternative(self.html(summary, label, drawing, cid, link), subtype="html")
        html = msg.get_body(("html",))
        assert html is not None  # just added
        html.add_related(
            png(drawing),
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            disposition="inline",
            filename=f"cart-recovery-{summary.year}-{summary.month:02d}.png",
        )
        return msg

    def html(
        self, summary: Summary, label: str, drawing: Chart, cid: str, link: str | None = None
    ) -> str:
        """The HTML part: the paragraph, the chart (``cid:`` the inline PNG, its description
        as the alt text), the table and the link to the export, styled inline as mail
        clients need."""
        cells = "".join(
            f'<tr><td style="padding:4px 12px 4px 0">{escape(k.strip())}</td>'
            f'<td style="padding:4px 0;text-align:right">{escape(str(v))}</td></tr>'
            for k, v in self.rows(summary.figures)
        )
        note = f'<p style="font-size:13px;color:#59665f">{escape(drawing.note)}</p>'
        export = (
            f'<p style="margin-top:16px"><a href="{escape(link)}">Every cart of the last'
            f" {self.window_days} days, as a spreadsheet</a> (the link works for 7 days)</p>"
            if link
            else ""
        )
        return (
            '<!doctype html><html><head><meta charset="utf-8">'
            f"<title>Cart recovery, {escape(label)}</title></head>"
            '<body style="margin:0;padding:16px;background:#f6f4f0;color:#1d2623;'
            'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif">'
            '<div style="max-width:640px;margin:0 auto;background:#ffffff;padding:20px;'
            'border:1px solid #e4ded3;border-radius:12px">'
            f'<h1 style="font-size:20px;margin:0 0 12px">Cart recovery, {escape(label)}</h1>'
            f'<p style="line-height:1.5">{escape(summary.paragraph)}</p>'
            f'<h2 style="font-size:16px;margin:20px 0 8px">{escape(drawing.title)}</h2>'
            f'<img src="cid:{escape(cid)}" width="600" alt="{escape(drawing.desc)}" '
            'style="display:block;width:100%;max-width:600px;height:auto;border:0">'
            + (note if drawing.note else "")
            + f'<table style="border-collapse:collapse;margin-top:16px">{cells}</table>'
            + export
            + "</div></body></html>"
        )

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
