"""``summary`` (Scheduler ``cron(0 9 ? * 2#1 *)``, the first Monday at 9am store time): the
month before, as figures and a short paragraph, emailed to the owners through SES
(``reporting.run_monthly_summary``).

The input may name the month, ``{"month": "YYYY-MM"}``, to send one again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cart_recovery.bootstrap.aws import AwsApp, current_app
from cart_recovery.service.reports import run_monthly_summary, summary_json


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    app.begin()
    now = app.now()
    requested = event.get("month") if isinstance(event, Mapping) else None
    if isinstance(requested, str) and requested:
        year_text, _, month_text = requested.partition("-")
        year, month = int(year_text), int(month_text)
        if not 1 <= month <= 12:
            raise ValueError(f"not a month: {requested!r}")
    else:
        local = now.astimezone(ZoneInfo(app.docs.rules().store_timezone))
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    summary = run_monthly_summary(app.reports(), year, month, now)
    return summary_json(summary)
