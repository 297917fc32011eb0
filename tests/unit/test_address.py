"""Email addresses (domain/address.py): the one compared form, and what can be mailed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart_recovery.domain.address import AddressError, normalise_email, recipient_address


def test_addresses_are_compared_stripped_and_casefolded() -> None:
    assert normalise_email("  Maya@Example.COM ") == "maya@example.com"


@pytest.mark.parametrize(
    ("text", "mailed"),
    [
        ("maya@example.com", "maya@example.com"),
        ("  maya@example.com ", "maya@example.com"),
        ('"maya jones"@example.com', '"maya jones"@example.com'),
    ],
)
def test_a_mailable_address_comes_back_as_its_addr_spec(text: str, mailed: str) -> None:
    assert recipient_address(text) == mailed


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "not an address",
        "maya@",
        "@example.com",
        "maya@exa mple.com",
        "maya@example.com, jo@example.com",
        "mäya@example.com",
        # punctuation the stdlib's address parser raises HeaderParseError on
        ",./;'[]\\-=<>?:\"{}|_+!@#$%^&*()`~",
    ],
)
def test_an_address_that_cannot_be_mailed_is_refused_with_address_error(text: str | None) -> None:
    with pytest.raises(AddressError):
        recipient_address(text)


@given(st.text(max_size=80))
def test_any_text_is_either_mailable_or_refused_with_address_error(text: str) -> None:
    with contextlib.suppress(AddressError):
        recipient_address(text)
