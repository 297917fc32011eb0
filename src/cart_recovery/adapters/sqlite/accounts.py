"""The owners' logins (the ``OwnerAccounts`` port) in the ``owners``, ``owner_sessions`` and
``failed_logins`` tables."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cart_recovery.adapters.sqlite.codec import from_us, to_us
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.domain.owners import OwnerAccount, OwnerSession, window_start
from cart_recovery.ports import OwnerExists

_ROW = "SELECT name, email, created, password_hash, token_hash, last_login FROM owners"


def _account(row: tuple[str, str, int, str, str, int | None]) -> OwnerAccount:
    return OwnerAccount(
        name=row[0],
        email=row[1],
        created=from_us(row[2]),
        password_hash=row[3],
        token_hash=row[4],
        last_login=None if row[5] is None else from_us(row[5]),
    )


class Accounts(Connection):
    def add_owner(self, account: OwnerAccount) -> None:
        with self._write() as c:
            if c.execute("SELECT 1 FROM owners WHERE name = ?", (account.name,)).fetchone():
                raise OwnerExists("name")
            if c.execute("SELECT 1 FROM owners WHERE email = ?", (account.email,)).fetchone():
                raise OwnerExists("email")
            try:
                c.execute(
                    "INSERT INTO owners (name, email, created, password_hash, token_hash) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        account.name,
                        account.email,
                        to_us(account.created),
                        account.password_hash,
                        account.token_hash,
                    ),
                )
            except sqlite3.IntegrityError:
                raise OwnerExists("token") from None

    def owners(self) -> list[OwnerAccount]:
        with self._lock:
            rows = self._conn.execute(f"{_ROW} ORDER BY name").fetchall()
        return [_account(r) for r in rows]

    def _one(self, query: str, value: str) -> OwnerAccount | None:
        with self._lock:
            row = self._conn.execute(query, (value,)).fetchone()
        return None if row is None else _account(row)

    def owner_named(self, name: str) -> OwnerAccount | None:
        return self._one(f"{_ROW} WHERE name = ?", name)

    def owner_by_email(self, email: str) -> OwnerAccount | None:
        return self._one(f"{_ROW} WHERE email = ?", email)

    def owner_by_token(self, token_hash: str) -> OwnerAccount | None:
        return self._one(f"{_ROW} WHERE token_hash = ?", token_hash) if token_hash else None

    def remove_owner(self, name: str) -> bool:
        with self._write() as c:
            gone = c.execute("DELETE FROM owners WHERE name = ?", (name,)).rowcount == 1
            if gone:
                c.execute("DELETE FROM owner_sessions WHERE owner = ?", (name,))
            return gone

    def record_login(self, name: str, at: datetime) -> None:
        with self._write(one_statement=True) as c:
            c.execute("UPDATE owners SET last_login = ? WHERE name = ?", (to_us(at), name))

    def note_failed_login(self, key: str, at: datetime) -> None:
        with self._write() as c:
            c.execute("DELETE FROM failed_logins WHERE at <= ?", (to_us(window_start(at)),))
            c.execute("INSERT INTO failed_logins (key, at) VALUES (?, ?)", (key, to_us(at)))

    def failed_logins(self, key: str, since: datetime) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM failed_logins WHERE key = ? AND at > ?", (key, to_us(since))
            ).fetchone()
        return int(row[0])

    def create_session(self, session: OwnerSession) -> None:
        with self._write() as c:
            c.execute("DELETE FROM owner_sessions WHERE expires <= ?", (to_us(session.created),))
            c.execute(
                "INSERT INTO owner_sessions (id_hash, owner, created, expires) VALUES (?, ?, ?, ?)",
                (session.id_hash, session.owner, to_us(session.created), to_us(session.expires)),
            )

    def find_session(self, id_hash: str, now: datetime) -> OwnerSession | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT owner, created, expires FROM owner_sessions "
                "WHERE id_hash = ? AND expires > ?",
                (id_hash, to_us(now)),
            ).fetchone()
        if row is None:
            return None
        return OwnerSession(id_hash, row[0], from_us(row[1]), from_us(row[2]))

    def revoke_session(self, id_hash: str) -> None:
        with self._write(one_statement=True) as c:
            c.execute("DELETE FROM owner_sessions WHERE id_hash = ?", (id_hash,))

    def revoke_sessions(self, owner: str) -> None:
        with self._write(one_statement=True) as c:
            c.execute("DELETE FROM owner_sessions WHERE owner = ?", (owner,))


__all__ = ["Accounts"]
