"""The voice doc (SPEC §5): parsing, line-numbered errors, the sandbox, the plain opening."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError
from markupsafe import Markup, escape

from cart_recovery.domain.rules import Problem
from cart_recovery.domain.voice import (
    DEFAULT_VOICE_TEXT,
    StepVoice,
    Voice,
    VoiceError,
    parse_voice,
    plain_opening,
    render_html,
    render_text,
)
from cart_recovery.domain.voice.sandbox import escaped

SMALL_DOC = """\
Store name: Fern & Fig

[First reminder]
Subject: Your cart misses you
Opening: You left these behind.
Saved opening: Still saving these?
Body:
{{ greeting }}

{{ opening }}

{{ items }}

Total: {{ total }}

{{ return_link }}

[Second reminder]
Subject: One last look?
Opening: Last nudge — we saved your cart in case you still want it.
Saved opening: Still saving these? They're safe with us.
Body:
{{ greeting }} {{ opening }}

{{ items }}
Total: {{ total }}
{{ return_link }}
"""


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(VoiceError) as caught:
        parse_voice(text)
    error: VoiceError = caught.value
    return error.problems


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the doc")


def test_the_default_doc_parses_into_two_steps() -> None:
    # Given the shipped voice doc / When it is parsed
    voice = parse_voice(DEFAULT_VOICE_TEXT)

    # Then it names the store and has a first and a second reminder
    assert voice.store_name == "Linen & Light"
    assert set(voice.steps) == {1, 2}
    first = voice.steps[1]
    assert isinstance(first, StepVoice)
    assert first.subject == 'Your cart is still here, {{ first_name or "friend" }}'
    assert first.opening == "Still thinking it over? Your cart's still here."
    assert first.saved_opening.startswith("Still saving these?")
    assert first.body.startswith("{{ greeting }}")
    assert first.body.endswith("Thanks for shopping with {{ store_name }}.")


def test_the_default_second_reminder_is_warm_and_never_blames() -> None:
    voice = parse_voice(DEFAULT_VOICE_TEXT)

    second = voice.steps[2]
    assert "Last nudge" in second.opening
    for text in (second.subject, second.opening, second.saved_opening, second.body):
        assert "ignore" not in text.lower()


def test_settings_that_are_left_out_take_their_defaults() -> None:
    # Given a doc with only the store name among the settings
    voice = parse_voice(SMALL_DOC)

    # Then the greeting, button and footer fall back to the defaults
    assert voice.store_name == "Fern & Fig"
    assert voice.greeting == "Hi {{ first_name }},"
    assert voice.greeting_no_name == "Hi there,"
    assert voice.button == "Return to your cart"
    assert voice.unsubscribe == "Unsubscribe"


def test_settings_and_aliases_are_read() -> None:
    doc = (
        SMALL_DOC.replace(
            "Store name: Fern & Fig",
            "Store name: Fern & Fig\n"
            "Greeting: Hallo {{ first_name }}!\n"
            "Greeting without a name: Hallo!\n"
            "Return button: Zum Warenkorb",
        )
        .replace("[First reminder]", "[Reminder 1]")
        .replace("[Second reminder]", "[2nd email]")
    )

    voice = parse_voice(doc)

    assert voice.greeting == "Hallo {{ first_name }}!"
    assert voice.greeting_no_name == "Hallo!"
    assert voice.button == "Zum Warenkorb"
    assert set(voice.steps) == {1, 2}


def test_body_keeps_its_inner_blank_lines_and_drops_the_outer_ones() -> None:
    voice = parse_voice(
        SMALL_DOC.replace("Body:\n{{ greeting }}\n", "Body:\n\n\n{{ greeting }}\n", 1)
    )

    assert voice.steps[1].body.startswith("{{ greeting }}\n\n{{ opening }}")
    assert voice.steps[2].body.endswith("{{ return_link }}")


def test_comments_and_blank_lines_outside_a_body_are_ignored() -> None:
    doc = "# notes for me\n\n" + SMALL_DOC.replace("Subject: One", "# a note\nSubject: One")

    assert parse_voice(doc).steps[2].subject == "One last look?"


def test_a_line_the_parser_cannot_read_names_its_number_and_text() -> None:
    # Given a stray sentence among the settings
    doc = SMALL_DOC.replace("Store name: Fern & Fig", "Store name: Fern & Fig\nbe nice to people")

    # When it is parsed / Then the problem names line 2 and quotes it
    (problem,) = problems_of(doc)
    assert problem.line == 2
    assert problem.text == "be nice to people"
    assert "line 2" in str(problem)


def test_an_unknown_line_inside_a_reminder_is_reported() -> None:
    doc = SMALL_DOC.replace("Subject: One last look?", "Subjet: One last look?")

    found = problems_of(doc)

    assert [p.line for p in found] == [
        line_of(doc, "[Second reminder]"),
        line_of(doc, "Subjet:"),
    ]
    assert "no Subject: line" in found[0].message


def test_an_unknown_placeholder_is_caught_at_its_body_line() -> None:
    # Given a typo in the second reminder's body
    doc = SMALL_DOC.replace("{{ greeting }} {{ opening }}", "{{ greting }} {{ opening }}")

    # When parsed / Then the error points at the very line with the typo
    (problem,) = problems_of(doc)
    assert problem.line == line_of(doc, "{{ greting }}")
    assert "{{ greting }}" in problem.message
    assert problem.text == "{{ greting }} {{ opening }}"


def test_an_unknown_placeholder_in_a_subject_is_caught() -> None:
    doc = SMALL_DOC.replace("Subject: Your cart misses you", "Subject: Hi {{ name }}")

    (problem,) = problems_of(doc)

    assert problem.line == 4
    assert "{{ name }}" in problem.message


def test_an_opening_can_only_use_the_store_name() -> None:
    doc = SMALL_DOC.replace("Opening: You left these behind.", "Opening: {{ items }} are waiting")

    (problem,) = problems_of(doc)

    assert problem.line == 5
    assert "{{ items }}" in problem.message


def test_unbalanced_jinja_is_caught_with_a_line_number() -> None:
    doc = SMALL_DOC.replace("Subject: Your cart misses you", "Subject: {% if first_name %}Hi")

    (problem,) = problems_of(doc)

    assert problem.line == 4
    assert "endif" in problem.message


def test_an_unclosed_placeholder_in_a_body_is_caught() -> None:
    doc = SMALL_DOC.replace("Total: {{ total }}\n\n", "Total: {{ total }\n\n", 1)

    found = problems_of(doc)

    assert [p.line for p in found] == [line_of(doc, "Total: {{ total }")]


def test_a_missing_reminder_section_is_an_error() -> None:
    # Given a doc with only the first reminder
    doc = SMALL_DOC[: SMALL_DOC.index("[Second reminder]")]

    # When parsed / Then the problem names the missing section and the end of the doc
    (problem,) = problems_of(doc)
    assert "[Second reminder]" in problem.message
    assert problem.line == len(doc.splitlines())


def test_a_third_reminder_is_refused() -> None:
    doc = SMALL_DOC + "\n[Third reminder]\nSubject: Hello again\n"

    (problem,) = problems_of(doc)

    assert problem.line == line_of(doc, "[Third reminder]")
    assert "at most two" in problem.message


def test_a_missing_store_name_is_an_error() -> None:
    doc = SMALL_DOC.replace("Store name: Fern & Fig\n", "")

    (problem,) = problems_of(doc)

    assert "Store name" in problem.message


def test_a_body_must_show_the_items_the_total_and_the_return_link() -> None:
    doc = SMALL_DOC.replace("{{ items }}\n\nTotal: {{ total }}\n\n", "", 1)

    found = problems_of(doc)

    assert {p.line for p in found} == {line_of(doc, "{{ greeting }}")}
    assert sorted(p.message for p in found) == [
        "the Body must show {{ items }}",
        "the Body must show {{ total }}",
    ]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    doc = (
        SMALL_DOC.replace("Subject: Your cart misses you", "Subject: {{ nope }}")
        .replace("Opening: Last nudge", "Openin: Last nudge")
        .replace("Store name: Fern & Fig", "Store name: Fern & Fig\nColour: green")
    )

    found = problems_of(doc)

    assert [p.line for p in found] == sorted(p.line for p in found)
    assert len(found) == 4  # Colour, {{ nope }}, Openin, and the second reminder's missing Opening


def test_telling_a_shopper_they_ignored_us_is_refused() -> None:
    doc = SMALL_DOC.replace(
        "Opening: Last nudge — we saved your cart in case you still want it.",
        "Opening: You ignored our last email!",
    )

    (problem,) = problems_of(doc)

    assert problem.line == line_of(doc, "You ignored")
    assert "ignored" in problem.message


def test_a_control_character_in_the_doc_is_reported() -> None:
    doc = SMALL_DOC.replace("Subject: One last look?", "Subject: One last\x07 look?")

    (problem,) = problems_of(doc)

    assert problem.line == line_of(doc, "One last\x07")


@pytest.mark.parametrize(
    "subject",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ first_name.__class__ }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name|attr('__class__') }}",
        "{{ '{0.__class__}'.format(first_name) }}",
        "{{ lipsum.__globals__ }}",
        "{{ first_name|safe }}",
        "{% autoescape false %}{{ first_name }}{% endautoescape %}",
        "{% include 'other' %}",
        "{{ 'x' * 1000000000 }}",
        "{{ range(10000000)|list }}",
    ],
)
def test_the_sandbox_refuses_escapes_when_the_doc_is_parsed(subject: str) -> None:
    # Given an owner (or an intruder) trying to reach past the template
    doc = SMALL_DOC.replace("Subject: Your cart misses you", f"Subject: {subject}")

    # When parsed / Then it is a VoiceError naming the subject line, not a broken send later
    (problem,) = problems_of(doc)
    assert problem.line == 4


def test_the_sandbox_itself_refuses_at_render_time() -> None:
    # The parse-time check is a courtesy; the sandbox is the guard.
    with pytest.raises(SecurityError):
        render_text("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(SecurityError):
        render_text("{{ '{0.__class__}'.format(x) }}", {"x": "a"})


def test_html_rendering_escapes_owner_text_and_values_but_not_markup() -> None:
    html = render_html("Fish & Chips <3 {{ name }}", {"name": "<script>x</script>"})

    assert str(html) == "Fish &amp; Chips &lt;3 &lt;script&gt;x&lt;/script&gt;"


def test_plain_opening_picks_the_saved_link_variant() -> None:
    voice = parse_voice(DEFAULT_VOICE_TEXT)

    assert (
        plain_opening(voice, 1, saved_link=False)
        == "Still thinking it over? Your cart's still here."
    )
    assert plain_opening(voice, 1, saved_link=True).startswith("Still saving these?")
    assert plain_opening(voice, 2, saved_link=False).startswith("Last nudge")


def test_plain_opening_may_name_the_store() -> None:
    doc = SMALL_DOC.replace(
        "Opening: You left these behind.", "Opening: {{ store_name }} kept your cart."
    )

    assert plain_opening(parse_voice(doc), 1, saved_link=False) == "Fern & Fig kept your cart."


def test_plain_opening_for_an_unknown_step_is_an_error() -> None:
    with pytest.raises(ValueError, match="reminder 3"):
        plain_opening(parse_voice(SMALL_DOC), 3, saved_link=False)


def test_a_voice_can_be_built_directly() -> None:
    step = StepVoice("s", "o", "so", "{{ items }} {{ total }} {{ return_link }}")

    voice = Voice(store_name="Shop", steps={1: step, 2: step})

    assert voice.step(2) is step


@given(st.one_of(st.text(), st.text().map(Markup), st.integers(), st.decimals(allow_nan=False)))
def test_a_value_is_escaped_as_markupsafe_escapes_it(value: object) -> None:
    assert escaped(value) == str(escape(value))
