"""The owners' door over the in-memory accounts: passwords and personal tokens, the admin token
while no owner is named, the lockout per client and per account, sessions read afresh each
time; and action link tokens that name their owner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cart_recovery.adapters.links import Tokens
from cart_recovery.adapters.memory import MemoryAccounts
from cart_recovery.domain.owners import OwnerError
from cart_recovery.ports import BadToken
from cart_recovery.service.owners import OwnerLogins, Refusal, secret_hash
from tests.conftest import T0, at

ADMIN = "admin-token-" + "x" * 24
PASSWORD = "a long enough password"


@pytest.fixture
def logins() -> OwnerLogins:
    return OwnerLogins(MemoryAccounts(), ADMIN)


def test_the_admin_token_logs_in_as_the_unnamed_owner_until_owners_are_named(
    logins: OwnerLogins,
) -> None:
    done = logins.with_token(ADMIN, "10.0.0.1", T0)
    assert done.owner == "owner" and done.session_id
    assert logins.token_owner(ADMIN) == "owner"
    assert logins.session(done.session_id, at(hours=1)) is not None
    # When an owner is named
    logins.add_with_password("Sam", "sam@example.com", PASSWORD, T0)
    # Then the unnamed owner's session ends, and the token is refused with a reason
    assert logins.session(done.session_id, at(hours=1)) is None
    assert logins.with_token(ADMIN, "10.0.0.1", T0).refused is Refusal.USE_EMAIL
    assert logins.token_owner(ADMIN) is None


def test_passwords_are_kept_hashed_and_checked(logins: OwnerLogins) -> None:
    account = logins.add_with_password(" Sam  Lee ", "Sam@Example.com", PASSWORD, T0)
    assert account.name == "Sam Lee" and account.email == "sam@example.com"
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in repr(account)
    assert logins.with_password("sam@example.com", "wrong password!", "c", T0).refused
    assert logins.with_password("nobody@example.com", PASSWORD, "c", T0).refused
    done = logins.with_password("SAM@example.com ", PASSWORD, "c", T0)
    assert done.owner == "Sam Lee"
    # the session's id is kept only as its hash
    stored = logins.accounts.find_session(secret_hash(done.session_id), T0)
    assert stored is not None and stored.id_hash != done.session_id


def test_a_personal_token_is_random_and_kept_as_its_hash(logins: OwnerLogins) -> None:
    account, token = logins.add_with_token("Alex", "alex@example.com", T0)
    assert account.token_hash == secret_hash(token) and token not in repr(account)
    assert logins.with_token(token, "c", T0).owner == "Alex"
    assert logins.token_owner(token) == "Alex"
    assert logins.with_token(token + "x", "c", T0).refused is Refusal.WRONG
    assert logins.with_password("alex@example.com", token, "c", T0).refused is Refusal.WRONG


@pytest.mark.parametrize(
    ("name", "email", "password", "says"),
    [
        ("", "a@example.com", PASSWORD, "empty"),
        ("Owner", "a@example.com", PASSWORD, "already uses"),
        ("7up", "a@example.com", PASSWORD, "start with a letter"),
        ("Kim", "not an address", PASSWORD, "not an email address"),
        ("Kim", "kim@example.com", "eleven char", "shorter than 12"),
    ],
)
def test_bad_owners_say_what_was_wrong(
    logins: OwnerLogins, name: str, email: str, password: str, says: str
) -> None:
    with pytest.raises(OwnerError, match=says):
        logins.add_with_password(name, email, password, T0)
    assert logins.accounts.owners() == []


def test_ten_failures_lock_out_the_account_from_any_address(logins: OwnerLogins) -> None:
    logins.add_with_password("Sam", "sam@example.com", PASSWORD, T0)
    for i in range(10):
        assert logins.with_password("sam@example.com", "nope", f"10.0.0.{i}", at(minutes=i))
    locked = logins.with_password("sam@example.com", PASSWORD, "10.9.9.9", at(minutes=10))
    assert locked.refused is Refusal.LOCKED
    # another account from a fresh address is not held back
    logins.add_with_password("Alex", "alex@example.com", PASSWORD, T0)
    assert logins.with_password("alex@example.com", PASSWORD, "10.9.9.9", at(minutes=10)).owner
    # and the first failure falls out of the window after 15 minutes
    later = at(minutes=15, seconds=1)
    assert logins.with_password("sam@example.com", PASSWORD, "10.9.9.9", later).owner == "Sam"


def test_a_session_ends_with_its_owner_and_when_logged_out(logins: OwnerLogins) -> None:
    logins.add_with_password("Sam", "sam@example.com", PASSWORD, T0)
    one = logins.with_password("sam@example.com", PASSWORD, "c", T0).session_id
    two = logins.with_password("sam@example.com", PASSWORD, "c", T0).session_id
    logins.log_out(one)
    assert logins.session(one, T0) is None and logins.session(two, T0) is not None
    assert logins.session(two, T0 + timedelta(hours=12)) is None  # half a day at most
    logins.remove("sam")
    assert logins.session(two, T0) is None


def test_nobody_logs_in_without_owners_or_an_admin_token() -> None:
    closed = OwnerLogins(MemoryAccounts(), "")
    assert not closed.open
    assert closed.with_token("", "c", T0).refused is Refusal.OFF


def test_an_action_link_names_its_owner_and_older_links_act_as_the_unnamed_one() -> None:
    tokens = Tokens("k" * 32)
    named = tokens.action("write_off", "c1", "Sam")
    assert tokens.read_owner_action(named) == ("write_off", "c1", "Sam")
    assert tokens.read_action(named) == ("write_off", "c1")
    # a link minted as before (no name) is the unnamed owner's, and looks as it did
    plain = tokens.action("suppress", "c1")
    assert tokens._action.loads(plain) == ["suppress", "c1"]
    assert tokens.read_owner_action(plain) == ("suppress", "c1", "owner")
    # an altered name breaks the signature
    payload, rest = named.split(".", 1)
    with pytest.raises(BadToken):
        tokens.read_owner_action(payload[:-2] + "xx." + rest)
