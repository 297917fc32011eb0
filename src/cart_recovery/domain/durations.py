"""Durations as owners write them: ``4 hours``, ``90 minutes``, ``1.5 days``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "wk": 604800,
    "wks": 604800,
    "week": 604800,
    "weeks": 604800,
}
_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "an": 1,
    "a": 1,
}

DURATION_RE = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|" + "|".join(_WORDS) + r")\s*(?P<unit>[a-z]+)?", re.IGNORECASE
)


MAX_SECONDS = 3650 * 86400  # ten years: anything longer is a typo, and would overflow timedelta


class DurationError(ValueError):
    """A duration that cannot be read."""


def unit_seconds(unit: str) -> int:
    try:
        return _UNITS[unit.lower()]
    except KeyError:
        raise DurationError(f"unknown unit {unit!r} (use minutes, hours or days)") from None


def number(text: str) -> float:
    t = text.lower()
    return float(_WORDS[t]) if t in _WORDS else float(t)


def parse_duration(text: str, default_unit: str | None = None) -> timedelta:
    """``"4 hours"`` → 4h. A bare number takes ``default_unit``; without one it is an error."""
    m = DURATION_RE.fullmatch(text.strip())
    if not m:
        raise DurationError(f"cannot read {text!r} as a duration (e.g. '4 hours', '30 minutes')")
    unit = m.group("unit") or default_unit
    if unit is None:
        raise DurationError(f"{text!r} needs a unit (minutes, hours or days)")
    seconds = number(m.group("num")) * unit_seconds(unit)
    if seconds <= 0:
        raise DurationError(f"{text!r} must be longer than zero")
    if seconds > MAX_SECONDS:
        raise DurationError(f"{text!r} is too long (at most {MAX_SECONDS // 86400} days)")
    if round(seconds) < 1:
        raise DurationError(f"{text!r} is too short")
    return timedelta(seconds=round(seconds))


def unit_of(text: str) -> str | None:
    """The unit written in a duration (``"4 hours"`` → ``"hours"``), or None for a bare number."""
    m = DURATION_RE.fullmatch(text.strip())
    return m.group("unit") if m else None


def format_duration(d: timedelta) -> str:
    """The shortest exact owner-facing form: ``1 day``, ``22 hours``, ``90 minutes``."""
    s = int(d.total_seconds())
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s % size == 0 and s >= size:
            n = s // size
            return f"{n} {name}{'' if n == 1 else 's'}"
    return f"{s} seconds"
