"""The voice doc parser under random edits: it either parses or says which lines are wrong,
never crashes with anything else, and whatever parses renders without error."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cart_recovery.adapters.mail.wire import to_bytes
from cart_recovery.domain.compose import Links, compose
from cart_recovery.domain.model import Cart, Item
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, VoiceError, parse_voice

LINES = DEFAULT_VOICE_TEXT.splitlines()
NOW = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
CART = Cart(
    cart_id="c1",
    email="maya@example.com",
    name="Maya",
    items=(Item(title="Linen shirt", quantity=1, unit_price=Decimal("68.00")),),
    total=Decimal("68.00"),
    created_at=NOW,
    abandoned_at=NOW,
    last_event_at=NOW,
)
LINKS = Links(return_url="https://shop.example/r/t", unsubscribe_url="https://shop.example/u/t")

line_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "{{",
            "}}",
            "{% if %}",
            "{{ greeting }",
            "{{ nope }}",
            "[Third reminder]",
            "Subject:",
            "Body:",
            "{{ ''.__class__ }}",
            "{% for x in items %}",
            "{{ items|attr('x') }}",
            "Opening: {{ total }}",
            "[First reminder]",
            "Store name:",
            "{{ 9**9**9 }}",
        ]
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(LINES)), st.booleans(), line_text), min_size=1, max_size=4
    )
)
def test_random_edits_parse_or_name_their_lines(edits: list[tuple[int, bool, str]]) -> None:
    lines = list(LINES)
    for index, replace, text in edits:
        if replace and index < len(lines):
            lines[index] = text
        else:
            lines.insert(index, text)
    text = "\n".join(lines) + "\n"
    try:
        voice = parse_voice(text)
    except VoiceError as e:
        assert e.problems, "an error must list what is wrong"
        for problem in e.problems:
            assert problem.message
            assert 0 <= problem.line <= len(text.splitlines()) + 1
        return
    # what parses must also render, for both steps and with or without a name
    for step in (1, 2):
        for cart in (CART, msgspec.structs.replace(CART, name=None)):
            out = compose(
                cart,
                step,
                voice,
                sender="Shop <shop@example.com>",
                links=LINKS,
                opening=None,
                message_id_domain="shop.example",
                now=NOW,
            )
            assert to_bytes(out)
