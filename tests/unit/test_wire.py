"""The MIME writer (``adapters.mail.wire``): a composed reminder as the bytes that go on the wire,
held to what the standard library's ``email`` package would write and read."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cart_recovery.adapters.mail.wire import _base64_lines, to_bytes, to_message, to_wire
from cart_recovery.domain.compose import Links, compose
from cart_recovery.domain.model import Item
from tests.unit.test_compose import (
    LINKS,
    NAMES_IN_SUBJECT,
    NOW,
    SENDER,
    build,
    make_cart,
    parsed,
)

# --- headers and lines -----------------------------------------------------------------------


def test_a_long_unsubscribe_url_is_not_folded_into_encoded_words() -> None:
    long_links = Links(LINKS.return_url, "https://shop.example/u/" + "A1b2-" * 60)

    out = build(links=long_links)

    assert f"List-Unsubscribe: <{long_links.unsubscribe_url}>\r\n".encode() in to_bytes(out)
    assert parsed(out)["List-Unsubscribe"] == f"<{long_links.unsubscribe_url}>"


def test_a_non_ascii_subject_is_rfc_2047_encoded() -> None:
    out = build(make_cart(name="Jürgen Müller"))

    head = to_bytes(out).split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    assert parsed(out)["Subject"] == "Your cart is still here, Jürgen"


def test_every_line_is_crlf_terminated_and_short() -> None:
    raw = to_bytes(build(make_cart(name="Zoë " + "ü" * 200)))

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


# --- property: nothing a shopper types breaks the message ----------------------------------

_anything = st.text(max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(st.none(), _anything),
    titles=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=4),
    opening=st.one_of(st.none(), _anything),
)
def test_any_unicode_name_or_title_yields_a_well_formed_message(
    name: str | None, titles: list[str], opening: str | None
) -> None:
    # Given a cart whose name and titles are arbitrary unicode
    cart = make_cart(name=name, items=tuple(Item(title=t, quantity=1) for t in titles))

    # When composed and serialised
    raw = to_bytes(
        compose(
            cart,
            1,
            NAMES_IN_SUBJECT,
            sender=SENDER,
            links=LINKS,
            opening=opening,
            message_id_domain="linen.example",
            now=NOW,
        )
    )

    # Then it parses back with exactly one To, one Subject and no Bcc
    message = email.message_from_bytes(raw, policy=policy.default)
    assert len(message.get_all("To") or []) == 1
    assert len(message.get_all("Subject") or []) == 1
    assert message.get_all("Bcc") is None
    assert message["To"] == "sam@example.com"
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])


# --- the one-pass writer says what the standard library would say -----------------------------


def _read(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(st.none(), _anything),
    titles=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=4),
    opening=st.one_of(st.none(), _anything),
    step=st.sampled_from([1, 2]),
)
def test_the_wire_bytes_read_back_as_the_standard_librarys_message(
    name: str | None, titles: list[str], opening: str | None, step: int
) -> None:
    # Given any cart, composed
    cart = make_cart(name=name, items=tuple(Item(title=t, quantity=1) for t in titles))
    out = compose(
        cart,
        step,
        NAMES_IN_SUBJECT,
        sender=SENDER,
        links=LINKS,
        opening=opening,
        message_id_domain="linen.example",
        now=NOW,
    )

    # When written in one pass and by the standard library's email package
    fast, slow = _read(to_bytes(out)), _read(to_message(out).as_bytes())

    # Then a reader sees the same headers and the same two parts
    for header in ("From", "To", "Date", "Message-ID", "List-Unsubscribe"):
        assert str(fast[header]) == str(slow[header]), header
    assert fast["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # the subject reads back exactly (the standard library decodes look-alike encoded words and
    # can drop a space between two encoded words; the one-pass writer does neither)
    assert str(fast["Subject"]) == out.subject
    if out.subject.isascii() and "=?" not in out.subject:
        assert str(fast["Subject"]) == str(slow["Subject"])
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        fast_part, slow_part = fast.get_body((kind,)), slow.get_body((kind,))
        assert fast_part is not None and slow_part is not None
        assert fast_part.get_content().replace("\r\n", "\n") == slow_part.get_content().replace(
            "\r\n", "\n"
        )
    # and every line stays within RFC 5322's limit
    assert all(len(line) <= 998 for line in to_bytes(out).split(b"\r\n"))


def test_the_wire_message_carries_its_envelope() -> None:
    wire = to_wire(build())

    assert wire.sender == "hello@linen.example"
    assert wire.recipients == ("sam@example.com",)
    assert wire.message_id == build().message_id
    assert wire.as_bytes() == to_bytes(build())
    assert wire.parsed()["Subject"] == build().subject


# --- the HTML part's base64 lines -----------------------------------------------------------


def _plain_base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76)) or b"\r\n"


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(st.binary(max_size=4000), st.integers(0, 240).map(bytes)))
def test_the_html_base64_is_cut_into_76_character_crlf_lines(data: bytes) -> None:
    # Given any bytes (the lengths around whole lines included: st.integers gives 0..240 zeros)
    # When encoded as the HTML part is
    # Then it is the plain base64 of them in 76-character CRLF-terminated lines
    assert _base64_lines(data) == _plain_base64_lines(data)
