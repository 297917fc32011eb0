"""The sender's gates (SPEC §7): address, consent, quiet hours (DST-correct), do not disturb."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart_recovery.domain.gates import (
    Defer,
    SendIt,
    Skip,
    Verdict,
    check_gates,
    quiet_until,
    zone_for,
)
from cart_recovery.domain.model import Outcome, SendRecord, SkipReason
from cart_recovery.domain.rules import QuietHours, Rules
from tests.conftest import make_cart, sent

NIGHT = QuietHours(time(21), time(8))
NEW_YORK = ZoneInfo("America/New_York")
NOON_NY = datetime(2026, 5, 12, 16, 0, tzinfo=UTC)  # 12:00 in New York
LATE_NY = datetime(2026, 5, 13, 2, 0, tzinfo=UTC)  # 22:00 in New York


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


# ---- zones ------------------------------------------------------------------------------


def test_zone_is_the_shoppers_when_valid(rules: Rules) -> None:
    assert zone_for("Europe/London", rules).key == "Europe/London"


@pytest.mark.parametrize("bad", [None, "", "Mars/Olympus", "America", "../etc/passwd"])
def test_zone_falls_back_to_the_store(rules: Rules, bad: str | None) -> None:
    assert zone_for(bad, rules).key == "America/New_York"


# ---- quiet hours: exact instants across DST ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now", "quiet", "expected"),
    [
        # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT
        ("America/New_York", local("2026-03-07T22:00", "America/New_York"), NIGHT,
         utc("2026-03-08T12:00")),  # 08:00 EDT
        ("America/New_York", local("2026-03-08T01:30", "America/New_York"),
         QuietHours(time(1), time(3)), utc("2026-03-08T07:00")),  # 03:00 EDT
        ("America/New_York", local("2026-03-08T01:30", "America/New_York"),
         QuietHours(time(1), time(2, 30)), utc("2026-03-08T07:00")),  # 02:30 missing: 03:00
        # New York falls back 2026-11-01 02:00 EDT -> 01:00 EST
        ("America/New_York", local("2026-10-31T22:00", "America/New_York"), NIGHT,
         utc("2026-11-01T13:00")),  # 08:00 EST
        ("America/New_York", local("2026-11-01T01:10", "America/New_York"),
         QuietHours(time(0), time(1, 30)), utc("2026-11-01T05:30")),  # first 01:30 (EDT)
        ("America/New_York", local("2026-11-01T01:10", "America/New_York", fold=1),
         QuietHours(time(0), time(1, 30)), utc("2026-11-01T06:30")),  # already past: 01:30 EST
        # London springs forward 2026-03-29 01:00 GMT -> 02:00 BST
        ("Europe/London", local("2026-03-28T23:00", "Europe/London"), NIGHT,
         utc("2026-03-29T07:00")),  # 08:00 BST
        ("Europe/London", local("2026-03-29T00:45", "Europe/London"),
         QuietHours(time(0, 30), time(1, 30)), utc("2026-03-29T01:00")),  # 01:30 missing
        # London falls back 2026-10-25 02:00 BST -> 01:00 GMT
        ("Europe/London", local("2026-10-24T22:00", "Europe/London"), NIGHT,
         utc("2026-10-25T08:00")),  # 08:00 GMT
        ("Europe/London", local("2026-10-25T00:30", "Europe/London"),
         QuietHours(time(0), time(1, 30)), utc("2026-10-25T00:30")),  # first 01:30 (BST)
        # Sydney springs forward 2026-10-04 02:00 AEST -> 03:00 AEDT
        ("Australia/Sydney", local("2026-10-03T22:00", "Australia/Sydney"), NIGHT,
         utc("2026-10-03T21:00")),  # 08:00 AEDT
        ("Australia/Sydney", local("2026-10-04T01:30", "Australia/Sydney"),
         QuietHours(time(1), time(3)), utc("2026-10-03T16:00")),  # 03:00 AEDT
        ("Australia/Sydney", local("2026-10-04T01:30", "Australia/Sydney"),
         QuietHours(time(1), time(2, 30)), utc("2026-10-03T16:00")),  # 02:30 missing
        # Sydney falls back 2026-04-05 03:00 AEDT -> 02:00 AEST
        ("Australia/Sydney", local("2026-04-04T22:00", "Australia/Sydney"), NIGHT,
         utc("2026-04-04T22:00")),  # 08:00 AEST
        ("Australia/Sydney", local("2026-04-05T02:30", "Australia/Sydney"),
         QuietHours(time(1), time(2, 45)), utc("2026-04-04T15:45")),  # first 02:45 (AEDT)
        # Kolkata has no DST: +05:30 all year
        ("Asia/Kolkata", local("2026-03-08T22:00", "Asia/Kolkata"), NIGHT,
         utc("2026-03-09T02:30")),
        ("Asia/Kolkata", local("2026-11-01T03:00", "Asia/Kolkata"), NIGHT,
         utc("2026-11-01T02:30")),
    ],
)  # fmt: skip
def test_quiet_until_exact_instants_across_dst(
    zone: str, now: datetime, quiet: QuietHours, expected: datetime
) -> None:
    # Given a moment inside quiet hours / When asked for the next allowed moment
    until = quiet_until(now, ZoneInfo(zone), quiet)
    # Then it is exactly the expected UTC instant, returned in UTC
    assert until == expected
    assert until is not None and until.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("wall", "inside"),
    [("20:59:59", False), ("21:00:00", True), ("23:59:59", True), ("00:00:00", True),
     ("07:59:59", True), ("08:00:00", False), ("12:00:00", False)],
)  # fmt: skip
def test_quiet_hours_boundaries(wall: str, inside: bool) -> None:
    now = local(f"2026-05-12T{wall}", "America/New_York")
    until = quiet_until(now, NEW_YORK, NIGHT)
    assert (until is not None) is inside
    if inside:
        assert until is not None and until.astimezone(NEW_YORK).time() == time(8)


def test_no_quiet_hours_never_defers() -> None:
    assert quiet_until(LATE_NY, NEW_YORK, None) is None


def test_quiet_until_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        quiet_until(datetime(2026, 5, 12, 22), NEW_YORK, NIGHT)


# ---- the gates and their order -----------------------------------------------------------


def test_all_gates_open_sends(rules: Rules) -> None:
    assert check_gates(make_cart(), 1, rules=rules, now=NOON_NY, unsubscribed=False,
                       recent_sends=[]) == SendIt()  # fmt: skip


@pytest.mark.parametrize("email", [None, "", "   "])
def test_no_email_is_skipped_before_everything(rules: Rules, email: str | None) -> None:
    # Given a cart with no address, at night, unsubscribed-looking: the address gate comes first
    verdict = check_gates(make_cart(email=email), 1, rules=rules, now=LATE_NY,
                          unsubscribed=True, recent_sends=[])  # fmt: skip
    assert verdict == Skip(SkipReason.NO_EMAIL)


@pytest.mark.parametrize("consent", [None, False])
def test_consent_mode_skips_without_consent_before_quiet_hours(
    rules: Rules, consent: bool | None
) -> None:
    strict = dataclasses.replace(rules, consent_required=True)
    verdict = check_gates(make_cart(marketing_consent=consent), 1, rules=strict, now=LATE_NY,
                          unsubscribed=False, recent_sends=[])  # fmt: skip
    assert verdict == Skip(SkipReason.NO_CONSENT)


def test_consent_mode_sends_with_consent(rules: Rules) -> None:
    strict = dataclasses.replace(rules, consent_required=True)
    verdict = check_gates(make_cart(marketing_consent=True), 1, rules=strict, now=NOON_NY,
                          unsubscribed=False, recent_sends=[])  # fmt: skip
    assert verdict == SendIt()


def test_consent_not_needed_when_mode_off(rules: Rules) -> None:
    verdict = check_gates(make_cart(marketing_consent=False), 1, rules=rules, now=NOON_NY,
                          unsubscribed=False, recent_sends=[])  # fmt: skip
    assert verdict == SendIt()


def test_quiet_hours_defer_before_unsubscribe_and_dnd_are_checked(rules: Rules) -> None:
    # Given an unsubscribed address at 22:00 New York: the deferral comes first, and the
    # unsubscribe is checked at the moment of the actual send
    blocker = sent(1, LATE_NY - timedelta(hours=1), cart_id="other")
    verdict = check_gates(make_cart(), 1, rules=rules, now=LATE_NY, unsubscribed=True,
                          recent_sends=[blocker])  # fmt: skip
    assert verdict == Defer(utc("2026-05-13T12:00"))


def test_quiet_hours_use_the_shoppers_timezone(rules: Rules) -> None:
    # Given 22:00 in New York, which is 03:00 in London
    cart = make_cart(timezone="Europe/London")
    verdict = check_gates(cart, 1, rules=rules, now=LATE_NY, unsubscribed=False,
                          recent_sends=[])  # fmt: skip
    # Then the deferral is to 08:00 London time (BST)
    assert verdict == Defer(utc("2026-05-13T07:00"))


def test_quiet_hours_fall_back_to_the_store_zone_for_a_bad_shopper_zone(rules: Rules) -> None:
    cart = make_cart(timezone="Nowhere/Special")
    verdict = check_gates(cart, 1, rules=rules, now=LATE_NY, unsubscribed=False,
                          recent_sends=[])  # fmt: skip
    assert verdict == Defer(utc("2026-05-13T12:00"))


def test_unsubscribed_is_skipped_before_dnd(rules: Rules) -> None:
    blocker = sent(1, NOON_NY - timedelta(hours=1), cart_id="other")
    verdict = check_gates(make_cart(), 1, rules=rules, now=NOON_NY, unsubscribed=True,
                          recent_sends=[blocker])  # fmt: skip
    assert verdict == Skip(SkipReason.UNSUBSCRIBED)


# ---- do not disturb ---------------------------------------------------------------------


def gate(rules: Rules, *records: SendRecord, email: str = "maya@example.com") -> Verdict:
    """Step 2 of cart c1, at noon in New York, with these send records to the address."""
    return check_gates(make_cart(email=email), 2, rules=rules, now=NOON_NY,
                       unsubscribed=False, recent_sends=records)  # fmt: skip


def test_dnd_a_carts_own_first_reminder_never_blocks_its_second(rules: Rules) -> None:
    assert gate(rules, sent(1, NOON_NY - timedelta(hours=20), cart_id="c1")) == SendIt()


def test_dnd_another_carts_reminder_inside_the_window_blocks(rules: Rules) -> None:
    record = sent(1, NOON_NY - timedelta(days=2), cart_id="c2")
    assert gate(rules, record) == Skip(SkipReason.DO_NOT_DISTURB)


def test_dnd_window_edges(rules: Rules) -> None:
    window = rules.do_not_disturb
    # exactly one window ago: outside (now - window < at is strict)
    assert gate(rules, sent(1, NOON_NY - window, cart_id="c2")) == SendIt()
    # a second inside the window: blocks
    inside = sent(1, NOON_NY - window + timedelta(seconds=1), cart_id="c2")
    assert gate(rules, inside) == Skip(SkipReason.DO_NOT_DISTURB)
    # sent this very instant: blocks
    assert gate(rules, sent(1, NOON_NY, cart_id="c2")) == Skip(SkipReason.DO_NOT_DISTURB)
    # a record "from the future" (after now) does not count
    assert gate(rules, sent(1, NOON_NY + timedelta(seconds=1), cart_id="c2")) == SendIt()


def test_dnd_outside_the_window_does_not_block(rules: Rules) -> None:
    assert gate(rules, sent(1, NOON_NY - timedelta(days=4), cart_id="c2")) == SendIt()


def test_dnd_compares_addresses_case_insensitively(rules: Rules) -> None:
    record = sent(1, NOON_NY - timedelta(hours=5), cart_id="c2", to="MAYA@Example.COM")
    assert gate(rules, record) == Skip(SkipReason.DO_NOT_DISTURB)
    assert gate(rules, sent(1, NOON_NY, cart_id="c2"), email="Maya@EXAMPLE.com") == Skip(
        SkipReason.DO_NOT_DISTURB
    )


def test_dnd_only_counts_reminders_actually_sent_to_the_same_address(rules: Rules) -> None:
    hour_ago = NOON_NY - timedelta(hours=1)
    for outcome in (Outcome.SKIPPED, Outcome.DEFERRED, Outcome.CLAIMED, Outcome.UNCERTAIN):
        assert gate(rules, sent(1, hour_ago, cart_id="c2", outcome=outcome)) == SendIt()
    assert gate(rules, sent(1, hour_ago, cart_id="c2", to="someone@else.com")) == SendIt()


def test_dnd_skip_for_the_later_cart_at_the_same_moment(rules: Rules) -> None:
    # Given two carts of one address both deferred to 08:00; the first (cart_id order) was sent
    now = utc("2026-05-13T12:00")
    first = sent(1, now, cart_id="a-cart")
    # When the second cart's reminder reaches the gates at the same instant
    verdict = check_gates(make_cart(cart_id="b-cart"), 1, rules=rules, now=now,
                          unsubscribed=False, recent_sends=[first])  # fmt: skip
    # Then it is skipped for do-not-disturb
    assert verdict == Skip(SkipReason.DO_NOT_DISTURB)


# ---- property: the next allowed moment is allowed, and nothing earlier is ---------------

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata",
         "America/Sao_Paulo", "Pacific/Chatham", "Australia/Lord_Howe", "UTC"]  # fmt: skip
_minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
_quiet = st.one_of(
    st.sampled_from([NIGHT, QuietHours(time(1), time(3)), QuietHours(time(0), time(1, 30)),
                     QuietHours(time(22, 30), time(2, 30)), QuietHours(time(12), time(0))]),
    st.tuples(_minutes, _minutes).filter(lambda t: t[0] != t[1]).map(lambda t: QuietHours(*t)),
)  # fmt: skip
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def _is_gap_edge(t: datetime, zone: ZoneInfo) -> bool:
    before = (t - timedelta(microseconds=1)).astimezone(zone)
    return before.utcoffset() != t.astimezone(zone).utcoffset()


@settings(max_examples=500, deadline=None)
@given(_instants, st.sampled_from(ZONES), _quiet)
def test_quiet_until_lands_on_the_first_allowed_minute(
    now: datetime, zone_name: str, quiet: QuietHours
) -> None:
    zone = ZoneInfo(zone_name)
    until = quiet_until(now, zone, quiet)
    if until is None:
        # Then now itself is allowed
        assert not quiet.contains(now.astimezone(zone).time())
        return
    # Then now was quiet, the answer is later, in UTC, and allowed
    assert quiet.contains(now.astimezone(zone).time())
    assert until > now and until.tzinfo is UTC
    wall = until.astimezone(zone)
    assert not quiet.contains(wall.time())
    # ... it is the end of quiet hours (or the first instant after a gap that swallowed it)
    edge = _is_gap_edge(until, zone)
    assert wall.time() == quiet.end or edge
    # ... and no earlier allowed minute: the minute before it was still quiet
    if not edge:
        before = max(now, until - timedelta(minutes=1))
        assert quiet.contains(before.astimezone(zone).time())
