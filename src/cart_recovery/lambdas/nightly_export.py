"""``nightly-export`` (Scheduler ``cron(0 2 * * ? *)`` in the store's timezone): the carts of
the day before, one row each, to the owner's sheet (``reporting.run_nightly_export``).

The input may name the day, ``{"day": "YYYY-MM-DD"}``, to export one again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cart_recovery.bootstrap.aws import AwsApp, current_app
from cart_recovery.service.reports import run_nightly_export


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(event, current_app())


def handle(event: Mapping[str, Any], app: AwsApp) -> dict[str, Any]:
    app.begin()
    requested = event.get("day") if isinstance(event, Mapping) else None
    if isinstance(requested, str) and requested:
        day = date.fromisoformat(requested)
    else:
        zone = ZoneInfo(app.docs.rules().store_timezone)
        day = app.now().astimezone(zone).date() - timedelta(days=1)
    written = run_nightly_export(app.reports(), day)
    return {"day": day.isoformat(), "written": written}
