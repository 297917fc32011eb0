"""The rules doc parser (SPEC §4): the default text, optional lines, and every bad line named."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart_recovery.domain.rules import (
    DEFAULT_RULES_TEXT,
    MAX_REMINDERS,
    QuietHours,
    Rules,
    RulesError,
    SizeTier,
    describe_rules,
    parse_rules,
    parse_wait_override,
    waits_for,
)

H = timedelta(hours=1)


def problems_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    return [(p.line, p.text) for p in info.value.problems]


def messages_of(text: str) -> list[str]:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    return [p.message for p in info.value.problems]


def default_with(old: str, new: str) -> str:
    assert old in DEFAULT_RULES_TEXT
    return DEFAULT_RULES_TEXT.replace(old, new)


def without_line(prefix: str) -> str:
    return "\n".join(
        line for line in DEFAULT_RULES_TEXT.splitlines() if not line.startswith(prefix)
    )


# ---- the default text -------------------------------------------------------------------


def test_default_text_parses_to_exactly_the_documented_values() -> None:
    # Given the default rules doc / When it is parsed
    rules = parse_rules(DEFAULT_RULES_TEXT)
    # Then every value is what the prose says, and the optional lines take their defaults
    assert rules == Rules(
        tiers=(
            SizeTier("small", 4 * H, 24 * H, under=Decimal(40)),
            SizeTier("medium", 2 * H, 22 * H),
            SizeTier("big", 1 * H, 20 * H, over=Decimal(150)),
        ),
        quiet=QuietHours(time(21, 0), time(8, 0)),
        do_not_disturb=timedelta(days=3),
        reminders=2,
        store_timezone="America/New_York",
        close_out=24 * H,
        min_gap=12 * H,
        max_age=timedelta(days=7),
        consent_required=False,
    )


def test_letter_case_blank_lines_comments_and_final_periods_do_not_matter() -> None:
    # Given the default doc shouted, without periods, with comments and blank lines
    text = "# my rules\n\n" + DEFAULT_RULES_TEXT.upper().replace(".\n", "\n") + "\n   \n# end\n"
    # When parsed / Then it reads the same as the default
    assert parse_rules(text) == parse_rules(DEFAULT_RULES_TEXT)


# ---- optional lines ---------------------------------------------------------------------


def test_close_out_line() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT + "Give up 36 hours after the last reminder.\n")
    assert rules.close_out == 36 * H


def test_min_gap_line() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT + "Leave at least 6 hours between reminders.\n")
    assert rules.min_gap == 6 * H


def test_max_age_line() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT + "Never remind a cart older than 3 days.\n")
    assert rules.max_age == timedelta(days=3)


def test_consent_line_turns_consent_mode_on() -> None:
    rules = parse_rules(
        DEFAULT_RULES_TEXT + "Only remind shoppers who agreed to marketing email.\n"
    )
    assert rules.consent_required is True


# ---- the many ways owners write things --------------------------------------------------


@pytest.mark.parametrize(
    ("written", "first", "second"),
    [
        ("remind after 4 hours, then after 24", 4 * H, 24 * H),
        ("4h, then 24h", 4 * H, 24 * H),
        ("90 minutes then 2 days", timedelta(minutes=90), timedelta(days=2)),
        ("1.5 hours, then 20", timedelta(minutes=90), 20 * H),
        ("two hrs, and then one day", 2 * H, 24 * H),
        ("an hour, then 30 min", None, None),  # the second must be longer: checked below
        ("30 min, then 2 hr", timedelta(minutes=30), 2 * H),
        ("1 d, then 2", timedelta(days=1), timedelta(days=2)),
    ],
)
def test_tier_waits_in_many_spellings(
    written: str, first: timedelta | None, second: timedelta | None
) -> None:
    text = default_with("2 hours, then 22", written)
    if first is None:
        assert [line for line, _ in problems_of(text)] == [2]
        return
    medium = parse_rules(text).tiers[1]
    assert (medium.first, medium.second) == (first, second)


@pytest.mark.parametrize(
    ("written", "under"),
    [("under $40", Decimal(40)), ("under 40", Decimal(40)), ("under €40", Decimal(40)),
     ("below $39.50", Decimal("39.50")),
     ("less than 40 dollars", Decimal(40))],
)  # fmt: skip
def test_money_bounds_in_many_spellings(written: str, under: Decimal) -> None:
    rules = parse_rules(default_with("under $40", written))
    assert rules.tiers[0].under == under


def test_money_with_thousands_separator() -> None:
    rules = parse_rules(default_with("over $150", "over $1,000.50"))
    assert rules.tiers[2].over == Decimal("1000.50")


def test_between_names_the_rest_left_by_the_other_tiers() -> None:
    # Given the medium tier spelled out as "between $40 and $150"
    rules = parse_rules(default_with("Medium carts:", "Medium carts (between $40 and $150):"))
    # Then it reads as the tier that takes the rest: 40 and 150 inclusive
    assert rules == parse_rules(DEFAULT_RULES_TEXT)
    assert rules.tier_for(Decimal(40)).name == "medium"
    assert rules.tier_for(Decimal(150)).name == "medium"


def test_between_that_does_not_match_the_gap_is_a_problem() -> None:
    text = default_with("Medium carts:", "Medium carts (between $30 and $150):")
    assert problems_of(text) == [(2, "Medium carts (between $30 and $150): 2 hours, then 22.")]


@pytest.mark.parametrize(
    ("written", "quiet"),
    [
        ("9pm to 8am", QuietHours(time(21), time(8))),
        ("9:30pm to 7am", QuietHours(time(21, 30), time(7))),
        ("21:00 to 08:00", QuietHours(time(21), time(8))),
        ("10 p.m. - 6 a.m.", QuietHours(time(22), time(6))),
        ("midnight to 7am", QuietHours(time(0), time(7))),
        ("noon to 1pm", QuietHours(time(12), time(13))),
        ("11pm until midnight", QuietHours(time(23), time(0))),
        ("12am to 12pm", QuietHours(time(0), time(12))),
        ("none", None),
    ],
)
def test_quiet_hours_in_many_spellings(written: str, quiet: QuietHours | None) -> None:
    assert parse_rules(default_with("9pm to 8am", written)).quiet == quiet


@pytest.mark.parametrize(
    ("written", "window"),
    [
        ("skip anyone who got a reminder in the last 3 days", timedelta(days=3)),
        ("skip anyone who got a reminder in the last 48 hours", timedelta(hours=48)),
        ("skip anyone who got a reminder in the past day", timedelta(days=1)),
        ("2 days", timedelta(days=2)),
    ],
)
def test_do_not_disturb_in_many_spellings(written: str, window: timedelta) -> None:
    text = default_with("skip anyone who got a reminder in the last 3 days", written)
    assert parse_rules(text).do_not_disturb == window


@pytest.mark.parametrize(
    ("written", "count"),
    [("two reminders", 2), ("2 reminders", 2), ("one reminder", 1), ("1 reminder", 1)],
)
def test_give_up_point(written: str, count: int) -> None:
    assert parse_rules(default_with("two reminders", written)).reminders == count


def test_store_timezone_is_validated_and_spelled_canonically() -> None:
    rules = parse_rules(default_with("America/New_York", "europe/london"))
    assert rules.store_timezone == "Europe/London"


# ---- bad docs: every problem names its line ---------------------------------------------


def test_three_reminders_are_refused() -> None:
    # Given an owner asking for three reminders
    text = default_with("two reminders", "three reminders")
    # Then the doc is rejected on that line, saying at most two
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    [problem] = info.value.problems
    assert (problem.line, problem.text) == (6, "Give up after three reminders.")
    assert "at most two" in problem.message
    assert MAX_REMINDERS == 2


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        ("Small carts (under $40): remind after 4 hours, then after 2.", 1),  # second <= first
        ("Small carts (about $40): remind after 4 hours, then after 24.", 1),
        ("Small carts (under $40): remind after 4, then after 24.", 1),  # no unit
        ("Small carts (under $40): remind soon.", 1),
        ("Quiet hours: 9 to 8.", 4),  # am or pm?
        ("Quiet hours: 9pm to 9pm.", 4),
        ("Quiet hours: 25:00 to 08:00.", 4),
        ("Quiet hours: at night.", 4),
        ("Do not disturb: whenever.", 5),
        ("Give up after 0 reminders.", 6),
        ("Give up after some reminders.", 6),
        ("Give up eventually.", 6),
        ("Store timezone: Mars/Olympus.", 7),
        ("Store timezone: America.", 7),
        ("Send lots of emails!", 7),
    ],
)
def test_each_kind_of_bad_line_is_named_by_number_and_text(bad: str, line: int) -> None:
    lines = DEFAULT_RULES_TEXT.splitlines()
    lines[line - 1] = bad
    found = problems_of("\n".join(lines))
    assert (line, bad) in found
    assert all(n == line for n, _ in found if n != 0)


def test_unknown_timezone_message_names_the_zone() -> None:
    assert any(
        "Mars/Olympus" in m for m in messages_of(default_with("America/New_York", "Mars/Olympus"))
    )


def test_several_bad_lines_give_several_problems() -> None:
    # Given two unreadable lines among good ones
    text = DEFAULT_RULES_TEXT + "Remind everyone hourly.\n\n# fine\nQuiet hours: 9ish.\n"
    # Then both are reported, each with its own line (the second also repeats quiet hours)
    assert problems_of(text) == [
        (8, "Remind everyone hourly."),
        (11, "Quiet hours: 9ish."),
    ]


def test_a_repeated_setting_is_a_problem_on_the_second_line() -> None:
    text = DEFAULT_RULES_TEXT + "Quiet hours: 10pm to 7am.\n"
    assert problems_of(text) == [(8, "Quiet hours: 10pm to 7am.")]
    assert "line 4" in messages_of(text)[0]


def test_a_repeated_tier_is_a_problem() -> None:
    text = DEFAULT_RULES_TEXT + "Medium carts: 3 hours, then 23.\n"
    assert problems_of(text) == [(8, "Medium carts: 3 hours, then 23.")]


@pytest.mark.parametrize(
    ("prefix", "what"),
    [
        ("Quiet hours", "quiet hours"),
        ("Do not disturb", "do-not-disturb"),
        ("Give up", "number of reminders"),
        ("Store timezone", "store timezone"),
    ],
)
def test_missing_required_lines_are_named(prefix: str, what: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(without_line(prefix))
    [problem] = info.value.problems
    assert (problem.line, problem.text) == (0, "")
    assert what in problem.message and "missing" in problem.message


def test_missing_tiers_are_named() -> None:
    text = "\n".join(line for line in DEFAULT_RULES_TEXT.splitlines() if "carts" not in line)
    assert problems_of(text) == [(0, "")]
    assert "tiers" in messages_of(text)[0]


def test_an_empty_doc_names_every_missing_setting() -> None:
    assert len(problems_of("")) == 5


def test_overlapping_tiers_are_a_problem() -> None:
    text = default_with("Medium carts:", "Medium carts (under $100):")
    found = messages_of(text)
    assert any("overlaps the small tier" in m for m in found)


def test_uncovered_totals_are_a_problem() -> None:
    # Given no tier left without a bound: a total of exactly $40 fits no tier
    text = default_with("Medium carts:", "Medium carts (over $40 and under $150):")
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    assert any("40" in p.message and "no tier" in p.message for p in info.value.problems)


def test_two_unbounded_tiers_are_a_problem() -> None:
    text = default_with("Small carts (under $40)", "Small carts")
    assert problems_of(text) == [(2, "Medium carts: 2 hours, then 22.")]


def test_overlong_duration_is_a_problem_not_a_crash() -> None:
    text = default_with("1 hour, then 20", "1 hour, then 99999999999999999999 days")
    assert [n for n, _ in problems_of(text)] == [3]


# ---- tier selection and waits -----------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "tier"),
    [("0", "small"), ("39.99", "small"), ("40", "medium"), ("150", "medium"),
     ("150.01", "big"), ("100000", "big")],
)  # fmt: skip
def test_tier_selection_at_the_boundaries(total: str, tier: str) -> None:
    assert parse_rules(DEFAULT_RULES_TEXT).tier_for(Decimal(total)).name == tier


def test_waits_for_uses_the_size_tier_without_an_override() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT)
    assert waits_for(rules, Decimal("120"), None) == (2 * H, 22 * H)
    assert waits_for(rules, Decimal("20"), None) == (4 * H, 24 * H)


def test_waits_for_prefers_the_carts_override() -> None:
    rules = parse_rules(DEFAULT_RULES_TEXT)
    assert waits_for(rules, Decimal("120"), (H, 5 * H)) == (H, 5 * H)


def test_parse_wait_override() -> None:
    assert parse_wait_override(("1 hour", "20")) == (H, 20 * H)
    assert parse_wait_override(("30m", "2h")) == (timedelta(minutes=30), 2 * H)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (("2 hours", "1 hour"), "longer than the first"),
        (("2 hours", "2"), "longer than the first"),
        (("soon", "later"), "cannot read"),
        (("4", "24"), "needs a unit"),
    ],
)
def test_parse_wait_override_errors_are_clear(values: tuple[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_wait_override(values)


def test_describe_rules_summarises_the_doc() -> None:
    summary = describe_rules(parse_rules(DEFAULT_RULES_TEXT))
    for words in ("small (under $40)", "big (over $150)", "4 hours", "22 hours", "21:00",
                  "08:00", "3 days", "America/New_York", "2 reminders"):  # fmt: skip
        assert words in summary


# ---- property: garbage never crashes, and is always named --------------------------------

_garbage_line = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n"),
    max_size=80,
).filter(lambda s: s.strip() != "" and not s.strip().startswith("#"))
_keywordish = st.sampled_from(
    ["Quiet hours: ", "Do not disturb: ", "Give up ", "Store timezone: ", "Tiny carts (",
     "Leave at least ", "Never remind ", "Only remind ", "X carts: ", ""]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_keywordish, _garbage_line), min_size=1, max_size=3))
def test_garbage_lines_always_raise_rules_error_naming_their_line(
    extra: list[tuple[str, str]],
) -> None:
    # Given the default doc with garbage lines appended (each after a keyword, maybe)
    lines = DEFAULT_RULES_TEXT.splitlines()
    first_new = len(lines) + 1
    lines += [prefix + junk for prefix, junk in extra]
    # When parsed
    try:
        parse_rules("\n".join(lines))
    except RulesError as e:
        named = {p.line for p in e.problems}
    else:  # pragma: no cover - reported with the failing example
        raise AssertionError("garbage was accepted")
    # Then every appended line is named (any repeat of a setting is named on the later line)
    assert named >= set(range(first_new, first_new + len(extra)))
