"""The embedded store: SQLite in WAL mode, holding carts, sends, audit, unsubscribes, processed
event ids and the wake-up timers in one file, so a write and its timer change commit together.

Times are stored as integer microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CartEvent,
    Outcome,
    SendRecord,
    cart_snapshot,
)
from cart_recovery.domain.privacy import (
    UNKEYED,
    EmailKey,
    Forgotten,
    anonymise_cart,
    anonymise_event,
    anonymise_snapshot,
)
from cart_recovery.domain.timers import Timer, TimerChange, TimerKind, timer_for
from cart_recovery.ports import Claim, StaleCart, StoredEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_cart_encoder = msgspec.json.Encoder(decimal_format="string")
_cart_decoder = msgspec.json.Decoder(Cart)
_event_encoder = msgspec.json.Encoder(decimal_format="number")
_event_decoder = msgspec.json.Decoder(CartEvent)
_json = msgspec.json.Encoder()


def to_us(t: datetime) -> int:
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


# Each migration moves the schema from version i to i + 1 (PRAGMA user_version).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE carts (
        cart_id TEXT PRIMARY KEY,
        email_key TEXT,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        abandoned_at INTEGER NOT NULL,
        data BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX carts_email ON carts (email_key) WHERE email_key IS NOT NULL;
    CREATE INDEX carts_created ON carts (created_at);

    CREATE TABLE sends (
        cart_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL,
        recipient TEXT,
        recipient_key TEXT,
        reason TEXT,
        due INTEGER,
        message_id TEXT,
        PRIMARY KEY (cart_id, step)
    ) WITHOUT ROWID;
    CREATE INDEX sends_recipient ON sends (recipient_key, at) WHERE outcome = 'sent';
    CREATE INDEX sends_claimed ON sends (outcome) WHERE outcome = 'claimed';

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        cart_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        by TEXT NOT NULL,
        action TEXT NOT NULL,
        before BLOB,
        after BLOB,
        detail TEXT
    );
    CREATE INDEX audit_cart ON audit (cart_id, at);

    CREATE TABLE unsubscribes (
        email_key TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        source TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE events (
        cart_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (cart_id, event_id)
    ) WITHOUT ROWID;

    CREATE TABLE timers (
        cart_id TEXT PRIMARY KEY,
        due INTEGER NOT NULL,
        kind TEXT NOT NULL,
        step INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX timers_due ON timers (due, cart_id);
    """,
    # 2: clicks on the return links; the unsubscribe list keeps keyed digests, not addresses
    # (cr_email_key is the store's EmailKey.digest, registered on the connection).
    """
    CREATE TABLE clicks (
        id INTEGER PRIMARY KEY,
        cart_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX clicks_cart ON clicks (cart_id, at);

    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    UPDATE unsubscribes SET email_key = cr_email_key(email_key)
        WHERE substr(email_key, 1, 3) != 'h1:';
    """,
]


def _fold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _address(value: object) -> str | None:
    return normalise_email(value) if isinstance(value, str) else None


def _anonymous_json(blob: bytes | None) -> bytes | None:
    if blob is None:
        return None
    return _json.encode(anonymise_snapshot(msgspec.json.decode(blob)))


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to the newest version; returns the version it is at."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this program knows "
            f"({len(MIGRATIONS)}): upgrade cart-recovery"
        )
    for i in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[i].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {i + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _send(row: tuple[Any, ...]) -> SendRecord:
    cart_id, step, outcome, at, recipient, reason, due, message_id = row
    return SendRecord(
        cart_id=cart_id,
        step=step,
        outcome=Outcome(outcome),
        at=from_us(at),
        recipient=recipient,
        reason=reason,
        due=None if due is None else from_us(due),
        message_id=message_id,
    )


_SEND_COLS = "cart_id, step, outcome, at, recipient, reason, due, message_id"
_IN_CHUNK = 500  # ids per ``IN (...)``: well under SQLite's limit on parameters
_SENDS_OF_CART = f"SELECT {_SEND_COLS} FROM sends WHERE cart_id = ? ORDER BY step"  # noqa: S608
_CLAIM = (
    "INSERT INTO sends (cart_id, step, outcome, at, recipient, recipient_key) "
    "SELECT ?, ?, 'claimed', ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM carts WHERE cart_id = ? AND status = 'open') "
    "AND NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email_key = ?) "
    "ON CONFLICT (cart_id, step) DO UPDATE SET outcome = 'claimed', at = excluded.at, "
    "recipient = excluded.recipient, recipient_key = excluded.recipient_key, reason = NULL, "
    "due = NULL WHERE sends.outcome = 'deferred'"
)
_SENT_TO = (
    f"SELECT {_SEND_COLS} FROM sends WHERE recipient_key = ? AND at >= ? "  # noqa: S608
    "AND outcome = 'sent' ORDER BY at"
)


class SqliteStore:
    """CartStore + WakeQueue on one SQLite file (WAL). Safe to share between threads."""

    def __init__(
        self, path: Path | str, *, synchronous: str = "FULL", email_key: EmailKey | None = None
    ) -> None:
        """``email_key`` keys the unsubscribe list (``EmailKey.from_signing_key`` for real
        data). A database whose list was written under another key refuses to open, rather
        than silently forget who unsubscribed."""
        self.path = str(path)
        self.email_key = email_key or UNKEYED
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._lock = threading.RLock()
        self._grouped = False
        c = self._conn
        if self.path != ":memory:":
            c.execute("PRAGMA journal_mode = WAL")
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"sqlite synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
            )
        c.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA busy_timeout = 30000")
        c.create_function("cr_email_key", 1, self.email_key.digest, deterministic=True)
        c.create_function("cr_fold", 1, _fold, deterministic=True)
        c.create_function("cr_address", 1, _address, deterministic=True)
        self.schema_version = migrate(c)
        self._check_email_key()

    def _check_email_key(self) -> None:
        if self.schema_version < 2:
            return
        with self._write() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'email_key_check'").fetchone()
            if row is not None and row[0] == self.email_key.check:
                return
            if row is not None and c.execute("SELECT 1 FROM unsubscribes LIMIT 1").fetchone():
                raise RuntimeError(
                    f"{self.path}: the unsubscribe list was written under another signing_key "
                    "(it keeps keyed digests of addresses): put the previous signing_key back"
                )
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('email_key_check', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (self.email_key.check,),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self, *, one_statement: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic write: its own transaction, or a savepoint inside a ``group()``.
        ``one_statement``: the write changes rows with a single statement (reads before it
        are fine), which SQLite makes atomic by itself: inside a group, no savepoint."""
        with self._lock:
            c = self._conn
            if self._grouped and one_statement:
                yield c
                return
            if self._grouped:
                c.execute("SAVEPOINT one")
                try:
                    yield c
                except BaseException:
                    c.execute("ROLLBACK TO one")
                    c.execute("RELEASE one")
                    raise
                c.execute("RELEASE one")
                return
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: every write inside is atomic on its own (a write that raises is rolled
        back alone) and all of them become durable together, with one commit and one sync. The
        caller answers for none of them until this returns."""
        with self._lock:
            if self._grouped:
                yield
                return
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            self._grouped = True
            try:
                yield
            except BaseException:
                self._grouped = False
                c.execute("ROLLBACK")
                raise
            self._grouped = False
            c.execute("COMMIT")

    # ---- reads ----------------------------------------------------------------------------
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        with self._lock:
            row = self._conn.execute(
                "SELECT data, version FROM carts WHERE cart_id = ?", (cart_id,)
            ).fetchone()
            sends = self._conn.execute(_SENDS_OF_CART, (cart_id,)).fetchall()
        cart = None
        if row is not None:
            cart = msgspec.structs.replace(_cart_decoder.decode(row[0]), version=row[1])
        return cart, [_send(r) for r in sends]

    def _select_in(
        self, sql: str, keys: Sequence[str], extra: tuple[Any, ...] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``IN ({marks})`` holds ``keys``, a chunk at a time."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            query = sql.format(marks=",".join("?" * len(chunk)))
            with self._lock:
                rows.extend(self._conn.execute(query, (*chunk, *extra)).fetchall())
        return rows

    def load_many(self, cart_ids: Sequence[str]) -> dict[str, tuple[Cart | None, list[SendRecord]]]:
        out: dict[str, tuple[Cart | None, list[SendRecord]]] = {c: (None, []) for c in cart_ids}
        ids = list(out)
        with self._lock:  # the carts and their sends as of one moment
            carts = self._select_in(
                "SELECT cart_id, data, version FROM carts WHERE cart_id IN ({marks})", ids
            )
            sends = self._select_in(
                f"SELECT {_SEND_COLS} FROM sends WHERE cart_id IN ({{marks}}) "  # noqa: S608
                "ORDER BY cart_id, step",
                ids,
            )
        for cart_id, data, version in carts:
            cart = msgspec.structs.replace(_cart_decoder.decode(data), version=version)
            out[cart_id] = (cart, [])
        for row in sends:
            out[row[0]][1].append(_send(row))
        return out

    def unsubscribed_among(self, emails: Iterable[str]) -> set[str]:
        keyed: dict[str, list[str]] = {}
        for email in emails:  # addresses that differ only in letter case share a key
            keyed.setdefault(self.email_key.digest(email), []).append(email)
        rows = self._select_in(
            "SELECT email_key FROM unsubscribes WHERE email_key IN ({marks})", list(keyed)
        )
        return {email for (key,) in rows for email in keyed[key]}

    def sent_to_many(self, emails: Iterable[str], since: datetime) -> dict[str, list[SendRecord]]:
        out: dict[str, list[SendRecord]] = {normalise_email(e): [] for e in emails}
        rows = self._select_in(
            f"SELECT recipient_key, {_SEND_COLS} FROM sends "  # noqa: S608
            "WHERE recipient_key IN ({marks}) AND at >= ? AND outcome = 'sent' ORDER BY at",
            list(out),
            (to_us(since),),
        )
        for row in rows:
            out[row[0]].append(_send(row[1:]))
        return out

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        with self._lock:
            rows = self._conn.execute(
                _SENT_TO,
                (normalise_email(email), to_us(since)),
            ).fetchall()
        return [_send(r) for r in rows]

    def is_unsubscribed(self, email: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM unsubscribes WHERE email_key = ?", (self.email_key.digest(email),)
            ).fetchone()
        return row is not None

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
        return [msgspec.structs.replace(_cart_decoder.decode(d), version=v) for d, v in rows]

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, version FROM carts WHERE created_at >= ? AND created_at < ? "
                "ORDER BY created_at, cart_id",
                (to_us(start), to_us(end)),
            ).fetchall()
        return [msgspec.structs.replace(_cart_decoder.decode(d), version=v) for d, v in rows]

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

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM unsubscribes WHERE at >= ? AND at < ?",
                (to_us(start), to_us(end)),
            ).fetchone()
        return int(row[0])

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data, received_at FROM events WHERE cart_id = ? "
                "ORDER BY occurred_at, received_at, event_id",
                (cart_id,),
            ).fetchall()
        return [StoredEvent(_event_decoder.decode(d), from_us(r)) for d, r in rows]

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
        return [msgspec.structs.replace(_cart_decoder.decode(d), version=v) for d, v in rows]

    @staticmethod
    def _linked(c: sqlite3.Connection, address: str) -> list[str]:
        rows = c.execute(
            "SELECT cart_id FROM carts WHERE email_key = ?1 "
            "UNION SELECT cart_id FROM sends WHERE recipient_key = ?1 "
            "UNION SELECT cart_id FROM events "
            "WHERE cr_address(json_extract(CAST(data AS TEXT), '$.email')) = ?1 "
            "ORDER BY cart_id",
            (address,),
        ).fetchall()
        return [r[0] for r in rows]

    def linked_carts(self, email: str) -> list[str]:
        with self._lock:
            return self._linked(self._conn, normalise_email(email))

    def count(self, table: str) -> int:
        if table not in {
            "carts",
            "sends",
            "audit",
            "unsubscribes",
            "events",
            "timers",
            "clicks",
            "meta",
        }:
            raise ValueError(table)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    # ---- writes ---------------------------------------------------------------------------
    @staticmethod
    def _check(c: sqlite3.Connection, cart_id: str, expected_version: int | None) -> None:
        row = c.execute("SELECT version FROM carts WHERE cart_id = ?", (cart_id,)).fetchone()
        if (None if row is None else row[0]) != expected_version:
            raise StaleCart(cart_id)

    @staticmethod
    def _put(c: sqlite3.Connection, cart: Cart, expected_version: int | None) -> Cart:
        version = 0 if expected_version is None else expected_version + 1
        stored = msgspec.structs.replace(cart, version=version)
        c.execute(
            "INSERT INTO carts (cart_id, email_key, status, version, created_at, abandoned_at, "
            "data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cart_id) DO UPDATE SET "
            "email_key = excluded.email_key, status = excluded.status, version = "
            "excluded.version, abandoned_at = excluded.abandoned_at, data = excluded.data",
            (
                cart.cart_id,
                normalise_email(cart.email) if cart.email else None,
                str(cart.status),
                version,
                to_us(cart.created_at),
                to_us(cart.abandoned_at),
                _cart_encoder.encode(stored),
            ),
        )
        return stored

    @staticmethod
    def _audit(c: sqlite3.Connection, entry: AuditEntry | None) -> None:
        if entry is None:
            return
        c.execute(
            "INSERT INTO audit (cart_id, at, by, action, before, after, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.cart_id,
                to_us(entry.at),
                entry.by,
                entry.action,
                None if entry.before is None else _json.encode(entry.before),
                None if entry.after is None else _json.encode(entry.after),
                entry.detail,
            ),
        )

    @staticmethod
    def _timer(c: sqlite3.Connection, cart_id: str, change: TimerChange | None) -> None:
        if change is None:
            return
        timer = timer_for(cart_id, change)
        if timer is None:
            c.execute("DELETE FROM timers WHERE cart_id = ?", (cart_id,))
        else:
            c.execute(
                "INSERT INTO timers (cart_id, due, kind, step) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, kind = excluded.kind, "
                "step = excluded.step",
                (cart_id, to_us(timer.due), str(timer.kind), timer.step),
            )

    def apply_event(
        self,
        event: CartEvent,
        *,
        cart: Cart | None,
        expected_version: int | None,
        audit: AuditEntry | None,
        timer: TimerChange | None,
        now: datetime,
    ) -> bool:
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO events (cart_id, event_id, type, occurred_at, received_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    event.cart_id,
                    event.event_id,
                    event.type,
                    to_us(event.occurred_at),
                    to_us(now),
                    _event_encoder.encode(event),
                ),
            )
            if cur.rowcount == 0:
                return False
            if cart is not None:
                self._put_event_cart(c, cart, expected_version)
            self._audit(c, audit)
            self._timer(c, event.cart_id, timer)
            return True

    @staticmethod
    def _put_event_cart(c: sqlite3.Connection, cart: Cart, expected_version: int | None) -> None:
        """``_check`` then ``_put`` in one statement (the write path of every webhook event):
        a new cart is inserted only if none exists, a known one updated only at
        ``expected_version``; anything else is a StaleCart."""
        email_key = normalise_email(cart.email) if cart.email else None
        if expected_version is None:
            cur = c.execute(
                "INSERT INTO carts (cart_id, email_key, status, version, created_at, "
                "abandoned_at, data) VALUES (?, ?, ?, 0, ?, ?, ?) ON CONFLICT (cart_id) DO NOTHING",
                (
                    cart.cart_id,
                    email_key,
                    str(cart.status),
                    to_us(cart.created_at),
                    to_us(cart.abandoned_at),
                    _cart_encoder.encode(msgspec.structs.replace(cart, version=0)),
                ),
            )
        else:
            version = expected_version + 1
            cur = c.execute(
                "UPDATE carts SET email_key = ?, status = ?, version = ?, abandoned_at = ?, "
                "data = ? WHERE cart_id = ? AND version = ?",
                (
                    email_key,
                    str(cart.status),
                    version,
                    to_us(cart.abandoned_at),
                    _cart_encoder.encode(msgspec.structs.replace(cart, version=version)),
                    cart.cart_id,
                    expected_version,
                ),
            )
        if cur.rowcount != 1:
            raise StaleCart(cart.cart_id)

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        with self._write() as c:
            self._check(c, cart.cart_id, expected_version)
            stored = self._put(c, cart, expected_version)
            self._audit(c, audit)
            self._timer(c, cart.cart_id, timer)
            return stored

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        with self._write(one_statement=True) as c:
            timer = timer_for(cart_id, change)
            if timer is not None:  # the usual case: the version check inside the upsert
                cur = c.execute(
                    "INSERT INTO timers (cart_id, due, kind, step) SELECT ?, ?, ?, ? "
                    "WHERE (SELECT version FROM carts WHERE cart_id = ?) = ? "
                    "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, "
                    "kind = excluded.kind, step = excluded.step",
                    (
                        cart_id,
                        to_us(timer.due),
                        str(timer.kind),
                        timer.step,
                        cart_id,
                        expected_version,
                    ),
                )
                if cur.rowcount != 1:
                    raise StaleCart(cart_id)
                return
            self._check(c, cart_id, expected_version)
            self._timer(c, cart_id, change)

    @staticmethod
    def _upsert_send(c: sqlite3.Connection, r: SendRecord) -> None:
        c.execute(
            f"INSERT OR REPLACE INTO sends ({_SEND_COLS}, recipient_key) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.cart_id,
                r.step,
                str(r.outcome),
                to_us(r.at),
                r.recipient,
                r.reason,
                None if r.due is None else to_us(r.due),
                r.message_id,
                normalise_email(r.recipient) if r.recipient else None,
            ),
        )

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        with self._write() as c:
            row = c.execute(
                "SELECT outcome FROM sends WHERE cart_id = ? AND step = ?",
                (record.cart_id, record.step),
            ).fetchone()
            if row is not None and row[0] != Outcome.DEFERRED:
                return False
            self._upsert_send(c, record)
            self._timer(c, record.cart_id, timer)
            return True

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        key = self.email_key.digest(recipient)
        with self._write(one_statement=True) as c:
            # One statement claims when every condition holds (the usual case); only a refusal
            # looks again to say which condition failed.
            cur = c.execute(
                _CLAIM,
                (cart_id, step, to_us(now), recipient, normalise_email(recipient), cart_id, key),
            )
            if cur.rowcount == 1:
                return Claim.CLAIMED
            row = c.execute("SELECT status FROM carts WHERE cart_id = ?", (cart_id,)).fetchone()
            if row is None or row[0] != "open":
                return Claim.STOPPED
            if c.execute("SELECT 1 FROM unsubscribes WHERE email_key = ?", (key,)).fetchone():
                return Claim.UNSUBSCRIBED
            return Claim.ALREADY

    def finish_send(
        self,
        cart_id: str,
        step: int,
        outcome: Outcome,
        *,
        at: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        due: datetime | None = None,
        timer: TimerChange | None = None,
    ) -> None:
        with self._write(one_statement=timer is None) as c:
            cur = c.execute(
                "UPDATE sends SET outcome = ?, at = ?, message_id = ?, reason = ?, due = ? "
                "WHERE cart_id = ? AND step = ? AND outcome = 'claimed'",
                (
                    str(outcome),
                    to_us(at),
                    message_id,
                    reason,
                    None if due is None else to_us(due),
                    cart_id,
                    step,
                ),
            )
            if cur.rowcount == 1:
                self._timer(c, cart_id, timer)

    def resolve_claims(self, now: datetime, audit_by: str = "system") -> list[SendRecord]:
        with self._write() as c:
            rows = c.execute(
                f"SELECT {_SEND_COLS} FROM sends WHERE outcome = 'claimed'"  # noqa: S608
            ).fetchall()
            c.execute("UPDATE sends SET outcome = 'uncertain' WHERE outcome = 'claimed'")
            out = []
            for r in rows:
                record = msgspec.structs.replace(_send(r), outcome=Outcome.UNCERTAIN)
                out.append(record)
                self._audit(
                    c,
                    AuditEntry(
                        cart_id=record.cart_id,
                        at=now,
                        by=audit_by,
                        action="uncertain",
                        detail=f"step {record.step}: claimed before a crash; not resent",
                    ),
                )
            return out

    def unsubscribe(self, email: str, *, source: str, at: datetime) -> bool:
        key = normalise_email(email)
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO unsubscribes (email_key, at, source) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (self.email_key.digest(email), to_us(at), source),
            )
            if cur.rowcount == 0:
                return False
            for data, version in c.execute(
                "SELECT data, version FROM carts WHERE email_key = ? ORDER BY cart_id", (key,)
            ).fetchall():
                snap = cart_snapshot(
                    msgspec.structs.replace(_cart_decoder.decode(data), version=version)
                )
                self._audit(
                    c,
                    AuditEntry(
                        cart_id=str(snap["cart_id"]) if snap else "",
                        at=at,
                        by=source,
                        action="unsubscribed",
                        before=snap,
                        after=snap,
                    ),
                )
            return True

    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO clicks (cart_id, step, at) VALUES (?, ?, ?)",
                (cart_id, step, to_us(at)),
            )

    def append_audit(self, entry: AuditEntry) -> None:
        with self._write() as c:
            self._audit(c, entry)

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
            return forgotten

    def _forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        with self._write() as c:
            ids = self._linked(c, normalise_email(email))
            events = sends = rows = 0
            message_ids: list[str] = []
            for cart_id in ids:
                for event_id, data in c.execute(
                    "SELECT event_id, data FROM events WHERE cart_id = ?", (cart_id,)
                ).fetchall():
                    anonymous = anonymise_event(_event_decoder.decode(data))
                    c.execute(
                        "UPDATE events SET data = ? WHERE cart_id = ? AND event_id = ?",
                        (_event_encoder.encode(anonymous), cart_id, event_id),
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
                        (_anonymous_json(before), _anonymous_json(after), audit_id),
                    )
                    rows += 1
                row = c.execute(
                    "SELECT data, version FROM carts WHERE cart_id = ?", (cart_id,)
                ).fetchone()
                if row is not None:
                    cart = msgspec.structs.replace(_cart_decoder.decode(row[0]), version=row[1])
                    stored = self._put(c, anonymise_cart(cart), cart.version)
                    self._audit(
                        c,
                        AuditEntry(
                            cart_id=cart_id,
                            at=at,
                            by=by,
                            action="forgotten",
                            before=anonymise_snapshot(cart_snapshot(cart)),
                            after=cart_snapshot(stored),
                            detail="the shopper's personal data was erased",
                        ),
                    )
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

    # ---- WakeQueue ------------------------------------------------------------------------
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
