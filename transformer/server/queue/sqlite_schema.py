"""The SQLite queue's tables, and the upgrade of a store written by an earlier version.

Schema 1 had `pending`, `seen` and `dead_letters`; 2 added `probe`; 3 added the lease columns to
`pending` (`not_before`, `claims`, `lease_owner`, `lease_token`, `lease_until`); 4 added
`pauses` (users and devices a 429 paused, and until when). A store of an
earlier schema is upgraded in place, in one transaction, when it is opened: its pending events
come out unleased and claimable, as they were. A store of a later schema is refused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["SCHEMA_VERSION", "immediate", "upgrade"]

SCHEMA_VERSION = 4

_TABLES = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    event BLOB NOT NULL,
    received_at REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    claims INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_token TEXT,
    lease_until REAL
);
CREATE TABLE IF NOT EXISTS seen (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    event_id TEXT,
    event BLOB,
    payload BLOB,
    attempts INTEGER NOT NULL DEFAULT 0,
    status INTEGER,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pauses (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
"""
_UPGRADES = {  # schema version → what brings an older store to it (after _TABLES's CREATEs)
    3: """
ALTER TABLE pending ADD COLUMN not_before REAL NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN lease_owner TEXT;
ALTER TABLE pending ADD COLUMN lease_token TEXT;
ALTER TABLE pending ADD COLUMN lease_until REAL;
""",
}


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (SQLite's are raised as they are)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise



def upgrade(conn: sqlite3.Connection) -> int:
    """Bring the store on `conn` to `SCHEMA_VERSION` (a new file gets every table); returns the
    version it had. One later than ours is left alone: the caller refuses it."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return version
    with immediate(conn):
        for statement in _statements(_TABLES):
            conn.execute(statement)
        for target, script in _UPGRADES.items():
            if 0 < version < target:
                for statement in _statements(script):
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
