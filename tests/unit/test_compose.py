"""Composing a reminder (SPEC §7, gate 4): parts, money, links, headers, escaping, injection.

The message is read back as a mail client reads it, from the bytes the mailers write
(``adapters.mail.wire``); how those bytes are written is tested in ``test_wire``."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart_recovery.adapters.mail.wire import to_bytes
from cart_recovery.domain.compose import (
    _STRAY_CONTROL,
    ComposeError,
    Links,
    OutgoingEmail,
    _without_stray_controls,
    compose,
    message_id_for,
)
from cart_recovery.domain.model import Cart, Item
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, parse_voice

NOW = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
VOICE = parse_voice(DEFAULT_VOICE_TEXT)
NAMES_IN_SUBJECT = parse_voice(
    DEFAULT_VOICE_TEXT.replace(
        'Subject: Your cart is still here, {{ first_name or "friend" }}',
        "Subject: {{ first_name }} {{ items }}",
    )
)
LINKS = Links(
    return_url="https://shop.example/r/tok.abc",
    unsubscribe_url="https://shop.example/u/unsub.xyz",
)
SENDER = "Linen & Light <hello@linen.example>"
RAW_RETURN_URL = "https://linen.example/cart/raw-return-url"


def make_cart(**changes: Any) -> Cart:
    values: dict[str, Any] = {
        "cart_id": "cart-42",
        "email": "sam@example.com",
        "name": "Sam Lee",
        "items": (
            Item(title="Linen shirt", quantity=1, unit_price=Decimal("84.00")),
            Item(title="Beeswax candle", quantity=2, unit_price=Decimal("9.00")),
            Item(title="Canvas tote", quantity=1, unit_price=Decimal("18.00")),
        ),
        "total": Decimal("120.00"),
        "currency": "USD",
        "return_url": RAW_RETURN_URL,
        "created_at": NOW - timedelta(hours=3),
        "abandoned_at": NOW - timedelta(hours=2),
        "last_event_at": NOW - timedelta(hours=2),
    }
    values.update(changes)
    return Cart(**values)


def build(cart: Cart | None = None, step: int = 1, **kwargs: Any) -> OutgoingEmail:
    options: dict[str, Any] = {
        "sender": SENDER,
        "links": LINKS,
        "opening": None,
        "message_id_domain": "linen.example",
        "now": NOW,
    }
    options.update(kwargs)
    return compose(cart or make_cart(), step, VOICE, **options)


def parsed(out: OutgoingEmail) -> EmailMessage:
    message = email.message_from_bytes(to_bytes(out), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(out: OutgoingEmail) -> tuple[str, str]:
    message = parsed(out)
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    # Parsed from the wire, bodies keep their CRLF line ends.
    text, html = text_part.get_content(), html_part.get_content()
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")


def raw_headers(out: OutgoingEmail) -> list[str]:
    head = to_bytes(out).split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]


# --- parts, items, money -------------------------------------------------------------------


def test_the_message_has_a_text_and_an_html_part() -> None:
    # Given an open cart / When the first reminder is composed
    message = parsed(build())

    # Then it is multipart/alternative with plain text first and HTML second
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_the_text_part_lists_each_item_with_quantity_and_prices() -> None:
    text, _ = parts(build())

    assert "Hi Sam," in text
    assert "Still thinking it over? Your cart's still here." in text
    assert "1 × Linen shirt — $84.00" in text
    assert "2 × Beeswax candle — $18.00 ($9.00 each)" in text
    assert "1 × Canvas tote — $18.00" in text
    assert "Total: $120.00" in text


def test_the_html_part_shows_items_in_a_table_with_prices() -> None:
    _, html = parts(build())

    assert html.startswith("<!doctype html>")
    assert '<html lang="en-US" dir="ltr">' in html
    assert '<meta name="viewport"' in html
    assert "<table" in html
    assert "2 × Beeswax candle" in html
    assert "2 × $9.00" in html
    assert "$18.00" in html
    assert "Total: $120.00" in html
    assert "Thanks for shopping with Linen &amp; Light." in html


@pytest.mark.parametrize(
    ("currency", "locale", "total", "expected"),
    [
        ("USD", "en_US", Decimal("120"), "$120.00"),
        ("EUR", "de_DE", Decimal("120"), "120,00\u00a0€"),  # babel puts a no-break space
        ("JPY", "en_US", Decimal("1200"), "¥1,200"),
        ("EUR", "de-DE", Decimal("120"), "120,00\u00a0€"),  # a BCP 47 tag works too
        ("USD", "xx_NOPE", Decimal("120"), "$120.00"),  # unknown locale: the default
        ("USD", None, Decimal("120"), "$120.00"),
    ],
)
def test_the_total_is_formatted_for_the_carts_currency_and_locale(
    currency: str, locale: str | None, total: Decimal, expected: str
) -> None:
    cart = make_cart(currency=currency, locale=locale, total=total)

    text, html = parts(build(cart))

    assert f"Total: {expected}" in text
    assert f"Total: {expected}" in html


def test_the_html_lang_follows_the_carts_locale() -> None:
    _, html = parts(build(make_cart(locale="de_DE", currency="EUR")))

    assert '<html lang="de-DE" dir="ltr">' in html


def test_an_item_image_is_shown_when_it_is_an_https_url() -> None:
    items = (
        Item(title="Shirt", unit_price=Decimal(5), image_url="https://cdn.example/a.jpg"),
        Item(title="Sock", unit_price=Decimal(5), image_url="javascript:alert(1)"),
    )

    _, html = parts(build(make_cart(items=items, total=Decimal(10))))

    assert '<img src="https://cdn.example/a.jpg"' in html
    assert "javascript:" not in html


# --- greeting and opening ------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "", "   ", "\r\n"])
def test_a_cart_with_no_name_is_greeted_hi_there(name: str | None) -> None:
    out = build(make_cart(name=name))

    message = parsed(out)
    text, html = parts(out)

    assert text.startswith("Hi there,\n")
    assert "Hi there," in html
    assert message["Subject"] == "Your cart is still here, friend"


def test_the_greeting_uses_the_first_name_only() -> None:
    message = parsed(build(make_cart(name="Zoë Ångström")))

    assert message["Subject"] == "Your cart is still here, Zoë"
    assert parts(build(make_cart(name="Zoë Ångström")))[0].startswith("Hi Zoë,\n")


def test_a_saved_link_cart_gets_the_saved_opening() -> None:
    text, _ = parts(build(make_cart(saved_link=True)))

    assert "Still saving these? They're right where you left them." in text
    assert "Still thinking it over" not in text


def test_a_supplied_opening_replaces_the_plain_line() -> None:
    text, html = parts(build(opening="Those candles are still glowing\r\nfor you."))

    assert "Those candles are still glowing for you." in text
    assert "Those candles are still glowing for you." in html
    assert "Still thinking it over" not in text


def test_a_blank_supplied_opening_falls_back_to_the_plain_line() -> None:
    text, _ = parts(build(opening="  \n "))

    assert "Still thinking it over? Your cart's still here." in text


def test_the_second_reminder_uses_its_own_warmer_template() -> None:
    message = parsed(build(step=2))
    text, _ = parts(build(step=2))

    assert message["Subject"] == "We saved your cart for you, Sam"
    assert "Last nudge — we saved your cart in case you still want it." in text
    assert "ignore" not in text.lower()


# --- links ---------------------------------------------------------------------------------


def test_both_parts_carry_the_return_link_and_a_visible_unsubscribe_link() -> None:
    text, html = parts(build())

    assert LINKS.return_url in text
    assert LINKS.unsubscribe_url in text
    assert f"Unsubscribe: {LINKS.unsubscribe_url}" in text
    assert f'<a href="{LINKS.return_url}"' in html
    assert "Return to your cart</a>" in html
    assert f'<a href="{LINKS.unsubscribe_url}"' in html
    assert "Unsubscribe</a>" in html


def test_the_carts_raw_return_url_never_appears() -> None:
    out = build()

    assert RAW_RETURN_URL not in to_bytes(out).decode("ascii")
    assert RAW_RETURN_URL not in out.text
    assert RAW_RETURN_URL not in out.html


def test_the_unsubscribe_footer_is_added_even_when_the_body_has_none() -> None:
    # Given an owner body with no {{ unsubscribe_link }} (the default has none)
    assert "unsubscribe_link" not in VOICE.steps[1].body

    # When composed / Then the footer still has the link, in both parts
    text, html = parts(build())
    assert text.rstrip().endswith(f"Unsubscribe: {LINKS.unsubscribe_url}")
    assert html.count(LINKS.unsubscribe_url) == 1


def test_an_owner_may_also_place_the_unsubscribe_link_in_the_body() -> None:
    doc = DEFAULT_VOICE_TEXT.replace(
        "Thanks for shopping with {{ store_name }}.",
        "Not for you? {{ unsubscribe_link }}",
    )
    out = compose(
        make_cart(),
        1,
        parse_voice(doc),
        sender=SENDER,
        links=LINKS,
        opening=None,
        message_id_domain="linen.example",
        now=NOW,
    )

    assert f"Not for you? {LINKS.unsubscribe_url}" in out.text
    assert out.html.count(f'<a href="{LINKS.unsubscribe_url}"') == 2


@pytest.mark.parametrize(
    "links",
    [
        Links("javascript:alert(1)", LINKS.unsubscribe_url),
        Links(LINKS.return_url, "mailto:x@example.com"),
        Links('https://shop.example/r/"><script>', LINKS.unsubscribe_url),
        Links(LINKS.return_url, "https://shop.example/u/a\r\nBcc: x@evil.example"),
    ],
)
def test_an_unsafe_link_is_refused(links: Links) -> None:
    with pytest.raises(ComposeError):
        build(links=links)


# --- headers -------------------------------------------------------------------------------


def test_the_headers_follow_rfc_8058_and_the_cart() -> None:
    message = parsed(build())

    assert message["From"] == SENDER
    assert message["To"] == "sam@example.com"
    assert message["Subject"] == "Your cart is still here, Sam"
    assert message["Date"] == "Sun, 01 Mar 2026 15:30:00 +0000"
    assert message["List-Unsubscribe"] == f"<{LINKS.unsubscribe_url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == message_id_for("cart-42", 1, "linen.example")


def test_the_message_id_is_stable_per_cart_and_step() -> None:
    first = message_id_for("cart-42", 1, "linen.example")

    assert first == message_id_for("cart-42", 1, "linen.example")
    assert first != message_id_for("cart-42", 2, "linen.example")
    assert first != message_id_for("cart-43", 1, "linen.example")
    assert re.fullmatch(r"<cr\.[0-9a-f]{32}\.1@linen\.example>", first)
    assert build().message_id == build(now=NOW + timedelta(hours=5)).message_id
    assert build(step=2).message_id.endswith(".2@linen.example>")


@pytest.mark.parametrize("domain", ["", "bad domain", "x@y", "a\r\nb"])
def test_a_bad_message_id_domain_is_refused(domain: str) -> None:
    with pytest.raises(ComposeError):
        message_id_for("cart-42", 1, domain)


def test_the_date_keeps_the_given_offset() -> None:
    eastern = timezone(timedelta(hours=-5))

    message = parsed(build(now=datetime(2026, 3, 1, 10, 30, tzinfo=eastern)))

    assert message["Date"] == "Sun, 01 Mar 2026 10:30:00 -0500"


def test_a_long_first_name_is_cut_short() -> None:
    out = build(make_cart(name="A" * 500))

    assert out.subject == "Your cart is still here, " + "A" * 60


def test_a_very_long_subject_is_capped() -> None:
    items = tuple(Item(title=f"Hand-thrown stoneware mug no. {n}") for n in range(10))
    out = compose(
        make_cart(items=items),
        1,
        NAMES_IN_SUBJECT,
        sender=SENDER,
        links=LINKS,
        opening=None,
        message_id_domain="linen.example",
        now=NOW,
    )

    assert len(out.subject) <= 150
    assert out.subject.endswith("…")


# --- escaping and injection ----------------------------------------------------------------


def test_script_in_titles_and_names_is_escaped_in_the_html() -> None:
    # Given a name and a title carrying markup
    cart = make_cart(
        name="<script>alert('name')</script>",
        items=(Item(title="<script>alert('title')</script> & <b>bold</b>", quantity=1),),
    )

    # When composed
    _, html = parts(build(cart))

    # Then neither reaches the HTML as markup
    assert "<script>" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in html
    assert (
        "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    )


def test_the_owners_own_words_are_escaped_in_the_html() -> None:
    doc = DEFAULT_VOICE_TEXT.replace(
        "Thanks for shopping with {{ store_name }}.", "Fish & Chips <3 — see <b>you</b>"
    )
    out = compose(
        make_cart(),
        1,
        parse_voice(doc),
        sender=SENDER,
        links=LINKS,
        opening=None,
        message_id_domain="linen.example",
        now=NOW,
    )

    assert "Fish &amp; Chips &lt;3 — see &lt;b&gt;you&lt;/b&gt;" in out.html
    assert "Fish & Chips <3 — see <b>you</b>" in out.text


def test_blank_line_blocks_become_paragraphs_and_lines_become_breaks() -> None:
    doc = DEFAULT_VOICE_TEXT.replace(
        "Warmly,\n{{ store_name }}", "Warmly,\nThe {{ store_name }} team"
    )
    out = compose(
        make_cart(),
        2,
        parse_voice(doc),
        sender=SENDER,
        links=LINKS,
        opening=None,
        message_id_domain="linen.example",
        now=NOW,
    )

    assert ">Warmly,<br>\nThe Linen &amp; Light team</p>" in out.html
    assert ">Hi Sam,</p>" in out.html


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: victim@example.com",
        "Eve\nBcc: victim@example.com",
        "Eve\rBcc: victim@example.com",
        "Eve\u2028Bcc: victim@example.com",
        "Eve\x85Bcc: victim@example.com",
        "Eve\r\n\r\n<html>",
    ],
)
def test_line_breaks_in_a_name_add_no_header(name: str) -> None:
    # Given a name chosen to smuggle a header (the name is first in the subject)
    cart = make_cart(name=name.replace("Eve", "", 1))

    # When composed and serialised
    out = build(cart)
    message = parsed(out)

    # Then the header block holds exactly our headers, once each, and no Bcc
    assert message.get_all("Bcc") is None
    assert len(message.get_all("To") or []) == 1
    assert len(message.get_all("Subject") or []) == 1
    assert raw_headers(out) == [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
    ]


def test_line_breaks_in_titles_add_no_header_even_in_the_subject() -> None:
    doc = DEFAULT_VOICE_TEXT.replace(
        'Subject: Your cart is still here, {{ first_name or "friend" }}', "Subject: {{ items }}"
    )
    cart = make_cart(items=(Item(title="Mug\r\nBcc: victim@example.com\r\n", quantity=1),))
    out = compose(
        cart,
        1,
        parse_voice(doc),
        sender=SENDER,
        links=LINKS,
        opening=None,
        message_id_domain="linen.example",
        now=NOW,
    )

    message = parsed(out)
    assert message.get_all("Bcc") is None
    assert message["Subject"] == "1 × Mug Bcc: victim@example.com — $0.00"
    assert "1 × Mug Bcc: victim@example.com — $0.00" in out.text


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [None, "", "sam@example.com, eve@example.com", "Sam <sam@example.com>", "jürgen@example.de"],
)
def test_a_cart_without_one_plain_address_is_refused(address: str | None) -> None:
    with pytest.raises(ComposeError):
        build(make_cart(email=address))


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ComposeError, match="timezone"):
        build(now=datetime(2026, 3, 1, 15, 30))


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(ComposeError, match="reminder 3"):
        build(step=3)


@pytest.mark.parametrize(
    "sender", ["", "not an address", "a@b.example, c@d.example", "X <a@b>\r\nBcc: c@d"]
)
def test_a_bad_sender_is_refused(sender: str) -> None:
    with pytest.raises(ComposeError):
        build(sender=sender)


def test_the_composed_email_is_a_plain_value() -> None:
    out = build()

    assert out.to == "sam@example.com"
    assert out.sender == SENDER
    assert out.date == NOW
    assert out.headers == (
        ("List-Unsubscribe", f"<{LINKS.unsubscribe_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )
    assert build() == out


def test_a_supplied_opening_is_a_value_never_a_template() -> None:
    # Given a polished line that looks like a placeholder / When composed
    text, html = parts(build(opening="{{ unsubscribe_link }} {% if 1 %}x{% endif %}"))

    # Then it is shown as written, not evaluated
    assert "{{ unsubscribe_link }} {% if 1 %}x{% endif %}" in text
    assert "{{ unsubscribe_link }} {% if 1 %}x{% endif %}" in html


# --- stray control characters ---------------------------------------------------------------

_with_controls = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F), st.characters(), st.sampled_from("\x00\x0b\x7f\ud800")
    ),
    max_size=200,
)


@settings(max_examples=500, deadline=None)
@given(html=_with_controls)
def test_stray_control_characters_are_removed_as_the_pattern_says(html: str) -> None:
    # Given any text, control characters and lone surrogates included
    # When the stray controls are taken out of the HTML body
    # Then exactly the pattern's characters are gone, and text without any comes back as it is
    assert _without_stray_controls(html) == _STRAY_CONTROL.sub("", html)
