"""The shop's owners: who may log in to the dashboard and act, and under what name the audit
records them. Pure values and rules; the accounts are kept through the ``OwnerAccounts`` port.

An owner has a name (what the audit says), an email address and one credential: a password
(kept as its argon2 hash) or a personal token (random, kept as its SHA-256). Until the first
owner is added, the one ``admin_token`` of the config logs in as the unnamed owner, ``owner``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cart_recovery.domain.address import AddressError, normalise_email, recipient_address

UNNAMED = "owner"  # the audit's name for the admin token's login (and for older action links)
MIN_PASSWORD = 12
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_ATTEMPTS = 10  # failed logins per client address, and per account, per window
SESSION_AGE = timedelta(hours=12)  # log in again after half a day
NAME_MAX = 40
_NAME = re.compile(r"[^\W\d_][\w .'-]*", re.UNICODE)
# Names the audit and the unsubscribe list already use for someone else.
RESERVED = frozenset(
    {UNNAMED, "shopper", "system", "bounce", "complaint", "drive", "dashboard", "admin"}
)


class OwnerError(ValueError):
    """An owner that cannot be added as given; the message says what was wrong."""


@dataclass(frozen=True)
class OwnerAccount:
    """One owner: ``password_hash`` (argon2, PHC string) or ``token_hash`` (hex SHA-256), never
    both; ``email`` normalised."""

    name: str
    email: str
    created: datetime
    password_hash: str = field(default="", repr=False)
    token_hash: str = field(default="", repr=False)
    last_login: datetime | None = None

    @property
    def logs_in_with(self) -> str:
        """How the owner logs in, in the owners' list: ``token`` or ``password``."""
        return "token" if self.token_hash else "password"


@dataclass(frozen=True)
class OwnerSession:
    """A dashboard login: ``id_hash`` is the SHA-256 of the random id the cookie carries."""

    id_hash: str = field(repr=False)
    owner: str
    created: datetime
    expires: datetime


def owner_name(name: str) -> str:
    """The name as the audit will show it (spaces collapsed); OwnerError when it can't be."""
    clean = " ".join(name.split())
    if not clean:
        raise OwnerError("the name is empty")
    if len(clean) > NAME_MAX:
        raise OwnerError(f"the name is longer than {NAME_MAX} characters")
    if not _NAME.fullmatch(clean):
        raise OwnerError(
            f"{clean!r} is not a name: start with a letter; then letters, digits, spaces, "
            "dots, apostrophes, hyphens"
        )
    if clean.casefold() in RESERVED:
        raise OwnerError(f"{clean!r} is a name the history already uses for something else")
    return clean


def owner_email(email: str) -> str:
    """The owner's address, normalised; OwnerError when it is not one."""
    try:
        recipient_address(email)
    except AddressError:
        raise OwnerError(f"{email.strip()[:80]!r} is not an email address") from None
    return normalise_email(email)


def check_password(password: str, again: str | None = None) -> None:
    """A new password: long enough and, when it was typed twice (``again``), the same twice."""
    if len(password) < MIN_PASSWORD:
        raise OwnerError(f"the password is shorter than {MIN_PASSWORD} characters")
    if again is not None and again != password:
        raise OwnerError("the two passwords do not match")


def session_expires(created: datetime) -> datetime:
    return created + SESSION_AGE


def window_start(now: datetime) -> datetime:
    """Failed logins at or after this time count toward the lockout."""
    return now - LOGIN_WINDOW
