"""The OwnerAccounts contract: owners with one name and one email each, sessions that end when
revoked, expired or their owner is removed, and failed logins counted per key in a window.
Run against every adapter (memory, SQLite, DynamoDB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.memory import MemoryAccounts
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.domain.owners import OwnerAccount, OwnerSession
from cart_recovery.ports import OwnerExists
from tests.aws.services import contract_store
from tests.conftest import T0, at


@pytest.fixture(params=["memory", "sqlite", pytest.param("dynamodb", marks=pytest.mark.aws)])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryAccounts()
    elif request.param == "dynamodb":
        with contract_store(request.getfixturevalue("dynamodb_local")) as s:
            yield s
    else:
        s = SqliteStore(tmp_path / "db.sqlite3")
        yield s
        s.close()


SAM = OwnerAccount("Sam", "sam@example.com", T0, password_hash="$argon2id$sam")
ALEX = OwnerAccount("Alex", "alex@example.com", at(hours=1), token_hash="ab" * 32)


def session(id_hash: str, owner: str = "Sam", hours: int = 0) -> OwnerSession:
    return OwnerSession(id_hash, owner, at(hours=hours), at(hours=hours + 12))


def test_owners_are_kept_and_found_by_name_email_and_token(accounts: Any) -> None:
    # Given two owners
    accounts.add_owner(SAM)
    accounts.add_owner(ALEX)
    # Then they are listed by name, and found every way
    assert accounts.owners() == [ALEX, SAM]
    assert accounts.owner_named("sam") == SAM
    assert accounts.owner_by_email("sam@example.com") == SAM
    assert accounts.owner_by_token("ab" * 32) == ALEX
    assert accounts.owner_by_token("") is None
    assert accounts.owner_named("Kim") is None
    assert accounts.owner_by_email("kim@example.com") is None


def test_a_name_or_email_is_one_owners_only(accounts: Any) -> None:
    accounts.add_owner(SAM)
    with pytest.raises(OwnerExists) as same_name:
        accounts.add_owner(OwnerAccount("SAM", "other@example.com", T0, password_hash="x"))
    assert same_name.value.field == "name"
    with pytest.raises(OwnerExists) as same_email:
        accounts.add_owner(OwnerAccount("Kim", "sam@example.com", T0, password_hash="x"))
    assert same_email.value.field == "email"
    # nothing half-written: Kim is not there, and her email is still free
    assert [a.name for a in accounts.owners()] == ["Sam"]
    accounts.add_owner(OwnerAccount("Kim", "kim@example.com", T0, password_hash="x"))


def test_a_login_is_recorded(accounts: Any) -> None:
    accounts.add_owner(SAM)
    accounts.record_login("Sam", at(hours=5))
    found = accounts.owner_named("Sam")
    assert found is not None and found.last_login == at(hours=5)
    accounts.record_login("Nobody", at(hours=5))  # no owner: nothing happens


def test_a_session_lives_until_it_expires_or_is_revoked(accounts: Any) -> None:
    accounts.add_owner(SAM)
    accounts.create_session(session("s1"))
    accounts.create_session(session("s2"))
    assert accounts.find_session("s1", at(hours=1)) == session("s1")
    assert accounts.find_session("s1", at(hours=12)) is None  # expired
    assert accounts.find_session("nope", at(hours=1)) is None
    # revoking one leaves the other
    accounts.revoke_session("s1")
    assert accounts.find_session("s1", at(hours=1)) is None
    assert accounts.find_session("s2", at(hours=1)) is not None
    accounts.revoke_session("s1")  # twice: nothing


def test_revoking_all_of_an_owners_sessions_ends_only_theirs(accounts: Any) -> None:
    accounts.add_owner(SAM)
    accounts.add_owner(ALEX)
    accounts.create_session(session("s1"))
    accounts.create_session(session("s2", hours=1))
    accounts.create_session(session("a1", "Alex"))
    accounts.revoke_sessions("Sam")
    assert accounts.find_session("s1", at(hours=2)) is None
    assert accounts.find_session("s2", at(hours=2)) is None
    assert accounts.find_session("a1", at(hours=2)) is not None
    # a session made afterwards lives
    accounts.create_session(session("s3", hours=2))
    assert accounts.find_session("s3", at(hours=3)) is not None


def test_the_unnamed_owners_sessions_are_kept_and_revoked_too(accounts: Any) -> None:
    accounts.create_session(session("u1", "owner"))
    assert accounts.find_session("u1", at(hours=1)) is not None
    accounts.revoke_sessions("owner")
    assert accounts.find_session("u1", at(hours=1)) is None


def test_removing_an_owner_ends_their_sessions_and_frees_name_and_email(accounts: Any) -> None:
    accounts.add_owner(SAM)
    accounts.create_session(session("s1"))
    assert accounts.remove_owner("sam")
    assert accounts.find_session("s1", at(hours=1)) is None
    assert accounts.owner_named("Sam") is None and accounts.owners() == []
    assert not accounts.remove_owner("Sam")
    # the same name and email can be added again, and old sessions stay dead
    accounts.add_owner(SAM)
    accounts.create_session(session("s2", hours=1))
    assert accounts.find_session("s1", at(hours=2)) is None
    assert accounts.find_session("s2", at(hours=2)) is not None


def test_failed_logins_are_counted_per_key_after_a_time(accounts: Any) -> None:
    for minute in (0, 5, 10):
        accounts.note_failed_login("client:10.0.0.1", at(minutes=minute))
    accounts.note_failed_login("account:abc", at(minutes=5))
    assert accounts.failed_logins("client:10.0.0.1", at(minutes=-1)) == 3
    assert accounts.failed_logins("client:10.0.0.1", at(minutes=0)) == 2  # after, not at
    assert accounts.failed_logins("client:10.0.0.1", at(minutes=10)) == 0
    assert accounts.failed_logins("account:abc", at(minutes=-1)) == 1
    assert accounts.failed_logins("client:10.0.0.2", at(minutes=-1)) == 0
