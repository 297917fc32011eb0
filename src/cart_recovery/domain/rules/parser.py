"""Reading the rules doc, line by line, into ``Rules`` (or a ``RulesError`` naming every line).

A line the parser cannot read is an error naming its line number and its text; it never guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation

from cart_recovery.domain.durations import (
    DurationError,
    format_duration,
    number,
    parse_duration,
    unit_of,
)
from cart_recovery.domain.rules.model import (
    MAX_REMINDERS,
    Problem,
    QuietHours,
    Rules,
    RulesError,
    SizeTier,
)
from cart_recovery.domain.rules.tiers import TierLine, check_tiers
from cart_recovery.domain.rules.zones import zone_named

_EXAMPLES = {
    "tiers": "'Medium carts: 2 hours, then 22.'",
    "quiet": "'Quiet hours: 9pm to 8am.' or 'Quiet hours: none.'",
    "dnd": "'Do not disturb: skip anyone who got a reminder in the last 3 days.'",
    "reminders": "'Give up after two reminders.'",
    "close_out": "'Give up 24 hours after the last reminder.'",
    "min_gap": "'Leave at least 12 hours between reminders.'",
    "max_age": "'Never remind a cart older than 7 days.'",
    "consent": "'Only remind shoppers who agreed to marketing email.'",
    "timezone": "'Store timezone: America/New_York.'",
}
_LABELS = {
    "quiet": "quiet hours",
    "dnd": "do-not-disturb window",
    "reminders": "number of reminders",
    "close_out": "close-out time",
    "min_gap": "minimum gap between reminders",
    "max_age": "maximum cart age",
    "consent": "consent rule",
    "timezone": "store timezone",
}
_REQUIRED = ("quiet", "dnd", "reminders", "timezone")

_I = re.IGNORECASE
_MONEY_RE = re.compile(
    r"(?:[$€£]\s*)?(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s*(?:dollars|euros|pounds|usd|eur|gbp))?",
    _I,
)
_UNDER_RE = re.compile(r"(?:under|below|less\s+than)\s+(?P<m>.+)", _I)
_OVER_RE = re.compile(r"(?:over|above|more\s+than)\s+(?P<m>.+)", _I)
_BETWEEN_RE = re.compile(r"between\s+(?P<a>.+?)\s+and\s+(?P<b>.+)", _I)

_TIER_HEAD_RE = re.compile(r"(?P<name>[^:()]+?)\s+carts?\b(?P<bound>[^:]*):(?P<waits>.*)", _I)
_TIER_NAME_RE = re.compile(r"[a-z0-9][a-z0-9 '\-]*", _I)
_WAITS_RE = re.compile(
    r"(?:(?:remind|wait)\s+)?(?:(?:after|in)\s+)?(?P<d1>.+?)\s*(?:,\s*|\s+)(?:and\s+)?then\s+"
    r"(?:again\s+)?(?:(?:after|in)\s+)?(?P<d2>.+?)(?:\s+later)?",
    _I,
)

_QUIET_HEAD_RE = re.compile(r"quiet\s+hours?\b\s*:?\s*(?P<rest>.*)", _I)
_QUIET_NONE_RE = re.compile(r"none|off|no|never", _I)
_QUIET_SPAN_RE = re.compile(
    r"(?:from\s+|are\s+)?(?P<a>.+?)(?:\s*[-–—]\s*|\s+(?:to|until|till)\s+)(?P<b>.+)", _I
)
_CLOCK_RE = re.compile(
    r"(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?:(?P<am>a\.?\s?m\.?)|(?P<pm>p\.?\s?m\.?))?", _I
)

_DND_HEAD_RE = re.compile(r"do[\s-]+not[\s-]+disturb\b\s*:?\s*(?P<rest>.*)", _I)
_DND_BODY_RE = re.compile(
    r"(?:(?:skip|do\s+not\s+remind|don't\s+remind|never\s+remind)\s+"
    r"(?:anyone|anybody|shoppers?|people|customers?)\s+(?:who\s+|that\s+)?"
    r"(?:got|received|was\s+sent|were\s+sent|has\s+had|had|has\s+got)\s+"
    r"(?:a\s+|an\s+|any\s+)?(?:reminder|email)s?\s+)?"
    r"(?:(?:with)?in\s+the\s+(?:last|past)\s+|within\s+|for\s+)?(?P<d>.+)",
    _I,
)
_GIVE_UP_HEAD_RE = re.compile(r"(?:give\s+up|stop)\b\s*(?P<rest>.*)", _I)
_GIVE_UP_COUNT_RE = re.compile(r"after\s+(?P<n>\S+)\s+reminders?", _I)
_CLOSE_OUT_RE = re.compile(
    r"(?P<d>.+?)\s+after\s+(?:the\s+)?(?:last|final|latest)\s+(?:reminder|one|email)", _I
)
_MIN_GAP_HEAD_RE = re.compile(r"(?:leave|wait|keep)\s+at\s+least\b\s*(?P<rest>.*)", _I)
_MIN_GAP_RE = re.compile(r"(?P<d>.+?)\s+between\s+(?:the\s+)?reminders", _I)
_MAX_AGE_HEAD_RE = re.compile(r"never\s+remind\b\s*(?P<rest>.*)", _I)
_MAX_AGE_RE = re.compile(
    r"(?:an?\s+|any\s+)?carts?\s+(?:that\s+(?:is|are)\s+|that's\s+)?older\s+than\s+(?P<d>.+)", _I
)
_CONSENT_HEAD_RE = re.compile(r"only\s+(?:remind|email)\b\s*(?P<rest>.*)", _I)
_CONSENT_RE = re.compile(
    r"(?:shoppers|customers|people|those|anyone)\s+who\s+(?:have\s+)?"
    r"(?:agreed|opted\s+in|consented|signed\s+up|said\s+yes)\s+to\s+(?:receive\s+|get\s+)?"
    r"marketing(?:\s+e-?mails?)?",
    _I,
)
_TZ_HEAD_RE = re.compile(r"(?:store\s+)?time\s*zone\b\s*:?\s*(?:is\s+)?(?P<rest>.*)", _I)


class _LineError(ValueError):
    """What is wrong with one line (becomes a ``Problem``)."""


def _money(text: str) -> Decimal:
    m = _MONEY_RE.fullmatch(text.strip())
    if not m:
        raise _LineError(f"cannot read {text.strip()!r} as an amount (e.g. '$40' or '$1,000')")
    try:
        return Decimal(m.group("amount").replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern only admits plain numbers
        raise _LineError(f"cannot read {text.strip()!r} as an amount") from None


def _bound(text: str) -> tuple[Decimal | None, Decimal | None, tuple[Decimal, Decimal] | None]:
    """``under``, ``over`` and ``between`` from a tier's size words (parentheses optional)."""
    t = text.strip()
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1].strip()
    if not t:
        return None, None, None
    hint = "write 'under $40', 'over $150' or 'between $40 and $150'"
    m = _BETWEEN_RE.fullmatch(t)
    if m:
        low, high = _money(m.group("a")), _money(m.group("b"))
        if low > high:
            raise _LineError(f"between {low} and {high}: the smaller amount goes first")
        return None, None, (low, high)
    under: Decimal | None = None
    over: Decimal | None = None
    for clause in re.split(r"\s*,\s+(?:and\s+)?|\s+and\s+", t, flags=_I):
        mu, mo = _UNDER_RE.fullmatch(clause), _OVER_RE.fullmatch(clause)
        if mu and under is None:
            under = _money(mu.group("m"))
        elif mo and over is None:
            over = _money(mo.group("m"))
        else:
            raise _LineError(f"cannot read the cart size {text.strip()!r}: {hint}")
    if under is not None and under <= 0:
        raise _LineError(f"no cart total is under {under}")
    if under is not None and over is not None and over >= under:
        raise _LineError(f"no cart total is over {over} and under {under}")
    return under, over, None


def _waits(text: str) -> tuple[timedelta, timedelta]:
    m = _WAITS_RE.fullmatch(text.strip())
    if not m:
        raise _LineError("cannot read the two waits (e.g. 'remind after 4 hours, then after 24')")
    try:
        first = parse_duration(m.group("d1"))
        second = parse_duration(m.group("d2"), default_unit=unit_of(m.group("d1")))
    except DurationError as e:
        raise _LineError(str(e)) from None
    if second <= first:
        raise _LineError(
            f"the second wait ({format_duration(second)}) must be longer than the first "
            f"({format_duration(first)}): both are measured from when the cart was left"
        )
    return first, second


def _clock(text: str) -> time:
    t = text.strip().lower()
    if t in ("noon", "midday", "12 noon"):
        return time(12, 0)
    if t in ("midnight", "12 midnight"):
        return time(0, 0)
    m = _CLOCK_RE.fullmatch(t)
    if not m:
        raise _LineError(f"cannot read {text.strip()!r} as a time of day (e.g. '9pm' or '21:00')")
    hour, minute = int(m.group("h")), int(m.group("m") or 0)
    if minute > 59:
        raise _LineError(f"{text.strip()!r} is not a time of day")
    if m.group("am") or m.group("pm"):
        if not 1 <= hour <= 12:
            raise _LineError(f"{text.strip()!r} is not a time of day (am/pm hours run 1 to 12)")
        hour = hour % 12 + (12 if m.group("pm") else 0)
    elif m.group("m") is None:
        raise _LineError(f"{text.strip()!r}: say am or pm, or write 24-hour time like '21:00'")
    elif hour > 23:
        raise _LineError(f"{text.strip()!r} is not a time of day")
    return time(hour, minute)


def _quiet(rest: str) -> QuietHours | None:
    if _QUIET_NONE_RE.fullmatch(rest):
        return None
    m = _QUIET_SPAN_RE.fullmatch(rest)
    if not m:
        raise _LineError("cannot read the quiet hours (e.g. '9pm to 8am', or 'none')")
    start, end = _clock(m.group("a")), _clock(m.group("b"))
    if start == end:
        raise _LineError("quiet hours must start and end at different times")
    return QuietHours(start, end)


def _duration_in(pattern: re.Pattern[str], rest: str, what: str) -> timedelta:
    m = pattern.fullmatch(rest)
    if not m:
        raise _LineError(f"cannot read the {what}")
    d = m.group("d").strip()
    if d.lower() in ("day", "hour", "week", "minute"):
        d = f"1 {d}"  # "in the last day"
    try:
        return parse_duration(d)
    except DurationError as e:
        raise _LineError(str(e)) from None


def _timezone(rest: str) -> str:
    if not rest:
        raise _LineError("name the store's timezone (e.g. 'America/New_York')")
    zone = zone_named(rest)
    if zone is None:
        raise _LineError(f"unknown timezone {rest!r} (use an IANA name like 'America/New_York')")
    return zone.key


def _reminder_count(word: str) -> int:
    try:
        n = number(word)
    except ValueError:
        raise _LineError(f"cannot read {word!r} as a number of reminders") from None
    if n != int(n) or n < 1:
        raise _LineError(f"{word!r} is not a number of reminders (one or two)")
    if n > MAX_REMINDERS:
        raise _LineError(f"at most two reminders per cart ({word!r} is too many)")
    return int(n)


@dataclass
class _Draft:
    """What the doc said so far (``seen`` maps a setting to the line that set it)."""

    seen: dict[str, int]
    quiet: QuietHours | None = None
    dnd: timedelta | None = None
    reminders: int | None = None
    timezone: str | None = None
    close_out: timedelta | None = None
    min_gap: timedelta | None = None
    max_age: timedelta | None = None
    consent: bool = False

    def claim(self, key: str, line: int) -> None:
        """Marks ``key`` as set on ``line``; a second time is a problem."""
        if key in self.seen:
            raise _LineError(f"repeats the {_LABELS[key]} already set on line {self.seen[key]}")
        self.seen[key] = line


def _read_setting(draft: _Draft, body: str, line: int) -> bool:
    """Reads one non-tier line into ``draft``; False if it is not a setting line at all."""
    if m := _QUIET_HEAD_RE.fullmatch(body):
        draft.claim("quiet", line)
        draft.quiet = _quiet(m.group("rest"))
    elif m := _DND_HEAD_RE.fullmatch(body):
        draft.claim("dnd", line)
        draft.dnd = _duration_in(_DND_BODY_RE, m.group("rest"), "do-not-disturb window")
    elif m := _GIVE_UP_HEAD_RE.fullmatch(body):
        rest = m.group("rest")
        if mc := _GIVE_UP_COUNT_RE.fullmatch(rest):
            draft.claim("reminders", line)
            draft.reminders = _reminder_count(mc.group("n"))
        elif _CLOSE_OUT_RE.fullmatch(rest):
            draft.claim("close_out", line)
            draft.close_out = _duration_in(_CLOSE_OUT_RE, rest, "close-out time")
        else:
            raise _LineError(
                f"cannot read this give-up line: write {_EXAMPLES['reminders']} "
                f"or {_EXAMPLES['close_out']}"
            )
    elif m := _MIN_GAP_HEAD_RE.fullmatch(body):
        draft.claim("min_gap", line)
        draft.min_gap = _duration_in(_MIN_GAP_RE, m.group("rest"), "gap between reminders")
    elif m := _MAX_AGE_HEAD_RE.fullmatch(body):
        draft.claim("max_age", line)
        draft.max_age = _duration_in(_MAX_AGE_RE, m.group("rest"), "maximum cart age")
    elif m := _CONSENT_HEAD_RE.fullmatch(body):
        if not _CONSENT_RE.fullmatch(m.group("rest")):
            raise _LineError(f"cannot read the consent rule: write {_EXAMPLES['consent']}")
        draft.claim("consent", line)
        draft.consent = True
    elif m := _TZ_HEAD_RE.fullmatch(body):
        draft.claim("timezone", line)
        draft.timezone = _timezone(m.group("rest").strip())
    else:
        return False
    return True


def _read_tier(body: str, line: int, shown: str, names: dict[str, int]) -> TierLine | None:
    """A tier line (``None`` if ``body`` is not one); a bad tier line raises ``_LineError``."""
    m = _TIER_HEAD_RE.fullmatch(body)
    if not m:
        return None
    name = " ".join(m.group("name").split()).lower()
    if not _TIER_NAME_RE.fullmatch(name):
        raise _LineError(f"cannot read {m.group('name').strip()!r} as a tier name")
    if name in names:
        raise _LineError(f"repeats the {name} tier already set on line {names[name]}")
    names[name] = line
    under, over, between = _bound(m.group("bound"))
    first, second = _waits(m.group("waits"))
    return TierLine(line, shown, SizeTier(name, first, second, under=under, over=over), between)


def parse_rules(text: str) -> Rules:
    """Reads the rules doc. Every unreadable line is reported (``RulesError``); nothing is guessed.

    Blank lines and ``#`` comments are skipped; letter case and a final period do not matter.
    Line numbers count ``\n``-separated lines from 1; a missing setting is reported on line 0.
    """
    problems: list[Problem] = []
    draft = _Draft(seen={})
    tiers: list[TierLine] = []
    tier_names: dict[str, int] = {}
    tier_failed = False

    for line, raw in enumerate(text.split("\n"), start=1):
        shown = raw.strip()
        if not shown or shown.startswith("#"):
            continue
        body = shown[:-1].rstrip() if shown.endswith(".") else shown
        try:
            if _read_setting(draft, body, line):
                continue
            try:
                tier = _read_tier(body, line, shown, tier_names)
            except _LineError:
                tier_failed = True
                raise
            if tier is None:
                raise _LineError("not a rule this doc understands (compare the default rules)")
            tiers.append(tier)
        except _LineError as e:
            problems.append(Problem(line, shown, str(e)))
        except (ValueError, ArithmeticError) as e:  # pragma: no cover - a safety net
            problems.append(Problem(line, shown, f"cannot read this line ({e})"))

    if tiers and not tier_failed:
        problems.extend(check_tiers(tiers))
    if not tier_names:
        problems.append(Problem(0, "", f"missing the cart size tiers (e.g. {_EXAMPLES['tiers']})"))
    for key in _REQUIRED:
        if key not in draft.seen:
            problems.append(
                Problem(0, "", f"missing the {_LABELS[key]} line (e.g. {_EXAMPLES[key]})")
            )
    if problems:
        raise RulesError(sorted(problems, key=lambda p: (p.line == 0, p.line)))
    assert draft.dnd is not None and draft.reminders is not None and draft.timezone is not None
    return Rules(
        tiers=tuple(t.tier for t in tiers),
        quiet=draft.quiet,
        do_not_disturb=draft.dnd,
        reminders=draft.reminders,
        store_timezone=draft.timezone,
        close_out=Rules.close_out if draft.close_out is None else draft.close_out,
        min_gap=Rules.min_gap if draft.min_gap is None else draft.min_gap,
        max_age=Rules.max_age if draft.max_age is None else draft.max_age,
        consent_required=draft.consent,
    )
