"""IANA timezones by name, in any letter case, remembered (a hot path of ``simulate``)."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


@functools.lru_cache(maxsize=1024)
def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name`` (any letter case), or None if there is no such zone.
    Remembered: zoneinfo itself keeps only the last few zones, and reading one is slow."""
    key = _zone_names().get(name.strip().casefold(), name.strip())
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
