"""The owners' door, the same on every runtime: adding and removing owners, logging in (an
email and password, a personal token, or the config's ``admin_token`` while no owner is named),
the lockout after failed logins, and the dashboard sessions. It gets the ``OwnerAccounts`` port
and the time of each call; it keeps nothing of its own between calls, so a revoked session or a
failed login counts in every process at once.

Passwords are kept as argon2id hashes (argon2-cffi's defaults); personal tokens and session ids
are 32 random bytes, kept as their SHA-256 (a random secret needs no slow hash). Failed logins
count per client address and per account (the email's SHA-256): 10 in 15 minutes of either
locks the login out until the oldest falls out of the window.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cart_recovery.domain.owners import (
    LOGIN_ATTEMPTS,
    UNNAMED,
    OwnerAccount,
    OwnerError,
    OwnerSession,
    check_password,
    owner_email,
    owner_name,
    session_expires,
    window_start,
)
from cart_recovery.ports import OwnerAccounts, OwnerExists

log = logging.getLogger("cart_recovery.owners")
_hasher = PasswordHasher()
# Checked against when no owner has the email, so a wrong email costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def secret_hash(secret: str) -> str:
    """The SHA-256 (hex) a random token or session id is kept as."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Refusal(enum.StrEnum):
    LOCKED = "locked"  # too many failed logins
    WRONG = "wrong"  # the email and password, or the token, don't match
    USE_EMAIL = "use_email"  # the admin token, once owners are named
    OFF = "off"  # no owner and no admin token: nobody can log in


@dataclass(frozen=True)
class Login:
    """A login's answer: the new session's id (for the cookie) and whose it is, or a refusal."""

    owner: str = ""
    session_id: str = ""
    refused: Refusal | None = None


class OwnerLogins:
    def __init__(self, accounts: OwnerAccounts, admin_token: str = "") -> None:
        self.accounts = accounts
        self._admin_token = admin_token

    # ---- the owners ------------------------------------------------------------------------
    def add_with_password(
        self,
        name: str,
        email: str,
        password: str,
        now: datetime,
        *,
        again: str | None = None,
        by: str = "",
        via: str = "",
    ) -> OwnerAccount:
        """OwnerError (or OwnerExists) naming what was wrong; nothing kept then. ``again``: the
        password typed a second time, when it was; ``by`` and ``via``: who adds, and where
        from (for the log line)."""
        check_password(password, again)
        account = OwnerAccount(
            owner_name(name), owner_email(email), now, password_hash=_hasher.hash(password)
        )
        self.accounts.add_owner(account)
        _logged("owner added", account, by, via)
        return account

    def add_with_token(
        self, name: str, email: str, now: datetime, *, by: str = "", via: str = ""
    ) -> tuple[OwnerAccount, str]:
        """The new owner and their personal token, which is shown once and kept only hashed."""
        token = secrets.token_urlsafe(32)
        account = OwnerAccount(
            owner_name(name), owner_email(email), now, token_hash=secret_hash(token)
        )
        self.accounts.add_owner(account)
        _logged("owner added", account, by, via)
        return account, token

    def remove(self, name: str, *, by: str = "", via: str = "") -> OwnerAccount:
        """The owner named ``name`` (case-insensitively) is gone, and every session of theirs
        ends at once. OwnerError when there is none, or when ``by`` (the owner who removes)
        would remove themselves as the last owner: nothing changes then."""
        found = self.accounts.owner_named(name.strip())
        if found is None:
            raise OwnerError(f"no owner is named {name.strip()!r}")
        if by.casefold() == found.name.casefold() and len(self.accounts.owners()) <= 1:
            raise OwnerError(
                f"{found.name} is the last owner: add another owner before removing yourself"
            )
        if not self.accounts.remove_owner(found.name):
            raise OwnerError(f"no owner is named {name.strip()!r}")
        _logged("owner removed", found, by, via)
        return found

    def named(self) -> bool:
        """Are owners named? Then the admin token no longer logs in."""
        return bool(self.accounts.owners())

    @property
    def open(self) -> bool:
        """Can anyone log in (an admin token is set, or an owner is named)?"""
        return bool(self._admin_token) or self.named()

    # ---- logging in ------------------------------------------------------------------------
    def _locked(self, keys: list[str], now: datetime) -> bool:
        since = window_start(now)
        return any(self.accounts.failed_logins(k, since) >= LOGIN_ATTEMPTS for k in keys)

    def _failed(self, keys: list[str], now: datetime) -> Login:
        for key in keys:
            self.accounts.note_failed_login(key, now)
        return Login(refused=Refusal.WRONG)

    def _session(self, owner: str, now: datetime) -> Login:
        session_id = secrets.token_urlsafe(32)
        self.accounts.create_session(
            OwnerSession(secret_hash(session_id), owner, now, session_expires(now))
        )
        if owner != UNNAMED:
            self.accounts.record_login(owner, now)
        return Login(owner=owner, session_id=session_id)

    def with_password(self, email: str, password: str, client: str, now: datetime) -> Login:
        try:
            address = owner_email(email)
        except OwnerError:
            address = email.strip().casefold()
        keys = ["client:" + client, "account:" + secret_hash(address)]
        if self._locked(keys, now):
            return Login(refused=Refusal.LOCKED)
        account = self.accounts.owner_by_email(address)
        stored = account.password_hash if account is not None else ""
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
            matched = account is not None and bool(stored)
        except (VerificationError, InvalidHashError):
            matched = False
        if not matched or account is None:
            return self._failed(keys, now)
        return self._session(account.name, now)

    def with_token(self, token: str, client: str, now: datetime) -> Login:
        """A personal token, or the admin token while no owner is named."""
        keys = ["client:" + client]
        if not self.open:
            return Login(refused=Refusal.OFF)
        if self._locked(keys, now):
            return Login(refused=Refusal.LOCKED)
        who = self.token_owner(token)
        if who is None:
            if self._admin_token and _same(token, self._admin_token):
                return Login(refused=Refusal.USE_EMAIL)
            return self._failed(keys, now)
        return self._session(who, now)

    def token_owner(self, token: str) -> str | None:
        """Whose token this is: an owner's personal token, or the admin token (the unnamed
        owner) while no owner is named; None otherwise (the API's bearer token, too)."""
        token = token.strip()
        if not token:
            return None
        account = self.accounts.owner_by_token(secret_hash(token))
        if account is not None:
            return account.name
        if self._admin_token and _same(token, self._admin_token) and not self.named():
            return UNNAMED
        return None

    # ---- sessions --------------------------------------------------------------------------
    def session(self, session_id: str, now: datetime) -> OwnerSession | None:
        """The live session with this id: not expired, not revoked, its owner still kept (the
        unnamed owner's only while no owner is named). Read from the store on every call."""
        if not session_id:
            return None
        found = self.accounts.find_session(secret_hash(session_id), now)
        if found is None:
            return None
        if found.owner == UNNAMED:
            return None if self.named() or not self._admin_token else found
        return found if self.accounts.owner_named(found.owner) is not None else None

    def log_out(self, session_id: str) -> None:
        if session_id:
            self.accounts.revoke_session(secret_hash(session_id))

    def log_out_everywhere(self, owner: str) -> None:
        self.accounts.revoke_sessions(owner)


def _logged(what: str, account: OwnerAccount, by: str, via: str) -> None:
    """One structured log line of a change to the owners: whose, by whom, from where (never
    a password, a token or a hash)."""
    log.info(
        what,
        extra={
            "owner": account.name,
            "logs_in_with": account.logs_in_with,
            "by": by or None,
            "via": via or None,
        },
    )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


__all__ = ["Login", "OwnerError", "OwnerExists", "OwnerLogins", "Refusal", "secret_hash"]
