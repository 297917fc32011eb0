"""Report times in store time, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from cart_recovery.domain.calendar import (
    first_monday,
    local_instant,
    month_bounds,
    next_monthly,
    next_nightly,
    utc_stamp,
)

NY = ZoneInfo("America/New_York")


def test_nightly_runs_at_two_am_store_time_for_the_day_before() -> None:
    now = datetime(2026, 5, 12, 18, 0, tzinfo=UTC)  # 14:00 in New York
    at, day = next_nightly(now, NY)
    assert at == datetime(2026, 5, 13, 6, 0, tzinfo=UTC) and day == date(2026, 5, 12)


def test_nightly_on_spring_forward_night_runs_right_after_the_gap() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00
    at, day = next_nightly(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), NY)
    assert at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the first valid instant
    assert day == date(2026, 3, 7)


def test_nightly_on_fall_back_night_runs_once_at_the_first_two_am() -> None:
    # 2026-11-01: New York clocks fall back from 02:00 EDT to 01:00 EST
    at, _ = next_nightly(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), NY)
    assert at == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 02:00 EST (only one 02:00 exists)


def test_first_monday() -> None:
    assert first_monday(2026, 6) == date(2026, 6, 1)
    assert first_monday(2026, 5) == date(2026, 5, 4)
    assert first_monday(2026, 11) == date(2026, 11, 2)


def test_monthly_runs_first_monday_nine_am_for_the_month_before() -> None:
    at, (year, month) = next_monthly(datetime(2026, 5, 12, tzinfo=UTC), NY)
    assert at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC) and (year, month) == (2026, 5)
    at, covered = next_monthly(datetime(2026, 12, 20, tzinfo=UTC), NY)
    assert at == local_instant(date(2027, 1, 4), at.astimezone(NY).time(), NY)
    assert covered == (2026, 12)


def test_month_bounds_in_store_time() -> None:
    start, end = month_bounds(2026, 3, NY)
    assert start == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    assert end == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)


def test_utc_stamp_is_utc_to_the_second_with_four_digit_years() -> None:
    # Given times in UTC and in a store's zone, with microseconds and small years
    # When they are stamped
    # Then each is its UTC instant to the second, zero-padded, with a Z
    assert utc_stamp(datetime(2026, 5, 12, 14, 0, 7, 999_999, tzinfo=UTC)) == "2026-05-12T14:00:07Z"
    assert utc_stamp(datetime(2026, 1, 1, 0, 30, tzinfo=NY)) == "2026-01-01T05:30:00Z"
    assert utc_stamp(datetime(999, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0999-02-03T04:05:06Z"
    assert utc_stamp(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) == "9999-12-31T23:59:59Z"
