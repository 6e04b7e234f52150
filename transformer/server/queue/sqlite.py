"""The receiver's embedded store: one SQLite database in WAL mode in the data dir.

Four tables. `pending` holds output events waiting for Amplitude, one row each, in insert order
(`id` is AUTOINCREMENT, so ids are never reused and a cursor over them is safe); a row is deleted
once Amplitude accepted it. `seen` holds the payload ids (`event_id`, or the body's hash)
accepted in the last `dedupe_window` seconds, so that Customer.io's retries are acknowledged
without being enqueued again, across restarts too. `dead_letters` keeps what was set aside,
with the reason. `probe` has one row, rewritten to show that the store still takes commits.
Schema 1 (without `probe`) is upgraded in place when opened.

Every connection is per thread (SQLite objects must not be shared between threads). In the
server one thread does all the writing (`Committer`); the CLI may write from another process at
the same time, which SQLite's locking and the busy timeout make safe.

Only the first connection may create the database file; later ones open it read-write without
creating, so a file deleted while in use is reported (`problem()`) rather than silently
replaced by an empty one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.request import pathname2url

from .records import DeadLetterRow, Delete, Intake, Op, Outcome, PendingRow, Probe, Prune, SetAside

__all__ = [
    "DB_NAME",
    "PID_NAME",
    "SCHEMA_VERSION",
    "SYNC_MODES",
    "DeadLetterRow",
    "Delete",
    "Intake",
    "Op",
    "Outcome",
    "PendingRow",
    "Probe",
    "Prune",
    "SetAside",
    "Store",
    "StoreError",
]

DB_NAME = "transformer.db"
PID_NAME = "serve.pid"
SCHEMA_VERSION = 2
SYNC_MODES = ("full", "normal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    event BLOB NOT NULL,
    received_at REAL NOT NULL
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
CREATE TABLE IF NOT EXISTS probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
"""
_RECOVER = ("stop and keep a copy of the data dir; `sqlite3 {db} .recover | sqlite3 recovered.db` "
            "saves what can be read (then move recovered.db to {db}); or start serve on an empty "
            "--data-dir (the events waiting in the damaged file are then not forwarded)")


class StoreError(Exception):
    """The store cannot be opened or used (missing, locked by another server, newer schema)."""


class Store:
    """The SQLite store in `data_dir`; see the module docstring.

    `synchronous` is SQLite's: "full" (the default) syncs the WAL at each commit, so what was
    committed survives a power cut; "normal" survives a crash of the process only.
    `create=False` refuses a data dir without a store (for commands that only read it).
    """

    def __init__(self, data_dir: str | Path, *, synchronous: str = "full", create: bool = True,
                 busy_timeout: float = 10.0) -> None:
        if synchronous not in SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNC_MODES)}, got {synchronous!r}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        if not create and not self.path.exists():
            raise StoreError(f"no store in {self.data_dir} (transformer serve --data-dir creates one)")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data dir {self.data_dir}: {exc.strerror}") from None
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._lock_file: IO[bytes] | None = None
        self._mode = "rwc"
        try:
            conn = self._conn()
            self._mode = "rw"
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer transformer (schema {version}, "
                                 f"this one knows {SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                with self.transaction() as tx:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            tx.execute(statement)
                    tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            self.close()
            raise self._error(exc) from None
        except StoreError:
            self.close()
            raise
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _error(self, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, sqlite3.OperationalError):  # locked, missing, no permission, …
            return StoreError(f"cannot open {self.path}: {exc}")
        return StoreError(f"{self.path} is damaged ({exc}): " + _RECOVER.format(db=DB_NAME))

    # connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError("the store is closed")
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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection (BEGIN IMMEDIATE … COMMIT)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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
            raise StoreError(f"{self.data_dir} is in use by another transformer serve ({holder}); "
                             "give each instance its own --data-dir") from None
        self._lock_file = handle
        with contextlib.suppress(OSError):
            (self.data_dir / PID_NAME).write_text(f"pid {os.getpid()}\n")

    def check(self) -> None:
        """Raise `StoreError`, saying what to do, when SQLite finds the file damaged
        (`PRAGMA quick_check`: every page and index, in time linear in the file's size)."""
        try:
            rows = self._conn().execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.DatabaseError as exc:
            rows = [(str(exc),)]
        found = [" ".join(str(row[0]).split()) for row in rows if row[0] != "ok"]
        if found:
            raise self._error(sqlite3.DatabaseError("; ".join(found)))

    def problem(self) -> str | None:
        """Why commits would go nowhere: the file opened was deleted or replaced; else None."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted while in use"
        except OSError as exc:
            return f"{self.path} cannot be examined: {exc.strerror or exc}"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return f"{self.path} was replaced by another file while in use"
        return None

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL) and release the lock."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                (self.data_dir / PID_NAME).unlink()
            self._lock_file.close()
            self._lock_file = None

    # writes ------------------------------------------------------------------------------

    def write(self, ops: Sequence[Op], now: float | None = None) -> list[Any]:
        """Apply ops in one transaction; one result each (an `Outcome` for an intake, a count
        otherwise). Raises `sqlite3.Error` with nothing written."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            return [self._apply(conn, op, now) for op in ops]

    def _apply(self, conn: sqlite3.Connection, op: Op, now: float) -> Any:
        if isinstance(op, Intake):
            return self._intake(conn, op, now)
        if isinstance(op, Delete):
            return self._delete(conn, op.ids)
        if isinstance(op, SetAside):
            return self._set_aside(conn, op, now)
        if isinstance(op, Probe):
            return conn.execute("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)", (now,)).rowcount
        return self._prune(conn, op)

    @staticmethod
    def _intake(conn: sqlite3.Connection, op: Intake, now: float) -> str:
        if op.event_id is not None:
            cursor = conn.execute("INSERT OR IGNORE INTO seen (event_id, seen_at) VALUES (?, ?)",
                                  (op.event_id, now))
            if cursor.rowcount == 0:
                return Outcome.DUPLICATE
        if op.error is not None:
            conn.execute("INSERT INTO dead_letters (kind, reason, event_id, payload, at) "
                         "VALUES ('payload_error', ?, ?, ?, ?)", (op.error, op.event_id, op.payload, now))
            return Outcome.DEAD_LETTER
        conn.executemany("INSERT INTO pending (event_id, event, received_at) VALUES (?, ?, ?)",
                         [(op.event_id, event, now) for event in op.events])
        return Outcome.STORED

    @staticmethod
    def _delete(conn: sqlite3.Connection, ids: Sequence[int]) -> int:
        cursor = conn.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
        return cursor.rowcount

    @staticmethod
    def _set_aside(conn: sqlite3.Connection, op: SetAside, now: float) -> int:
        cursor = conn.execute(
            "INSERT INTO dead_letters (kind, reason, event_id, event, attempts, status, at) "
            "SELECT ?, ?, event_id, event, ?, ?, ? FROM pending WHERE id = ?",
            (op.kind, op.reason, op.attempts, op.status, now, op.id))
        conn.execute("DELETE FROM pending WHERE id = ?", (op.id,))
        return cursor.rowcount

    @staticmethod
    def _prune(conn: sqlite3.Connection, op: Prune) -> int:
        # ids grow with time, so the expired rows are a prefix: find where it ends, bounded
        first = conn.execute("SELECT min(id) FROM seen").fetchone()[0]
        if first is None:
            return 0
        end = conn.execute("SELECT id FROM seen WHERE id >= ? AND id < ? AND seen_at >= ? "
                           "ORDER BY id LIMIT 1", (first, first + op.limit, op.before)).fetchone()
        return conn.execute("DELETE FROM seen WHERE id < ?",
                            (end[0] if end else first + op.limit,)).rowcount

    def requeue(self, letter_id: int, events: Sequence[bytes] | None = None,
                now: float | None = None) -> int:
        """Put a dead letter back in the queue: its own event, or `events` (a payload
        transformed again); the letter is removed. Returns the rows enqueued (0: no such letter)."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            row = conn.execute("SELECT event_id, event FROM dead_letters WHERE id = ?",
                               (letter_id,)).fetchone()
            if row is None:
                return 0
            event_id, own = row
            rows = [own] if events is None else list(events)
            if events is None and own is None:
                raise StoreError(f"dead letter {letter_id} holds a payload: transform it to resend it")
            conn.executemany("INSERT INTO pending (event_id, event, received_at) VALUES (?, ?, ?)",
                             [(event_id, event, now) for event in rows])
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,))
            return len(rows)

    def drop_letter(self, letter_id: int) -> bool:
        """Remove a dead letter (for a payload the mapping now skips)."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,)).rowcount > 0

    def update_letter(self, letter_id: int, reason: str) -> None:
        """Record a new reason on a dead letter that failed again."""
        with self.transaction() as conn:
            conn.execute("UPDATE dead_letters SET reason = ?, attempts = attempts + 1 WHERE id = ?",
                         (reason, letter_id))

    # reads -------------------------------------------------------------------------------

    def fetch(self, after: int = 0, limit: int = 1000) -> list[PendingRow]:
        """Pending rows with an id above `after`, oldest first."""
        rows = self._conn().execute(
            "SELECT id, event_id, event, received_at FROM pending WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit)).fetchall()
        return [PendingRow(*row) for row in rows]

    def has_pending(self) -> bool:
        """Whether any event waits."""
        return self._conn().execute("SELECT 1 FROM pending LIMIT 1").fetchone() is not None

    def depth(self) -> int:
        """How many events wait."""
        return int(self._conn().execute("SELECT count(*) FROM pending").fetchone()[0])

    def oldest_age(self, now: float | None = None) -> float:
        """Seconds since the oldest waiting event was received (0 when none waits)."""
        row = self._conn().execute("SELECT received_at FROM pending ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - float(row[0]))

    def seen_count(self) -> int:
        """How many payload ids are remembered for dedupe."""
        return int(self._conn().execute("SELECT count(*) FROM seen").fetchone()[0])

    def letter_count(self) -> int:
        """How many dead letters are kept."""
        return int(self._conn().execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def letters(self, *, kind: str | None = None, limit: int | None = None) -> list[DeadLetterRow]:
        """Dead letters, oldest first, optionally of one kind."""
        sql = ("SELECT id, kind, reason, event_id, event, payload, attempts, status, at "
               "FROM dead_letters")
        params: list[Any] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY id LIMIT ?"
        params.append(-1 if limit is None else limit)
        return [DeadLetterRow(*row) for row in self._conn().execute(sql, params).fetchall()]

    def letter(self, letter_id: int) -> DeadLetterRow | None:
        """One dead letter by id."""
        row = self._conn().execute(
            "SELECT id, kind, reason, event_id, event, payload, attempts, status, at "
            "FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        return None if row is None else DeadLetterRow(*row)
