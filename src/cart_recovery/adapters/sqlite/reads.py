"""The store's reads for intake, waking and sending: carts with their sends, one or many
at a time, what was sent to an address, who unsubscribed, and the due wake-up timers."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from cart_recovery.adapters.sqlite.codec import SEND_COLS, cart_decoder, from_us, send_record, to_us
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import Cart, SendRecord
from cart_recovery.domain.timers import Timer, TimerKind

_SENDS_OF_CART = f"SELECT {SEND_COLS} FROM sends WHERE cart_id = ? ORDER BY step"  # noqa: S608
_SENT_TO = (
    f"SELECT {SEND_COLS} FROM sends WHERE recipient_key = ? AND at >= ? "  # noqa: S608
    "AND outcome = 'sent' ORDER BY at"
)


@functools.lru_cache(maxsize=128)
def decoded_cart(data: bytes, version: int) -> Cart:
    """A stored cart, decoded (a ``Cart`` is immutable, so one can be handed out twice). The
    wake-up loop reads each chunk's carts twice: ahead of its commit, then inside it to see
    that nothing changed; the second read of an unchanged row is the same bytes."""
    return msgspec.structs.replace(cart_decoder.decode(data), version=version)


class Reads(Connection):
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        with self._lock:
            row = self._conn.execute(
                "SELECT data, version FROM carts WHERE cart_id = ?", (cart_id,)
            ).fetchone()
            sends = self._conn.execute(_SENDS_OF_CART, (cart_id,)).fetchall()
        cart = None
        if row is not None:
            cart = msgspec.structs.replace(cart_decoder.decode(row[0]), version=row[1])
        return cart, [send_record(r) for r in sends]

    def load_many(self, cart_ids: Sequence[str]) -> dict[str, tuple[Cart | None, list[SendRecord]]]:
        out: dict[str, tuple[Cart | None, list[SendRecord]]] = {c: (None, []) for c in cart_ids}
        ids = list(out)
        with self._lock:  # the carts and their sends as of one moment
            carts = self._select_in(
                "SELECT cart_id, data, version FROM carts WHERE cart_id IN ({marks})", ids
            )
            sends = self._select_in(
                f"SELECT {SEND_COLS} FROM sends WHERE cart_id IN ({{marks}}) "  # noqa: S608
                "ORDER BY cart_id, step",
                ids,
            )
        for cart_id, data, version in carts:
            out[cart_id] = (decoded_cart(data, version), [])
        for row in sends:
            out[row[0]][1].append(send_record(row))
        return out

    def unsubscribed_among(self, emails: Iterable[str]) -> set[str]:
        keyed: dict[str, list[str]] = {}
        for email in emails:  # addresses that differ only in letter case share a key
            keyed.setdefault(self.email_digest(email), []).append(email)
        rows = self._select_in(
            "SELECT email_key FROM unsubscribes WHERE email_key IN ({marks})", list(keyed)
        )
        return {email for (key,) in rows for email in keyed[key]}

    def sent_to_many(self, emails: Iterable[str], since: datetime) -> dict[str, list[SendRecord]]:
        out: dict[str, list[SendRecord]] = {normalise_email(e): [] for e in emails}
        rows = self._select_in(
            f"SELECT recipient_key, {SEND_COLS} FROM sends "  # noqa: S608
            "WHERE recipient_key IN ({marks}) AND at >= ? AND outcome = 'sent' ORDER BY at",
            list(out),
            (to_us(since),),
        )
        for row in rows:
            out[row[0]].append(send_record(row[1:]))
        return out

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        with self._lock:
            rows = self._conn.execute(
                _SENT_TO,
                (normalise_email(email), to_us(since)),
            ).fetchall()
        return [send_record(r) for r in rows]

    def sent_between(self, start: datetime, end: datetime) -> int:
        # the partial index sends_recipient holds exactly the sent rows: a scan of it, not
        # of the table
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM sends WHERE outcome = 'sent' AND at >= ? AND at < ?",
                (to_us(start), to_us(end)),
            ).fetchone()
        return int(row[0])

    def is_unsubscribed(self, email: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM unsubscribes WHERE email_key = ?", (self.email_key.digest(email),)
            ).fetchone()
        return row is not None

    def due(self, now: datetime, limit: int) -> list[Timer]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT cart_id, due, kind, step FROM timers WHERE due <= ? "
                "ORDER BY due, cart_id LIMIT ?",
                (to_us(now), limit),
            ).fetchall()
        return [
            Timer(cart_id=r[0], due=from_us(r[1]), kind=TimerKind(r[2]), step=r[3]) for r in rows
        ]

    def next_due(self) -> datetime | None:
        with self._lock:
            row = self._conn.execute("SELECT min(due) FROM timers").fetchone()
        return None if row[0] is None else from_us(row[0])

    def pending(self) -> int:
        return self.count("timers")
