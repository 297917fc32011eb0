"""The sender's gates (SPEC §7): address, quiet hours, do not disturb, then send.

Pure: ``now`` comes in as an argument; zoneinfo is the only source of timezone facts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import Cart, Outcome, SendRecord, SkipReason
from cart_recovery.domain.rules import QuietHours, Rules, zone_named


def zone_for(cart_timezone: str | None, rules: Rules) -> ZoneInfo:
    """The shopper's zone if it is a valid IANA name, else the store's."""
    if cart_timezone:
        zone = _shopper_zone(cart_timezone)
        if zone is not None:
            return zone
    return _store_zone(rules.store_timezone)


@functools.lru_cache(maxsize=1024)  # pure, as ``zone_named``; the gates ask on every due step
def _shopper_zone(name: str) -> ZoneInfo | None:
    return zone_named(name)


@functools.lru_cache(maxsize=64)
def _store_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=4096)  # pure: the same day, hours and zone give the same instants
def _wall_instants(day: date, quiet: QuietHours, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The instants (UTC) whose local wall time is ``quiet.end`` on ``day``, earliest first.

    Usually one; two when the clocks fall back over it; when the clocks spring forward over it
    (the wall time does not exist that day), the first instant after the gap instead.
    """
    wall = datetime.combine(day, quiet.end)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    real = tuple(
        t for t in sorted({first, second}) if t.astimezone(zone).replace(tzinfo=None) == wall
    )
    if real:
        return real
    return (_gap_end(min(first, second), max(first, second), zone),)


def _gap_end(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in ``(before, after]`` with ``after``'s UTC offset (to the microsecond)."""
    target = after.astimezone(zone).utcoffset()
    lo, hi = before, after  # offset(lo) != target, offset(hi) == target
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime | None:
    """None if ``now`` is outside quiet hours in ``zone``; else the next allowed moment, in UTC.

    That is the first instant after ``now`` whose local wall time is ``quiet.end``, computed on
    local calendar dates (DST-correct). A wall time that falls in a spring-forward gap becomes
    the first instant after the gap; one that occurs twice (fall back) is its first occurrence
    still ahead of ``now``.
    """
    tz = now.tzinfo
    if tz is not UTC and (tz is None or now.utcoffset() is None):
        raise ValueError("now must be timezone-aware")
    if quiet is None:
        return None
    local = now.astimezone(zone)  # the one conversion of ``now``; the rest is remembered
    if not quiet.contains(local.time()):
        return None
    today = local.date()
    for days in range(4):
        for candidate in _openings(today + timedelta(days=days), quiet.start, quiet.end, zone):
            if candidate > now:
                return candidate
    raise ValueError(f"quiet hours {quiet} leave no time to send in {zone.key}")  # unreachable


# Keyed by the hours' two ends rather than by ``QuietHours`` itself, whose dataclass
# ``__hash__`` (Python code) costs more than the rest of the lookup.
@functools.lru_cache(maxsize=4096)  # pure, as ``_wall_instants``
def _openings(day: date, start: time, end: time, zone: ZoneInfo) -> tuple[datetime, ...]:
    """Those of ``_wall_instants`` that are outside quiet hours: the moments on ``day`` when
    sending may start again, earliest first."""
    quiet = QuietHours(start, end)
    return tuple(
        t for t in _wall_instants(day, quiet, zone) if not quiet.contains(t.astimezone(zone).time())
    )


@dataclass(frozen=True)
class SendIt:
    """Every gate is open: compose and ship."""


@dataclass(frozen=True)
class Skip:
    """Do not send this step, ever (it is recorded as skipped and counts as done)."""

    reason: SkipReason


@dataclass(frozen=True)
class Defer:
    """Inside quiet hours: try the same step again at ``until`` (UTC)."""

    until: datetime


Verdict = SendIt | Skip | Defer


def check_gates(
    cart: Cart,
    step: int,
    *,
    rules: Rules,
    now: datetime,
    unsubscribed: bool,
    recent_sends: Iterable[SendRecord],
) -> Verdict:
    """The gates in order: address (and consent), quiet hours, do not disturb; else send.

    ``recent_sends`` are send records to this cart's address (any extra ones are ignored);
    only reminders actually sent for *another* cart inside the window block this one.
    """
    if not cart.email or not cart.email.strip():
        return Skip(SkipReason.NO_EMAIL)
    if rules.consent_required and cart.marketing_consent is not True:
        return Skip(SkipReason.NO_CONSENT)

    until = quiet_until(now, zone_for(cart.timezone, rules), rules.quiet)
    if until is not None:
        return Defer(until)

    if unsubscribed:
        return Skip(SkipReason.UNSUBSCRIBED)
    address = None
    window_start = now - rules.do_not_disturb
    for record in recent_sends:
        if (
            record.outcome == Outcome.SENT
            and record.cart_id != cart.cart_id
            and record.recipient is not None
            and window_start < record.at <= now
        ):
            if address is None:
                address = normalise_email(cart.email)
            if normalise_email(record.recipient) == address:
                return Skip(SkipReason.DO_NOT_DISTURB)
    return SendIt()
