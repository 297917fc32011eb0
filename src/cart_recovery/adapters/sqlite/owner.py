"""The store's side for the shop owner: history and audit of a cart, searches and counts
for the dashboard and reports, and forgetting a shopper."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from cart_recovery.adapters.sqlite.codec import (
    anonymous_json,
    cart_decoder,
    event_decoder,
    event_encoder,
    from_us,
    to_us,
)
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.adapters.sqlite.reads import decoded_cart
from cart_recovery.adapters.sqlite.rows import add_audit, linked, put_cart
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import AuditEntry, Cart
from cart_recovery.domain.privacy import (
    Forgotten,
    anonymise_cart,
    anonymise_event,
)
from cart_recovery.ports import StoredEvent


class Owner(Connection):
    def audit(self, cart_id: str) -> list[AuditEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT cart_id, at, by, action, before, after, detail FROM audit "
                "WHERE cart_id = ? ORDER BY at, id",
                (cart_id,),
            ).fetchall()
        return [
            AuditEntry(
                cart_id=r[0],
                at=from_us(r[1]),
                by=r[2],
                action=r[3],
                before=None if r[4] is None else msgspec.json.decode(r[4]),
                after=None if r[5] is None else msgspec.json.decode(r[5]),
                detail=r[6],
            )
            for r in rows
        ]

    def carts_of(self, email: str) -> list[Cart]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, version FROM carts WHERE email_key = ? ORDER BY cart_id",
                (normalise_email(email),),
            ).fetchall()
        return [msgspec.structs.replace(cart_decoder.decode(d), version=v) for d, v in rows]

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, version FROM carts WHERE created_at >= ? AND created_at < ? "
                "ORDER BY created_at, cart_id",
                (to_us(start), to_us(end)),
            ).fetchall()
        return [msgspec.structs.replace(cart_decoder.decode(d), version=v) for d, v in rows]

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        bounds = (to_us(start), to_us(end))
        with self._lock:
            rows = self._conn.execute(
                "SELECT cart_id FROM carts WHERE created_at >= ? AND created_at < ? "
                "UNION SELECT cart_id FROM events WHERE received_at >= ? AND received_at < ? "
                "UNION SELECT cart_id FROM audit WHERE at >= ? AND at < ? ORDER BY cart_id",
                bounds * 3,
            ).fetchall()
        return [r[0] for r in rows]

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, received_at FROM events WHERE cart_id = ? "
                "ORDER BY occurred_at, received_at, event_id",
                (cart_id,),
            ).fetchall()
        return [StoredEvent(event_decoder.decode(d), from_us(r)) for d, r in rows]

    def clicks_for(self, cart_ids: Iterable[str]) -> dict[str, list[tuple[int, datetime]]]:
        ids = sorted(set(cart_ids))
        out: dict[str, list[tuple[int, datetime]]] = {}
        with self._lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                for cart_id, step, at in self._conn.execute(
                    f"SELECT cart_id, step, at FROM clicks WHERE cart_id IN ({marks}) "  # noqa: S608
                    "ORDER BY cart_id, at, step",
                    chunk,
                ):
                    out.setdefault(cart_id, []).append((step, from_us(at)))
        return out

    def search(self, text: str, limit: int = 50) -> list[Cart]:
        exact = text.strip()
        needle = exact.casefold()
        if not needle:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, version FROM carts WHERE instr(cr_fold(cart_id), ?1) > 0 "
                "OR instr(coalesce(email_key, ''), ?1) > 0 "
                "OR instr(coalesce(cr_fold(json_extract(CAST(data AS TEXT), '$.name')), ''), ?1)"
                " > 0 ORDER BY cart_id = ?2 DESC, created_at DESC, cart_id LIMIT ?3",
                (needle, exact, max(limit, 0)),
            ).fetchall()
        return [msgspec.structs.replace(cart_decoder.decode(d), version=v) for d, v in rows]

    def linked_carts(self, email: str) -> list[str]:
        with self._lock:
            return linked(self._conn, normalise_email(email))

    def forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        with self._lock:
            # Overwrite what is erased instead of leaving it in free pages, and fold the WAL
            # back into the file afterwards, so the address is gone from the disk too.
            self._conn.execute("PRAGMA secure_delete = ON")
            try:
                forgotten = self._forget(email, by=by, at=at)
            finally:
                self._conn.execute("PRAGMA secure_delete = OFF")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            # nor in this process's memory: the carts decoded and the addresses keyed lately
            # (speed-ups of the wake-up loop, remembered by their stored bytes and address)
            decoded_cart.cache_clear()
            self.email_digest.cache_clear()
            return forgotten

    def _forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        with self._write() as c:
            ids = linked(c, normalise_email(email))
            events = sends = rows = 0
            message_ids: list[str] = []
            for cart_id in ids:
                for event_id, data in c.execute(
                    "SELECT event_id, data FROM events WHERE cart_id = ?", (cart_id,)
                ).fetchall():
                    anonymous = anonymise_event(event_decoder.decode(data))
                    c.execute(
                        "UPDATE events SET data = ? WHERE cart_id = ? AND event_id = ?",
                        (event_encoder.encode(anonymous), cart_id, event_id),
                    )
                    events += 1
                message_ids.extend(
                    r[0]
                    for r in c.execute(
                        "SELECT message_id FROM sends WHERE cart_id = ? AND message_id IS NOT NULL "
                        "ORDER BY step",
                        (cart_id,),
                    )
                )
                sends += c.execute(
                    "UPDATE sends SET recipient = NULL, recipient_key = NULL WHERE cart_id = ? "
                    "AND (recipient IS NOT NULL OR recipient_key IS NOT NULL)",
                    (cart_id,),
                ).rowcount
                for audit_id, before, after in c.execute(
                    "SELECT id, before, after FROM audit WHERE cart_id = ?", (cart_id,)
                ).fetchall():
                    c.execute(
                        "UPDATE audit SET before = ?, after = ? WHERE id = ?",
                        (anonymous_json(before), anonymous_json(after), audit_id),
                    )
                    rows += 1
                row = c.execute(
                    "SELECT data, version FROM carts WHERE cart_id = ?", (cart_id,)
                ).fetchone()
                if row is not None:
                    cart = msgspec.structs.replace(cart_decoder.decode(row[0]), version=row[1])
                    stored = put_cart(c, anonymise_cart(cart), cart.version)
                    add_audit(c, audit_rows.forgotten(cart, stored, at, by))
            cur = c.execute(
                "INSERT INTO unsubscribes (email_key, at, source) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (self.email_key.digest(email), to_us(at), by),
            )
            return Forgotten(
                cart_ids=tuple(ids),
                events=events,
                sends=sends,
                audit_rows=rows,
                newly_unsubscribed=cur.rowcount == 1,
                message_ids=tuple(message_ids),
            )
