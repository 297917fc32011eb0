"""The owners' logins in memory (the ``OwnerAccounts`` port): tests and one-process demos."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from cart_recovery.domain.owners import OwnerAccount, OwnerSession, window_start
from cart_recovery.ports import OwnerExists


class MemoryAccounts:
    """OwnerAccounts in dictionaries, behind a lock."""

    def __init__(self) -> None:
        self._owners: dict[str, OwnerAccount] = {}  # casefolded name → account
        self._sessions: dict[str, OwnerSession] = {}
        self._failures: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def add_owner(self, account: OwnerAccount) -> None:
        with self._lock:
            if account.name.casefold() in self._owners:
                raise OwnerExists("name")
            if any(a.email == account.email for a in self._owners.values()):
                raise OwnerExists("email")
            if account.token_hash and any(
                a.token_hash == account.token_hash for a in self._owners.values()
            ):
                raise OwnerExists("token")
            self._owners[account.name.casefold()] = account

    def owners(self) -> list[OwnerAccount]:
        with self._lock:
            return sorted(self._owners.values(), key=lambda a: a.name.casefold())

    def owner_named(self, name: str) -> OwnerAccount | None:
        with self._lock:
            return self._owners.get(name.casefold())

    def owner_by_email(self, email: str) -> OwnerAccount | None:
        with self._lock:
            return next((a for a in self._owners.values() if a.email == email), None)

    def owner_by_token(self, token_hash: str) -> OwnerAccount | None:
        if not token_hash:
            return None
        with self._lock:
            return next((a for a in self._owners.values() if a.token_hash == token_hash), None)

    def remove_owner(self, name: str) -> bool:
        with self._lock:
            account = self._owners.pop(name.casefold(), None)
            if account is None:
                return False
            self._drop_sessions(account.name)
            return True

    def record_login(self, name: str, at: datetime) -> None:
        with self._lock:
            account = self._owners.get(name.casefold())
            if account is not None:
                self._owners[name.casefold()] = dataclasses.replace(account, last_login=at)

    def note_failed_login(self, key: str, at: datetime) -> None:
        with self._lock:
            kept = [t for t in self._failures.get(key, []) if t > window_start(at)]
            self._failures[key] = [*kept, at]

    def failed_logins(self, key: str, since: datetime) -> int:
        with self._lock:
            return sum(1 for t in self._failures.get(key, []) if t > since)

    def create_session(self, session: OwnerSession) -> None:
        with self._lock:
            self._sessions[session.id_hash] = session

    def find_session(self, id_hash: str, now: datetime) -> OwnerSession | None:
        with self._lock:
            session = self._sessions.get(id_hash)
        if session is None or session.expires <= now:
            return None
        return session

    def revoke_session(self, id_hash: str) -> None:
        with self._lock:
            self._sessions.pop(id_hash, None)

    def revoke_sessions(self, owner: str) -> None:
        with self._lock:
            self._drop_sessions(owner)

    def _drop_sessions(self, owner: str) -> None:
        folded = owner.casefold()
        for id_hash in [k for k, s in self._sessions.items() if s.owner.casefold() == folded]:
            del self._sessions[id_hash]


__all__ = ["MemoryAccounts"]
