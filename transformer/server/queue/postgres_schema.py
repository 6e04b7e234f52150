"""The PostgreSQL queue's tables, created and migrated by the program.

Everything lives in one PostgreSQL schema, `transformer`:

- `pending`: the events of acknowledged webhooks until a forwarder settles them, one row each
  in intake order (`id`, an identity column); a claim writes its lease into the rows
  (`lease_owner`, `lease_token`, `lease_until`, `claims` + 1), a release clears it and sets
  `not_before`, an ack deletes the row.
- `seen`: the payload ids taken in during the dedupe window (`event_id` UNIQUE), shared by every
  receiver, pruned by `seen_at` in batches.
- `dead_letters`: what was set aside or could not be transformed, with the reason.
- `pauses`: users and devices Amplitude throttled (a 429), until when, shared by every receiver.
- `probe`: one row, rewritten by readiness checks to show that the database takes commits.
- `migrations`: the versions applied, and when.

Times are unix seconds (`double precision`) of the database server's clock, so receivers on
several machines agree on leases and pauses without agreeing on the time.

`migrate(conn)` applies what is missing, each version once, in one transaction under a
transaction-level advisory lock, so that several receivers starting at once (or `transformer
queue migrate` beside them) are safe: the first applies, the others wait and find it done. A
database migrated by a newer transformer is refused.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOCK_KEY", "MIGRATIONS", "SCHEMA", "SCHEMA_VERSION", "applied_version", "migrate"]

SCHEMA = "transformer"
LOCK_KEY = 0x7472616E73666F72   # "transfor": the advisory lock migrations take

MIGRATIONS: dict[int, str] = {
    1: f"""
CREATE TABLE {SCHEMA}.pending (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text,
    event bytea NOT NULL,
    received_at double precision NOT NULL,
    not_before double precision NOT NULL DEFAULT 0,
    claims integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_token text,
    lease_until double precision
);
CREATE TABLE {SCHEMA}.seen (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    seen_at double precision NOT NULL
);
CREATE INDEX seen_seen_at ON {SCHEMA}.seen (seen_at);
CREATE TABLE {SCHEMA}.dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    event_id text,
    event bytea,
    payload bytea,
    attempts integer NOT NULL DEFAULT 0,
    status integer,
    at double precision NOT NULL
);
CREATE TABLE {SCHEMA}.pauses (
    key text PRIMARY KEY,
    until double precision NOT NULL
);
CREATE TABLE {SCHEMA}.probe (
    id integer PRIMARY KEY CHECK (id = 1),
    at double precision NOT NULL
);
""",
}
SCHEMA_VERSION = max(MIGRATIONS)


def applied_version(conn: Any) -> int:
    """The latest version applied to the database on `conn` (0: none), read without a lock."""
    found = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.migrations",)).fetchone()[0]
    if found is None:
        return 0
    return int(conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.migrations").fetchone()[0])


def migrate(conn: Any) -> tuple[int, int]:
    """Bring the database on `conn` (autocommit off or on: this runs its own transaction) to
    `SCHEMA_VERSION`; returns (the version before, the version after). A database of a later
    version is left alone, and returned as it is: the caller refuses it."""
    before = applied_version(conn)
    if before >= SCHEMA_VERSION:
        return before, before
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.migrations ("
                     "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        before = applied_version(conn)   # again, under the lock: another process may have done it
        for version in sorted(MIGRATIONS):
            if version > before:
                conn.execute(MIGRATIONS[version])
                conn.execute(f"INSERT INTO {SCHEMA}.migrations (version) VALUES (%s)", (version,))
    return before, max(before, SCHEMA_VERSION)
