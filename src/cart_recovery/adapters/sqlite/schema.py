"""The SQLite schema: its migrations and the function that applies them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

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
    # 3: a step's failed mail attempts are kept with it (the cap holds across restarts)
    """
    ALTER TABLE sends ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: why an address is on the list (a bounce or a complaint, in the provider's words) and
    # the cart that led to it; soft bounces counted per address; the owner's alerts.
    """
    ALTER TABLE unsubscribes ADD COLUMN reason TEXT;
    ALTER TABLE unsubscribes ADD COLUMN cart_id TEXT;
    CREATE INDEX unsubscribes_at ON unsubscribes (at);

    CREATE TABLE soft_bounces (
        id INTEGER PRIMARY KEY,
        email_key TEXT NOT NULL,
        at INTEGER NOT NULL,
        event_id TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX soft_bounces_key ON soft_bounces (email_key, at);
    CREATE UNIQUE INDEX soft_bounces_event ON soft_bounces (email_key, event_id)
        WHERE event_id != '';

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        at INTEGER NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        dismissed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alerts_kind ON alerts (kind, at);
    """,
    # 5: the owners' logins (a password's argon2 hash or a personal token's SHA-256), their
    # dashboard sessions (the id's SHA-256) and the failed logins of the lockout
    """
    CREATE TABLE owners (
        name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
        email TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL,
        password_hash TEXT NOT NULL DEFAULT '',
        token_hash TEXT NOT NULL DEFAULT '',
        last_login INTEGER
    );
    CREATE UNIQUE INDEX owners_token ON owners (token_hash) WHERE token_hash != '';

    CREATE TABLE owner_sessions (
        id_hash TEXT NOT NULL PRIMARY KEY,
        owner TEXT NOT NULL COLLATE NOCASE,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX owner_sessions_owner ON owner_sessions (owner);

    CREATE TABLE failed_logins (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX failed_logins_key ON failed_logins (key, at);
    """,
]


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the schema up to the newest version; returns the version it is at. Every pending
    migration runs in one transaction: one that fails leaves the file as it was, at its old
    version (SQLite's schema changes and ``user_version`` are transactional)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this program knows "
            f"({len(migrations)}): upgrade cart-recovery"
        )
    if version == len(migrations):
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        for migration in migrations[version:]:
            for statement in migration.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations)
