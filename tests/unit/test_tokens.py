"""Email link tokens: minted quickly, read by itsdangerous exactly as its own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode

from cart_recovery.adapters.links import BadToken, Tokens, _urlsafe
from cart_recovery.domain.privacy import EmailKey

SECRET = "test-signing-key-0123456789"
tokens = Tokens(SECRET)
unsub = URLSafeSerializer(SECRET, salt="cart-recovery.unsubscribe")
ret = URLSafeSerializer(SECRET, salt="cart-recovery.return")


@given(st.text(max_size=120))
def test_an_unsubscribe_token_is_what_itsdangerous_writes_and_reads(address: str) -> None:
    token = tokens.unsubscribe(address)
    folded = address.strip().casefold()
    assert unsub.loads(token) == folded
    assert tokens.read_unsubscribe(token) == folded
    if not unsub.dumps(folded).startswith("."):  # the same bytes unless it chose to compress
        assert token == unsub.dumps(folded)


@given(st.text(min_size=1, max_size=120), st.integers(min_value=1, max_value=2))
def test_a_return_token_is_what_itsdangerous_writes_and_reads(cart_id: str, step: int) -> None:
    token = tokens.return_link(cart_id, step)
    assert ret.loads(token) == [cart_id, step]
    assert tokens.read_return_link(token) == (cart_id, step)
    if not ret.dumps([cart_id, step]).startswith("."):
        assert token == ret.dumps([cart_id, step])


def test_tokens_made_by_itsdangerous_itself_still_read_even_compressed() -> None:
    long_id = "cart-" + "a" * 200
    made = ret.dumps([long_id, 1])
    assert made.startswith(".")  # compressed
    assert tokens.read_return_link(made) == (long_id, 1)


def test_a_token_of_one_kind_or_another_key_or_altered_is_refused() -> None:
    token = tokens.unsubscribe("sam@example.com")
    with pytest.raises(BadToken):
        tokens.read_return_link(token)
    with pytest.raises(BadToken):
        Tokens("another-signing-key-0123456789").read_unsubscribe(token)
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


@given(st.text(max_size=120), st.text(max_size=40))
def test_a_link_token_names_the_address_by_its_keyed_digest_only(
    address: str, cart_id: str
) -> None:
    token = tokens.unsubscribe_key(address, cart_id)
    link = tokens.read_unsubscribe_link(token)
    key = EmailKey.from_signing_key(SECRET)
    assert (link.digest, link.cart_id, link.email) == (key.digest(address), cart_id, None)
    assert URLSafeSerializer(SECRET, salt="cart-recovery.unsubscribe.v2").loads(token) == [
        key.digest(address),
        cart_id,
    ]


def test_both_kinds_of_unsubscribe_token_are_read_and_no_other() -> None:
    old = tokens.unsubscribe("Sam@Example.com")
    assert tokens.read_unsubscribe_link(old).email == "sam@example.com"
    new = tokens.unsubscribe_key("sam@example.com", "c1")
    for bad in (
        Tokens("another-signing-key-0123456789").unsubscribe_key("sam@example.com", "c1"),
        new[:-2] + ("A" if new[-2] != "A" else "B") + new[-1],
        tokens.return_link("c1", 1),
    ):
        with pytest.raises(BadToken):
            tokens.read_unsubscribe_link(bad)
    with pytest.raises(BadToken):
        tokens.read_return_link(new)


@given(st.binary(max_size=200))
def test_the_token_base64_is_itsdangerous_own(data: bytes) -> None:
    assert _urlsafe(data) == base64_encode(data)
