"""The embedded `Queue`: one SQLite database in WAL mode in the data dir (`transformer.db`).

Five tables. `pending` holds events until they are settled, one row each, in insert order (`id`
is AUTOINCREMENT, so ids are never reused); a claim writes its lease into the rows
(`lease_owner`, `lease_token`, `lease_until`, `claims` + 1), a release clears it and sets
`not_before`, an ack deletes the row. `seen` holds the payload ids (`event_id`, or the body's
hash) taken in during the dedupe window, so that Customer.io's retries are acknowledged
without being enqueued again, across restarts too. `dead_letters` keeps what was set aside,
with the reason. `pauses` holds the users and devices a 429 paused, and until when. `probe` has
one row, rewritten to show that the store still takes commits.
Older stores are upgraded in place when opened (`sqlite_schema`).

One server uses a store at a time: `prepare()` takes an flock on the database file, runs
SQLite's `quick_check`, shows a write goes through, and ends the leases left by an earlier
process (only the lock holder claims, so they were a dead process's). Other processes (the
`dead-letters` commands) may read and write the store meanwhile; SQLite's locking and the busy
timeout make that safe. Connections are per thread (SQLite objects must not be shared between
threads). Only the first connection may create the database file; later ones open it without
creating, so a file deleted while in use is reported (`problem()`) rather than silently
replaced by an empty one, and `intake` and `probe` refuse to write into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.request import pathname2url

from ...destinations.dead_letters import DeadLetterKind
from .base import Claim, Claimed, Handle, Intake, Letter, Outcome, QueueError, Reason, Stats
from .sqlite_schema import SCHEMA_VERSION, immediate, upgrade

__all__ = ["DB_NAME", "PID_NAME", "SYNC_MODES", "WRITER_NAME", "Pending", "SqliteQueue"]

DB_NAME = "transformer.db"
WRITER_NAME = "transformer.db-writer"
_WRITER_RETRY = 0.0002
PID_NAME = "serve.pid"
SYNC_MODES = ("full", "normal")

_UNLEASE = "lease_owner = NULL, lease_token = NULL, lease_until = NULL"
_LETTER = "SELECT id, kind, reason, event_id, event, payload, attempts, status, at FROM dead_letters"
_RECOVER = ("stop and keep a copy of the data dir; `sqlite3 {db} .recover | sqlite3 recovered.db` "
            "saves what can be read (then move recovered.db to {db}); or start serve on an empty "
            "--data-dir (the events waiting in the damaged file are then not forwarded)")


class Pending(NamedTuple):
    """A pending event as `SqliteQueue.pending` shows it."""

    id: int
    event_id: str | None
    event: bytes


class SqliteQueue:
    """The SQLite `Queue` in `data_dir`; see the module docstring and `queue.base`.

    `synchronous` is SQLite's: "full" (the default) syncs the WAL at each commit, so what was
    committed survives a power cut; "normal" survives a crash of the process only.
    `create=False` refuses a data dir without a store (for commands that only read it).
    `clock` gives unix time (tests replace it).
    """

    def __init__(self, data_dir: str | Path, *, synchronous: str = "full", create: bool = True,
                 busy_timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        if synchronous not in SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNC_MODES)}, got {synchronous!r}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        if not create and not self.path.exists():
            raise QueueError(f"no store in {self.data_dir} (transformer serve --data-dir creates one)")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"cannot create the data dir {self.data_dir}: {exc.strerror}") from None
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._writers: list[int] = []   # each thread's descriptor of WRITER_NAME
        self._lock = threading.Lock()
        self._closed = False
        self._lock_file: IO[bytes] | None = None
        self._mode = "rwc"
        try:
            conn = self._conn()
            self._mode = "rw"
            self._upgrade(conn)
        except QueueError:
            self.close()
            raise
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def location(self) -> str:
        return str(self.path)

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        try:
            version = upgrade(conn)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        if version > SCHEMA_VERSION:
            raise QueueError(f"{self.path} was written by a newer transformer (schema {version}, "
                             f"this one knows {SCHEMA_VERSION})")

    def _error(self, exc: sqlite3.Error) -> QueueError:
        if isinstance(exc, sqlite3.OperationalError):  # locked, missing, no permission, …
            return QueueError(f"cannot open {self.path}: {exc}")
        return QueueError(f"{self.path} is damaged ({exc}): " + _RECOVER.format(db=DB_NAME))

    # connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise QueueError("the store is closed")
        try:
            conn = sqlite3.connect(f"file:{pathname2url(str(self.path))}?mode={self._mode}", uri=True,
                                   isolation_level=None, check_same_thread=False,
                                   timeout=self.busy_timeout)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _writer(self) -> int:
        """This thread's descriptor of `WRITER_NAME`, opened on its first write (a thread that
        only reads never opens it)."""
        writer: int | None = getattr(self._local, "writer", None)
        if writer is None:
            try:
                writer = os.open(self.data_dir / WRITER_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise QueueError(f"cannot open {self.data_dir / WRITER_NAME}: {exc.strerror}") from None
            self._local.writer = writer
            with self._lock:
                self._writers.append(writer)
        return writer

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection (BEGIN IMMEDIATE … COMMIT); a
        SQLite error is raised as `QueueError`, with nothing written.

        Writers take turns on `WRITER_NAME` (an flock) before they begin: SQLite's own busy
        handler sleeps 1, 2, 5, 10, 20 ms … between tries, so with several processes committing
        (`serve --workers`) a writer that found the lock taken waited tens of milliseconds for a
        transaction of one; the flock is tried again every `_WRITER_RETRY` seconds instead."""
        conn = self._conn()
        writer = self._writer()
        self._take_turn(writer)
        try:
            with immediate(conn):
                yield conn
        except sqlite3.Error as exc:
            raise QueueError(str(exc)) from exc
        finally:
            fcntl.flock(writer, fcntl.LOCK_UN)

    def _take_turn(self, writer: int) -> None:
        deadline = None
        while True:
            try:
                fcntl.flock(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now > deadline:
                    raise QueueError(f"another process has been writing to {self.path} for "
                                     f"{self.busy_timeout:g} s") from None
            time.sleep(_WRITER_RETRY)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as exc:
            raise QueueError(str(exc)) from exc

    # a server's store --------------------------------------------------------------------

    def lock(self) -> None:
        """Take the store for this process: two servers on one store would send everything
        twice. The lock is on the database file itself (flock, which SQLite's own fcntl locks do
        not touch), so no other file can be deleted to get round it; the OS releases it when
        the process dies, `kill -9` included. `serve.pid` beside it names the holder."""
        handle = self.path.open("rb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            try:
                holder = (self.data_dir / PID_NAME).read_text().strip() or "another process"
            except OSError:
                holder = "another process"
            raise QueueError(f"{self.data_dir} is in use by another transformer serve ({holder}); "
                             "give each instance its own --data-dir") from None
        self._lock_file = handle
        with contextlib.suppress(OSError):
            (self.data_dir / PID_NAME).write_text(f"pid {os.getpid()}\n")

    def check(self) -> None:
        """Raise `QueueError`, saying what to do, when SQLite finds the file damaged
        (`PRAGMA quick_check`: every page and index, in time linear in the file's size)."""
        try:
            rows = self._conn().execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.DatabaseError as exc:
            rows = [(str(exc),)]
        found = [" ".join(str(row[0]).split()) for row in rows if row[0] != "ok"]
        if found:
            raise self._error(sqlite3.DatabaseError("; ".join(found)))

    def prepare(self) -> None:
        """Lock, check, show that a write goes through, and end the leases an earlier process
        left (this one now holds the lock, so no one else claims)."""
        self.lock()
        self.check()
        try:
            self.probe()
            with self.transaction() as conn:
                conn.execute(f"UPDATE pending SET {_UNLEASE} WHERE lease_token IS NOT NULL")
        except QueueError as exc:
            raise QueueError(f"{self.path} does not take writes ({exc}): check the disk space and the "
                             "permissions of the data dir") from None

    def problem(self) -> str | None:
        """The file opened was deleted or replaced; else None."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted while in use"
        except OSError as exc:
            return f"{self.path} cannot be examined: {exc.strerror or exc}"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return f"{self.path} was replaced by another file while in use"
        return None

    def probe(self) -> None:
        gone = self.problem()
        if gone is not None:
            raise QueueError(gone)
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)", (self.clock(),))

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL) and release the lock."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
            writers, self._writers = self._writers, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        for writer in writers:
            os.close(writer)
        self._local = threading.local()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                (self.data_dir / PID_NAME).unlink()
            self._lock_file.close()
            self._lock_file = None

    # intake and settling -----------------------------------------------------------------

    def intake(self, items: Sequence[Intake]) -> list[Outcome]:
        gone = self.problem()
        if gone is not None:  # nothing is acknowledged into a file nobody will read
            raise QueueError(gone)
        with self.transaction() as conn:
            now = self.clock()
            return [self._intake(conn, item, now) for item in items]

    @staticmethod
    def _intake(conn: sqlite3.Connection, item: Intake, now: float) -> Outcome:
        if item.event_id is not None:
            cursor = conn.execute("INSERT OR IGNORE INTO seen (event_id, seen_at) VALUES (?, ?)",
                                  (item.event_id, now))
            if cursor.rowcount == 0:
                return Outcome.DUPLICATE
        if item.error is not None:
            conn.execute("INSERT INTO dead_letters (kind, reason, event_id, payload, at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (DeadLetterKind.PAYLOAD_ERROR, item.error, item.event_id, item.payload, now))
            return Outcome.DEAD_LETTER
        _enqueue(conn, item.event_id, item.events, now)
        return Outcome.STORED

    def claim(self, limit: int, lease: float) -> Claim:
        if limit < 1 or lease <= 0:
            raise ValueError(f"claim needs limit >= 1 and lease > 0, got {limit} and {lease}")
        token = secrets.token_hex(8)
        with self.transaction() as conn:
            now = self.clock()
            rows = conn.execute(
                "SELECT id, event_id, event, received_at, claims FROM pending WHERE "
                "(lease_until IS NULL OR lease_until <= ?) AND not_before <= ? ORDER BY id LIMIT ?",
                (now, now, limit)).fetchall()
            if rows:
                conn.executemany("UPDATE pending SET lease_owner = ?, lease_token = ?, lease_until = ?, "
                                 "claims = claims + 1 WHERE id = ?",
                                 [(self._owner, token, now + lease, row[0]) for row in rows])
        return Claim(self._owner, token, now + lease,
                     [Claimed(Handle(row[0], token), *row[1:]) for row in rows])

    def ack(self, handles: Sequence[Handle]) -> int:
        return self._settle(handles, "DELETE FROM pending WHERE id = ? AND lease_token = ?")

    def release(self, handles: Sequence[Handle], after: float = 0.0) -> int:
        return self._settle(handles, f"UPDATE pending SET {_UNLEASE}, not_before = ? "
                                     "WHERE id = ? AND lease_token = ?", self.clock() + max(0.0, after))

    def _settle(self, handles: Sequence[Handle], sql: str, *before: Any) -> int:
        if not handles:
            return 0
        with self.transaction() as conn:
            return conn.executemany(sql, [(*before, h.ref, h.lease) for h in handles]).rowcount

    def set_aside(self, handles: Sequence[Handle], reasons: Sequence[Reason]) -> int:
        pairs = list(zip(handles, reasons, strict=True))
        moved = 0
        with self.transaction() as conn:
            now = self.clock()
            for handle, reason in pairs:
                cursor = conn.execute(
                    "INSERT INTO dead_letters (kind, reason, event_id, event, attempts, status, at) "
                    "SELECT ?, ?, event_id, event, ?, ?, ? FROM pending WHERE id = ? AND lease_token = ?",
                    (reason.kind, reason.text, reason.attempts, reason.status, now, handle.ref, handle.lease))
                if cursor.rowcount:
                    conn.execute("DELETE FROM pending WHERE id = ?", (handle.ref,))
                    moved += 1
        return moved

    def prune(self, older_than: float, limit: int = 5000) -> int:
        with self.transaction() as conn:
            conn.execute("DELETE FROM pauses WHERE until < ?", (self.clock(),))
            before = self.clock() - older_than
            # ids grow with time, so the expired rows are a prefix: find where it ends, bounded
            first = conn.execute("SELECT min(id) FROM seen").fetchone()[0]
            if first is None:
                return 0
            end = conn.execute("SELECT id FROM seen WHERE id >= ? AND id < ? AND seen_at >= ? "
                               "ORDER BY id LIMIT 1", (first, first + limit, before)).fetchone()
            return conn.execute("DELETE FROM seen WHERE id < ?",
                                (end[0] if end else first + limit,)).rowcount

    # pauses ------------------------------------------------------------------------------

    def pause(self, keys: Mapping[str, float]) -> None:
        if not keys:
            return
        with self.transaction() as conn:
            now = self.clock()
            conn.executemany("INSERT INTO pauses (key, until) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                             "SET until = max(until, excluded.until)",
                             [(key, now + seconds) for key, seconds in keys.items()])

    def pauses(self) -> dict[str, float]:
        now = self.clock()
        with self._reading() as conn:
            rows = conn.execute("SELECT key, until FROM pauses WHERE until > ?", (now,)).fetchall()
        return {key: until - now for key, until in rows}

    # dead letters ------------------------------------------------------------------------

    def letters(self, *, kind: DeadLetterKind | None = None, limit: int | None = None) -> list[Letter]:
        sql, params = _LETTER, list[Any]()
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(str(kind))
        sql += " ORDER BY id LIMIT ?"
        params.append(-1 if limit is None else limit)
        with self._reading() as conn:
            return [_letter(row) for row in conn.execute(sql, params).fetchall()]

    def letter(self, letter_id: int) -> Letter | None:
        with self._reading() as conn:
            row = conn.execute(_LETTER + " WHERE id = ?", (letter_id,)).fetchone()
        return None if row is None else _letter(row)

    def requeue(self, ids: Sequence[int], events: Mapping[int, Sequence[bytes]] | None = None) -> int:
        enqueued = 0
        with self.transaction() as conn:
            now = self.clock()
            for letter_id in ids:
                row = conn.execute("SELECT event_id, event FROM dead_letters WHERE id = ?",
                                   (letter_id,)).fetchone()
                if row is None:
                    continue
                event_id, own = row
                given = None if events is None else events.get(letter_id)
                if given is None and own is None:
                    raise QueueError(f"dead letter {letter_id} holds a payload: transform it to resend it")
                rows = [own] if given is None else list(given)
                _enqueue(conn, event_id, rows, now)
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,))
                enqueued += len(rows)
        return enqueued

    def drop(self, letter_id: int) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,)).rowcount > 0

    def note_failure(self, letter_id: int, reason: str) -> bool:
        with self.transaction() as conn:
            return conn.execute("UPDATE dead_letters SET reason = ?, attempts = attempts + 1 WHERE id = ?",
                                (reason, letter_id)).rowcount > 0

    # reads -------------------------------------------------------------------------------

    def stats(self) -> Stats:
        now = self.clock()
        with self._reading() as conn:
            depth, oldest, leased, letters = conn.execute(
                "SELECT (SELECT count(*) FROM pending), "
                "(SELECT received_at FROM pending ORDER BY id LIMIT 1), "
                "(SELECT count(*) FROM pending WHERE lease_until > ?), "
                "(SELECT count(*) FROM dead_letters)", (now,)).fetchone()
        return Stats(depth, 0.0 if oldest is None else max(0.0, now - oldest), leased, letters)

    def oldest_age(self) -> float:
        now = self.clock()
        with self._reading() as conn:
            row = conn.execute("SELECT received_at FROM pending ORDER BY id LIMIT 1").fetchone()
        return 0.0 if row is None else max(0.0, now - row[0])

    def seen_count(self) -> int:
        """How many payload ids are remembered for dedupe (a full count: for tests and tools)."""
        with self._reading() as conn:
            return int(conn.execute("SELECT count(*) FROM seen").fetchone()[0])

    def pending(self, limit: int = 1000) -> list[Pending]:
        """The first `limit` pending events, claimed or not, oldest first: for inspection (tests,
        tools); forwarding claims instead."""
        with self._reading() as conn:
            rows = conn.execute("SELECT id, event_id, event FROM pending ORDER BY id LIMIT ?",
                                (limit,)).fetchall()
        return [Pending(*row) for row in rows]


def _enqueue(conn: sqlite3.Connection, event_id: str | None, events: Sequence[bytes], now: float) -> None:
    conn.executemany("INSERT INTO pending (event_id, event, received_at) VALUES (?, ?, ?)",
                     [(event_id, event, now) for event in events])


def _letter(row: Any) -> Letter:
    letter_id, kind, *rest = row
    return Letter(letter_id, DeadLetterKind(kind), *rest)
