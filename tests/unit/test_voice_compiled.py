"""Simple voice templates are rendered by plain string joining instead of the sandbox: for any
template and any values, the two renders agree exactly, in text and in HTML."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import TemplateError
from markupsafe import Markup

from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, PLACEHOLDERS, parse_voice
from cart_recovery.domain.voice.sandbox import (
    render_html,
    render_text,
    sandboxed_html,
    sandboxed_text,
    simple_template,
)

names = st.sampled_from([*PLACEHOLDERS, "nope", "true", "None"])
spaces = st.sampled_from(["", " ", "  ", "\t", "\n", "\r\n"])
defaults = st.sampled_from(
    ["", ' or "friend"', ' or ""', ' or "<&>"', " or 'x'", ' or"x"', " or total"]
)
substitution = st.builds(
    lambda a, n, d, b: "{{" + a + n + d + b + "}}", spaces, names, defaults, spaces
)
words = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="{}%#-+ <>&'\"\r\n\tab", max_size=12),
    st.sampled_from(["{", "}", "{%", "%}", "{#", "#}", "{{ x|upper }}", "{{- total }}", "\r"]),
)
templates = st.lists(st.one_of(words, substitution), max_size=8).map("".join)
value = st.one_of(
    st.text(max_size=12), st.text(alphabet="<>&'\"{}\r\n ", max_size=6), st.integers()
)
values = st.dictionaries(st.sampled_from(PLACEHOLDERS), value, max_size=len(PLACEHOLDERS))


def _same(fast: object, slow: object) -> None:
    assert type(fast) is type(slow)
    assert fast == slow


@settings(max_examples=400)
@given(templates, values)
def test_text_renders_agree(source: str, given_values: dict[str, object]) -> None:
    # Given any template and values / When rendered both ways / Then the same text, or the
    # sandbox's own error when it refuses
    try:
        slow = sandboxed_text(source, given_values)
    except TemplateError as refused:
        try:
            render_text(source, given_values)
        except TemplateError as also:
            assert type(also) is type(refused)
            return
        raise AssertionError(
            f"the fast render accepted what the sandbox refuses: {source!r}"
        ) from None
    _same(render_text(source, given_values), slow)


@settings(max_examples=400)
@given(templates, values, st.booleans())
def test_html_renders_agree(source: str, given_values: dict[str, object], markup: bool) -> None:
    # Given any template and values, some already markup / When rendered both ways as HTML /
    # Then the same escaped markup
    if markup:
        given_values = {k: Markup(str(v)) for k, v in given_values.items()}
    try:
        slow = sandboxed_html(source, given_values)
    except TemplateError:
        return
    _same(render_html(source, given_values), slow)


def test_the_default_voice_is_simple() -> None:
    # Given the default voice doc / Then its subjects and bodies take the fast path
    voice = parse_voice(DEFAULT_VOICE_TEXT)
    for step in voice.steps.values():
        for source in (step.subject, step.body):
            assert simple_template(source, False) is not None
            assert simple_template(source, True) is not None


def test_tags_and_filters_are_not_simple() -> None:
    for source in [
        "{% if total %}x{% endif %}",
        "{{ total|upper }}",
        "{{- total }}",
        "{{{ total }}",
    ]:
        assert simple_template(source, False) is None
    assert simple_template("a {{ total }}\r\nb\n", False) == ("a ", "total", None, "\nb")
    assert simple_template('{{ first_name or "<you>" }}', True) == ("", "first_name", "<you>", "")
