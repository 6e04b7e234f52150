"""The SQLite queue's own concerns: the file, its modes, upgrades of older stores, the lock, a
file deleted under it. What every queue does is checked by tests/queue_conformance.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from transformer.server.queue.base import Intake, Outcome, QueueError, Reason
from transformer.server.queue.sqlite import DB_NAME, SqliteQueue
from transformer.server.queue.sqlite_schema import SCHEMA_VERSION


def event(n: int) -> bytes:
    return orjson.dumps({"event_type": "Email Sent", "user_id": f"user-{n:05d}", "insert_id": f"id-{n}"})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteQueue]:
    opened = SqliteQueue(tmp_path / "var")
    yield opened
    opened.close()


def test_a_new_store_is_in_wal_mode_with_the_chosen_sync(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path / "var", synchronous="normal")
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1      # NORMAL
    store.close()
    store = SqliteQueue(tmp_path / "var")
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2      # FULL, the default
    store.close()


def test_times_come_from_the_clock(tmp_path: Path) -> None:
    clock = Clock(100.0)
    store = SqliteQueue(tmp_path, clock=clock)
    store.intake([Intake("a", [event(1)]), Intake("p", error="payload error", payload=b"{}")])
    claim = store.claim(10, 30.0)
    assert claim.expires_at == 130.0 and claim.events[0].received_at == 100.0
    clock.now = 104.5
    assert store.stats().oldest_age == 4.5 and store.stats().leased == 1
    clock.now = 130.0
    assert store.stats().leased == 0                   # expired at 130
    assert store.letters()[0].at == 100.0
    store.close()


def test_duplicates_are_recognised_after_reopening(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path / "var")
    store.intake([Intake("a", [event(1)])])
    store.ack([item.handle for item in store.claim(1, 60).events])
    store.close()
    reopened = SqliteQueue(tmp_path / "var")
    assert reopened.stats().depth == 0
    assert reopened.intake([Intake("a", [event(1)])]) == [Outcome.DUPLICATE]
    reopened.close()


def test_prune_forgets_ids_older_than_the_window_and_keeps_newer_ones(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    store = SqliteQueue(tmp_path, clock=clock)
    store.intake([Intake(f"old-{i}", [event(i)]) for i in range(7)])
    clock.now = 2000.0
    store.intake([Intake(f"new-{i}", [event(i)]) for i in range(3)])
    clock.now = 2500.0
    assert [store.prune(1000.0, limit=5) for _ in range(3)] == [5, 2, 0]
    assert store.seen_count() == 3
    assert store.intake([Intake("old-1", [event(1)]), Intake("new-1", [event(1)])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
    assert store.stats().depth == 11      # pruning forgets ids, never pending events
    store.close()


def test_pending_shows_events_claimed_or_not(store: SqliteQueue) -> None:
    store.intake([Intake("a", [event(1), event(2)])])
    store.claim(1, 60)
    assert [(row.event_id, row.event) for row in store.pending()] == [("a", event(1)), ("a", event(2))]
    assert len(store.pending(1)) == 1


def test_commands_that_only_read_refuse_a_folder_without_a_store(tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="no store in"):
        SqliteQueue(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    SqliteQueue(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(QueueError, match="newer transformer"):
        SqliteQueue(tmp_path)


SCHEMA_2 = """
CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, event BLOB NOT NULL,
                      received_at REAL NOT NULL);
CREATE TABLE seen (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, seen_at REAL NOT NULL);
CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, reason TEXT NOT NULL,
                           event_id TEXT, event BLOB, payload BLOB, attempts INTEGER NOT NULL DEFAULT 0,
                           status INTEGER, at REAL NOT NULL);
CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
INSERT INTO pending (event_id, event, received_at)
    VALUES ('a', CAST('{"n":1}' AS BLOB), 10.0), ('b', CAST('{"n":2}' AS BLOB), 11.0);
INSERT INTO seen (event_id, seen_at) VALUES ('a', 10.0), ('b', 11.0);
INSERT INTO dead_letters (kind, reason, event_id, event, attempts, status, at)
    VALUES ('set_aside', 'why', 'c', CAST('{"n":3}' AS BLOB), 2, 400, 12.0);
"""


@pytest.mark.parametrize("version", [1, 2])
def test_a_store_of_an_earlier_schema_is_upgraded_in_place_and_its_events_are_forwarded(
        tmp_path: Path, version: int) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.executescript(SCHEMA_2 if version == 2 else SCHEMA_2.replace(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);", ""))
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    store = SqliteQueue(tmp_path)
    assert store.intake([Intake("a", [b"{}"])]) == [Outcome.DUPLICATE]       # its dedupe memory kept
    claim = store.claim(10, 60)
    assert [(item.event_id, item.event, item.claims) for item in claim.events] == \
        [("a", b'{"n":1}', 0), ("b", b'{"n":2}', 0)]
    assert store.ack([claim.events[0].handle]) == 1
    (letter,) = store.letters()
    assert (letter.kind, letter.reason, letter.event, letter.attempts, letter.status) == \
        ("set_aside", "why", b'{"n":3}', 2, 400)
    assert store.requeue([letter.id]) == 1
    store.probe()
    store.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_a_store_knows_when_its_file_was_deleted_or_replaced_and_takes_nothing_in_then(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path)
    store.intake([Intake("a", [event(1)])])
    claim = store.claim(1, 60)
    assert store.problem() is None
    (tmp_path / DB_NAME).rename(tmp_path / "elsewhere.db")
    gone = f"{tmp_path / DB_NAME} was deleted while in use"
    assert store.problem() == gone
    for refused in (lambda: store.intake([Intake("b", [event(2)])]), store.probe):
        with pytest.raises(QueueError) as raised:
            refused()
        assert str(raised.value) == gone
    assert store.ack([claim.events[0].handle]) == 1        # what the open file holds is still settled
    (tmp_path / DB_NAME).write_bytes(b"")
    assert store.problem() == f"{tmp_path / DB_NAME} was replaced by another file while in use"
    store.close()


def test_only_one_server_may_lock_a_data_dir(tmp_path: Path) -> None:
    first, second = SqliteQueue(tmp_path), SqliteQueue(tmp_path)
    first.lock()
    with pytest.raises(QueueError, match="in use by another transformer serve"):
        second.lock()
    with pytest.raises(QueueError, match="in use by another transformer serve"):
        second.prepare()
    first.close()
    second.lock()
    second.close()


def test_prepare_ends_the_leases_an_earlier_process_left(tmp_path: Path) -> None:
    dead = SqliteQueue(tmp_path)                          # a serve killed while it held a claim
    dead.intake([Intake("a", [event(1)]), Intake("b", [event(2)])])
    stale = dead.claim(10, 3600)
    dead.close()
    store = SqliteQueue(tmp_path)
    assert store.claim(10, 60).events == []
    store.prepare()
    again = store.claim(10, 60)
    assert [item.event_id for item in again.events] == ["a", "b"]
    assert [item.claims for item in again.events] == [1, 1]
    assert store.set_aside([item.handle for item in stale.events], [Reason("late")] * 2) == 0
    store.close()


def test_a_closed_store_refuses_new_connections(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path)
    store.close()
    with pytest.raises(QueueError, match="closed"):
        store.stats()


def test_writers_take_turns_and_one_that_waits_too_long_is_told_why(tmp_path: Path) -> None:
    """Two stores on one folder stand for two processes of `serve --workers` (each holds its own
    descriptor of the writers' flock, as two processes do)."""
    import threading

    first, impatient, second = (SqliteQueue(tmp_path), SqliteQueue(tmp_path, busy_timeout=0.2),
                                SqliteQueue(tmp_path))
    try:
        entered, leave = threading.Event(), threading.Event()

        def hold() -> None:
            with first.transaction():
                entered.set()
                leave.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        entered.wait(10)
        with pytest.raises(QueueError, match=r"another process has been writing to .* for 0\.2 s"):
            impatient.intake([Intake("a", [event(1)])])
        leave.set()
        holder.join(10)
        assert impatient.intake([Intake("a", [event(1)])]) == [Outcome.STORED]

        def take_in(store: SqliteQueue, start: int) -> None:
            for n in range(start, start + 200, 2):
                store.intake([Intake(f"id-{n}", [event(n)])])

        writers = [threading.Thread(target=take_in, args=(store, start))
                   for store, start in ((first, 10), (second, 11))]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        assert len(first.pending(1000)) == 201
    finally:
        for store in (first, impatient, second):
            store.close()
