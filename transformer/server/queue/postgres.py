"""The shared `Queue`: tables in a PostgreSQL database (`postgres_schema`), for several receivers.

Any number of `transformer serve` processes, on any machines, may use one database at once: each
takes webhooks in, and each claims and forwards whatever is claimable. What makes that safe:

- intake dedupes by payload id with `INSERT … ON CONFLICT DO NOTHING` on `seen` in the same
  transaction as the enqueue, so a Customer.io retry that lands on another receiver is a
  duplicate there too (a concurrent insert of the same id waits for the first to commit);
- `claim` takes rows with `FOR UPDATE SKIP LOCKED` and writes a lease (owner, token, expiry)
  into them, in one statement; no lock outlives that transaction, and none is held while a
  request to Amplitude is in flight;
- `ack`, `set_aside` and `release` act only on rows that still carry the claim's token, so a
  receiver that stalled past its lease (paused, partitioned) changes nothing once another
  claimed the events; an expired lease makes the rows claimable again;
- every time is the database server's clock (`now()`), so the receivers' clocks do not matter.

Connections come from a psycopg pool (`psycopg_pool.ConnectionPool`), checked before each use,
so that after a PostgreSQL restart or a network cut the first call gets a fresh connection
instead of a dead one. When the database cannot be reached within `timeout` seconds a call
raises `UnreachableError` (a `QueueError`): the receiver answers 503 and /readyz fails, and
both recover by themselves once it is back. TCP keepalives and `tcp_user_timeout` bound how
long a call can hang on a cut network.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from ...destinations.dead_letters import DeadLetterKind
from .base import Claim, Claimed, Handle, Intake, Letter, Outcome, QueueError, Reason, Stats, UnreachableError
from .postgres_schema import SCHEMA, SCHEMA_VERSION, applied_version, migrate

__all__ = ["PostgresQueue", "migrate_database", "redact"]

_NOW = "extract(epoch FROM now())::float8"
_T = SCHEMA
_LETTER = f"SELECT id, kind, reason, event_id, event, payload, attempts, status, at FROM {_T}.dead_letters"
_HANDLES = "unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS h(id, token, ord)"
_CONNECT = {  # libpq parameters, unless the URL gives its own
    "connect_timeout": "5", "keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "3",
    "keepalives_count": "3", "tcp_user_timeout": "20000", "application_name": "transformer serve"}


def redact(url: str) -> str:
    """`url` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class PostgresQueue:
    """The PostgreSQL `Queue` at `url` (postgresql://USER[:PASSWORD]@HOST:PORT/DB); see the
    module docstring and `queue.base`.

    The tables are created or migrated when missing or older (`create=False` refuses a database
    without them instead, for commands that only read); a database migrated by a newer
    transformer is refused. `timeout` is how long a call waits for a connection; `pool_size` the
    most connections this object opens.
    """

    def __init__(self, url: str, *, create: bool = True, timeout: float = 2.0, pool_size: int = 4) -> None:
        self.url = url
        self._location = redact(url)
        self.timeout = timeout
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._closed = False
        kwargs = {key: value for key, value in _CONNECT.items() if f"{key}=" not in url}
        self._pool = ConnectionPool(url, min_size=1, max_size=max(1, pool_size), open=False,
                                    kwargs={"autocommit": True, **kwargs},
                                    check=ConnectionPool.check_connection,
                                    name=f"transformer-{self._owner}")
        try:
            self._pool.open(wait=False)
            self._schema(create)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresQueue({self._location!r})"

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def location(self) -> str:
        return self._location

    def _schema(self, create: bool) -> None:
        with self._connection() as conn:
            version = applied_version(conn)
            if version == 0 and not create:
                raise QueueError(f"no transformer queue in {self._location} (transformer queue migrate "
                                 "--queue URL, or transformer serve --queue URL, creates one)")
            if version < SCHEMA_VERSION:
                version = migrate(conn)[1]
        _refuse_newer(self._location, version)

    # connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        if self._closed:
            raise QueueError("the queue is closed")
        try:
            with self._pool.connection(timeout=self.timeout) as conn:
                yield conn
        except PoolTimeout as exc:
            raise UnreachableError(f"{self._location} cannot be reached: {_reason(exc)}") from None
        except psycopg.OperationalError as exc:  # connection lost, server shutting down, …
            raise UnreachableError(f"{self._location}: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise QueueError(f"{self._location}: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection[Any]]:
        """One transaction on a pooled connection; a database error is raised as `QueueError`
        (`UnreachableError` when the database cannot be reached), with nothing written."""
        with self._connection() as conn, conn.transaction():
            yield conn

    # a server's queue --------------------------------------------------------------------

    def prepare(self) -> None:
        """Show that a write goes through (several receivers share the database: nothing to lock)."""
        try:
            self.probe()
        except QueueError as exc:
            raise QueueError(f"{self._location} does not take writes ({exc})") from None

    def problem(self) -> str | None:
        """Nothing to find without asking the server (readiness probes it)."""
        return None

    def probe(self) -> None:
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO {_T}.probe (id, at) VALUES (1, {_NOW}) "
                         "ON CONFLICT (id) DO UPDATE SET at = excluded.at")

    def close(self) -> None:
        """Close the pool's connections; later calls raise `QueueError`."""
        self._closed = True
        self._pool.close(timeout=5.0)

    # intake and settling -----------------------------------------------------------------

    def intake(self, items: Sequence[Intake]) -> list[Outcome]:
        ids = sorted({item.event_id for item in items if item.event_id is not None})
        with self.transaction() as conn:
            fresh: set[str] = set()
            if ids:  # sorted, so that two groups with ids in common lock them in the same order
                rows = conn.execute(
                    f"INSERT INTO {_T}.seen (event_id, seen_at) SELECT id, {_NOW} FROM unnest(%s::text[]) "
                    "AS u(id) ORDER BY id ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                    (ids,)).fetchall()
                fresh = {row[0] for row in rows}
            outcomes: list[Outcome] = []
            events: list[tuple[str | None, bytes]] = []
            letters: list[Intake] = []
            for item in items:
                if item.event_id is not None:
                    if item.event_id not in fresh:
                        outcomes.append(Outcome.DUPLICATE)
                        continue
                    fresh.discard(item.event_id)   # a second copy in this group is a duplicate
                if item.error is not None:
                    letters.append(item)
                    outcomes.append(Outcome.DEAD_LETTER)
                    continue
                events.extend((item.event_id, event) for event in item.events)
                outcomes.append(Outcome.STORED)
            if letters:
                conn.execute(
                    f"INSERT INTO {_T}.dead_letters (kind, reason, event_id, payload, at) "
                    f"SELECT %s, reason, event_id, payload, {_NOW} FROM unnest(%s::text[], %s::text[], "
                    "%s::bytea[]) WITH ORDINALITY AS u(reason, event_id, payload, ord) ORDER BY ord",
                    (str(DeadLetterKind.PAYLOAD_ERROR), [i.error for i in letters],
                     [i.event_id for i in letters], [i.payload for i in letters]))
            _enqueue(conn, events)
        return outcomes

    def claim(self, limit: int, lease: float) -> Claim:
        if limit < 1 or lease <= 0:
            raise ValueError(f"claim needs limit >= 1 and lease > 0, got {limit} and {lease}")
        token = secrets.token_hex(8)
        with self.transaction() as conn:
            now = float(conn.execute(f"SELECT {_NOW}").fetchone()[0])  # type: ignore[index]
            rows = conn.execute(
                f"WITH c AS (SELECT id FROM {_T}.pending WHERE (lease_until IS NULL OR lease_until <= %s) "
                "AND not_before <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                f"UPDATE {_T}.pending p SET lease_owner = %s, lease_token = %s, lease_until = %s, "
                "claims = p.claims + 1 FROM c WHERE p.id = c.id "
                "RETURNING p.id, p.event_id, p.event, p.received_at, p.claims - 1",
                (now, now, limit, self._owner, token, now + lease)).fetchall()
        rows.sort(key=lambda row: row[0])
        return Claim(self._owner, token, now + lease,
                     [Claimed(Handle(row[0], token), row[1], bytes(row[2]), row[3], row[4]) for row in rows])

    def ack(self, handles: Sequence[Handle]) -> int:
        return self._settle(handles, f"DELETE FROM {_T}.pending p USING {_HANDLES} "
                                     "WHERE p.id = h.id AND p.lease_token = h.token")

    def release(self, handles: Sequence[Handle], after: float = 0.0) -> int:
        return self._settle(handles, f"UPDATE {_T}.pending p SET lease_owner = NULL, lease_token = NULL, "
                                     f"lease_until = NULL, not_before = {_NOW} + %s FROM {_HANDLES} "
                                     "WHERE p.id = h.id AND p.lease_token = h.token", max(0.0, after))

    def _settle(self, handles: Sequence[Handle], sql: str, *before: Any) -> int:
        if not handles:
            return 0
        with self.transaction() as conn:
            cursor = conn.execute(sql, (*before, [h.ref for h in handles], [h.lease for h in handles]))
            return cursor.rowcount

    def set_aside(self, handles: Sequence[Handle], reasons: Sequence[Reason]) -> int:
        pairs = list(zip(handles, reasons, strict=True))
        if not pairs:
            return 0
        with self.transaction() as conn:
            cursor = conn.execute(
                f"WITH moved AS (DELETE FROM {_T}.pending p USING {_HANDLES} "
                "WHERE p.id = h.id AND p.lease_token = h.token RETURNING p.event_id, p.event, h.ord) "
                f"INSERT INTO {_T}.dead_letters (kind, reason, event_id, event, attempts, status, at) "
                f"SELECT r.kind, r.reason, m.event_id, m.event, r.attempts, r.status, {_NOW} FROM moved m "
                "JOIN unnest(%s::text[], %s::text[], %s::int[], %s::int[]) WITH ORDINALITY "
                "AS r(kind, reason, attempts, status, ord) ON r.ord = m.ord ORDER BY m.ord",
                ([h.ref for h, _ in pairs], [h.lease for h, _ in pairs],
                 [str(r.kind) for _, r in pairs], [r.text for _, r in pairs],
                 [r.attempts for _, r in pairs], [r.status for _, r in pairs]))
            return cursor.rowcount

    def prune(self, older_than: float, limit: int = 5000) -> int:
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {_T}.pauses WHERE until < {_NOW}")
            cursor = conn.execute(
                f"DELETE FROM {_T}.seen WHERE id IN (SELECT id FROM {_T}.seen WHERE seen_at < {_NOW} - %s "
                "ORDER BY seen_at LIMIT %s FOR UPDATE SKIP LOCKED)", (older_than, limit))
            return cursor.rowcount

    # shared pauses -----------------------------------------------------------------------

    def pause(self, keys: Mapping[str, float]) -> None:
        if not keys:
            return
        names = sorted(keys)
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO {_T}.pauses AS p (key, until) SELECT k, {_NOW} + s FROM unnest(%s::text[], "
                "%s::float8[]) AS u(k, s) ORDER BY k ON CONFLICT (key) DO UPDATE "
                "SET until = greatest(p.until, excluded.until)",
                (names, [float(keys[name]) for name in names]))

    def pauses(self) -> dict[str, float]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT key, until - {_NOW} FROM {_T}.pauses "
                                f"WHERE until > {_NOW}").fetchall()
        return {key: float(left) for key, left in rows}

    # dead letters ------------------------------------------------------------------------

    def letters(self, *, kind: DeadLetterKind | None = None, limit: int | None = None) -> list[Letter]:
        sql, params = _LETTER, list[Any]()
        if kind is not None:
            sql += " WHERE kind = %s"
            params.append(str(kind))
        sql += " ORDER BY id LIMIT %s"
        params.append(limit)
        with self._connection() as conn:
            return [_letter(row) for row in conn.execute(sql, params).fetchall()]

    def letter(self, letter_id: int) -> Letter | None:
        with self._connection() as conn:
            row = conn.execute(_LETTER + " WHERE id = %s", (letter_id,)).fetchone()
        return None if row is None else _letter(row)

    def requeue(self, ids: Sequence[int], events: Mapping[int, Sequence[bytes]] | None = None) -> int:
        enqueued = 0
        with self.transaction() as conn:
            for letter_id in ids:
                row = conn.execute(f"DELETE FROM {_T}.dead_letters WHERE id = %s RETURNING event_id, event",
                                   (letter_id,)).fetchone()
                if row is None:
                    continue
                event_id, own = row
                given = None if events is None else events.get(letter_id)
                if given is None and own is None:
                    raise QueueError(f"dead letter {letter_id} holds a payload: transform it to resend it")
                rows = [bytes(own)] if given is None else list(given)
                _enqueue(conn, [(event_id, event) for event in rows])
                enqueued += len(rows)
        return enqueued

    def drop(self, letter_id: int) -> bool:
        with self.transaction() as conn:
            return conn.execute(f"DELETE FROM {_T}.dead_letters WHERE id = %s", (letter_id,)).rowcount > 0

    def note_failure(self, letter_id: int, reason: str) -> bool:
        with self.transaction() as conn:
            return conn.execute(f"UPDATE {_T}.dead_letters SET reason = %s, attempts = attempts + 1 "
                                "WHERE id = %s", (reason, letter_id)).rowcount > 0

    # reads -------------------------------------------------------------------------------

    def stats(self) -> Stats:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_NOW}, (SELECT count(*) FROM {_T}.pending), "
                f"(SELECT received_at FROM {_T}.pending ORDER BY id LIMIT 1), "
                f"(SELECT count(*) FROM {_T}.pending WHERE lease_until > {_NOW}), "
                f"(SELECT count(*) FROM {_T}.dead_letters)").fetchone()
        assert row is not None
        now, depth, oldest, leased, letters = row
        return Stats(depth, 0.0 if oldest is None else max(0.0, now - oldest), leased, letters)

    def oldest_age(self) -> float:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {_NOW} - received_at FROM {_T}.pending "
                               "ORDER BY id LIMIT 1").fetchone()
        return 0.0 if row is None else max(0.0, float(row[0]))


def migrate_database(url: str) -> tuple[int, int]:
    """Create or migrate the queue's tables at `url`; (the schema version before, after)."""
    location = redact(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            before, after = migrate(conn)
    except psycopg.Error as exc:
        raise QueueError(f"{location}: {_first_line(exc)}") from None
    _refuse_newer(location, after)
    return before, after


def _refuse_newer(location: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise QueueError(f"{location} was migrated by a newer transformer (schema {version}, "
                         f"this one knows {SCHEMA_VERSION})")


def _enqueue(conn: Connection[Any], events: Sequence[tuple[str | None, bytes]]) -> None:
    if events:
        conn.execute(
            f"INSERT INTO {_T}.pending (event_id, event, received_at) SELECT event_id, event, {_NOW} "
            "FROM unnest(%s::text[], %s::bytea[]) WITH ORDINALITY AS u(event_id, event, ord) ORDER BY ord",
            ([e[0] for e in events], [e[1] for e in events]))


def _letter(row: Any) -> Letter:
    letter_id, kind, reason, event_id, event, payload, *rest = row
    return Letter(letter_id, DeadLetterKind(kind), reason, event_id,
                  None if event is None else bytes(event), None if payload is None else bytes(payload), *rest)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _reason(exc: PoolTimeout) -> str:
    """Why the pool had no connection: the last connection error, when psycopg kept it."""
    cause = exc.__cause__ or exc.__context__
    return _first_line(cause) if cause is not None else _first_line(exc)
