"""When the owner's reports run, in store time (pure, DST-correct).

The nightly export runs at 02:00 store time for the day before; the monthly summary at 09:00 on
the first Monday of the month, for the month before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NIGHTLY_AT = time(2, 0)
MONTHLY_AT = time(9, 0)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day``; in a spring-forward gap, the first
    instant after the gap; when ambiguous (fall back), the first occurrence."""
    # fold=0 reads a gap time with the offset before the change, which lands just after the gap
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a store-time day, in UTC."""
    return local_instant(day, time(0), zone), local_instant(day + timedelta(days=1), time(0), zone)


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return local_instant(start, time(0), zone), local_instant(end, time(0), zone)


def next_nightly(now: datetime, zone: ZoneInfo) -> tuple[datetime, date]:
    """The next nightly run after ``now`` and the day it exports (the day before it)."""
    today = now.astimezone(zone).date()
    for day in (today, today + timedelta(days=1)):
        at = local_instant(day, NIGHTLY_AT, zone)
        if at > now:
            return at, day - timedelta(days=1)
    raise AssertionError("unreachable")


def first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def next_monthly(now: datetime, zone: ZoneInfo) -> tuple[datetime, tuple[int, int]]:
    """The next monthly summary run after ``now`` and the (year, month) it covers."""
    local = now.astimezone(zone)
    year, month = local.year, local.month
    for _ in range(3):
        at = local_instant(first_monday(year, month), MONTHLY_AT, zone)
        if at > now:
            return at, previous_month(year, month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("unreachable")


def utc_stamp(t: datetime) -> str:
    """``t`` in UTC to the second, as reports write it: ``2026-05-12T14:00:00Z``."""
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    two = _TWO_DIGITS
    year = t.year
    return _STAMP % (
        year if year >= 1000 else f"{year:04d}",
        two[t.month],
        two[t.day],
        two[t.hour],
        two[t.minute],
        two[t.second],
    )


# %-formatting of strings, the two-digit ones from a table: about half the time of
# ``%02d`` for each, and a third of an f-string's (simulate writes millions of stamps)
_STAMP = "%s-%s-%sT%s:%s:%sZ"
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))
