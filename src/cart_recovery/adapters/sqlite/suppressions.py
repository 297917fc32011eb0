"""The unsubscribe list: who is on it (by keyed digest), why, and the counted soft bounces;
taking an address off it by the shopper's own link."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import msgspec

from cart_recovery.adapters.sqlite.codec import cart_decoder, from_us, to_us
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.adapters.sqlite.rows import add_audit
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.feedback import FINAL_SOURCES, replaces
from cart_recovery.domain.model import Cart
from cart_recovery.ports import Suppression

_ROW = "SELECT email_key, at, source, reason, cart_id FROM unsubscribes"


def _suppression(row: tuple[str, int, str, str | None, str | None]) -> Suppression:
    return Suppression(
        digest=row[0], at=from_us(row[1]), source=row[2], reason=row[3], cart_id=row[4]
    )


def _carts_of(c: sqlite3.Connection, email: str) -> list[Cart]:
    return [
        msgspec.structs.replace(cart_decoder.decode(data), version=version)
        for data, version in c.execute(
            "SELECT data, version FROM carts WHERE email_key = ? ORDER BY cart_id",
            (normalise_email(email),),
        ).fetchall()
    ]


class Suppressions(Connection):
    def unsubscribe(
        self, email: str, *, source: str, at: datetime, reason: str | None = None
    ) -> bool:
        digest = self.email_key.digest(email)
        with self._write() as c:
            carts = _carts_of(c, email)
            if not self._put(c, digest, source, at, reason, audit_rows.newest_cart(carts)):
                return False
            for cart in carts:
                add_audit(c, audit_rows.unsubscribed(cart, at, source, reason))
            return True

    def unsubscribe_key(
        self,
        digest: str,
        *,
        source: str,
        at: datetime,
        email: str | None = None,
        reason: str | None = None,
        cart_id: str | None = None,
    ) -> bool:
        if email is not None and self.email_key.digest(email) == digest:
            return self.unsubscribe(email, source=source, at=at, reason=reason)
        with self._write() as c:
            return self._put(c, digest, source, at, reason, cart_id)

    @staticmethod
    def _put(
        c: sqlite3.Connection,
        digest: str,
        source: str,
        at: datetime,
        reason: str | None,
        cart_id: str | None,
    ) -> bool:
        """Add the row; or replace one that ``source`` replaces (a complaint is final)."""
        old = c.execute("SELECT source FROM unsubscribes WHERE email_key = ?", (digest,)).fetchone()
        if old is not None and not replaces(source, old[0]):
            return False
        c.execute(
            "INSERT OR REPLACE INTO unsubscribes (email_key, at, source, reason, cart_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest, to_us(at), source, reason, cart_id),
        )
        return True

    def suppression(self, email: str) -> Suppression | None:
        return self.suppression_key(self.email_key.digest(email))

    def suppression_key(self, digest: str) -> Suppression | None:
        with self._lock:
            row = self._conn.execute(f"{_ROW} WHERE email_key = ?", (digest,)).fetchone()
        return None if row is None else _suppression(row)

    def resubscribe_key(
        self, digest: str, *, at: datetime, by: str, email: str | None = None
    ) -> bool:
        finals = sorted(FINAL_SOURCES)
        marks = ",".join("?" * len(finals))
        with self._write() as c:
            gone = c.execute(
                f"DELETE FROM unsubscribes WHERE email_key = ? AND source NOT IN ({marks})",  # noqa: S608
                (digest, *finals),
            ).rowcount
            if not gone:
                return False
            c.execute("DELETE FROM soft_bounces WHERE email_key = ?", (digest,))
            if email is not None and self.email_key.digest(email) == digest:
                for cart in _carts_of(c, email):
                    add_audit(c, audit_rows.resubscribed(cart, at, by))
            return True

    def note_soft_bounce(
        self, email: str, *, at: datetime, since: datetime, event_id: str = ""
    ) -> int:
        digest = self.email_key.digest(email)
        with self._write() as c:
            c.execute(
                "INSERT OR IGNORE INTO soft_bounces (email_key, at, event_id) VALUES (?, ?, ?)",
                (digest, to_us(at), event_id),
            )
            row = c.execute(
                "SELECT count(*) FROM soft_bounces WHERE email_key = ? AND at >= ?",
                (digest, to_us(since)),
            ).fetchone()
        return int(row[0])

    def suppressions(self, limit: int = 200) -> list[Suppression]:
        with self._lock:
            rows = self._conn.execute(
                f"{_ROW} ORDER BY at DESC, email_key LIMIT ?", (limit,)
            ).fetchall()
        return [_suppression(r) for r in rows]

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        return sum(self.suppressions_between(start, end).values())

    def suppressions_between(self, start: datetime, end: datetime) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT source, count(*) FROM unsubscribes WHERE at >= ? AND at < ? "
                "GROUP BY source",
                (to_us(start), to_us(end)),
            ).fetchall()
        return {source: int(n) for source, n in rows}


__all__ = ["Suppressions"]
