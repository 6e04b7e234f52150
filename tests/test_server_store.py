"""The receiver's SQLite store: intake with dedupe, the pending queue, dead letters, pruning."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from transformer.server.queue.sqlite import (
    DB_NAME,
    Delete,
    Intake,
    Outcome,
    Probe,
    Prune,
    SetAside,
    Store,
    StoreError,
)


def event(n: int) -> bytes:
    return orjson.dumps({"event_type": "Email Sent", "user_id": f"user-{n:05d}", "insert_id": f"id-{n}"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "var")
    yield opened
    opened.close()


def test_a_new_store_is_in_wal_mode_with_the_chosen_sync(tmp_path: Path) -> None:
    store = Store(tmp_path / "var", synchronous="normal")
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1      # NORMAL
    store.close()
    store = Store(tmp_path / "var")
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2      # FULL, the default
    store.close()


def test_intake_enqueues_events_in_order_and_fetch_pages_through_them(store: Store) -> None:
    assert store.write([Intake("a", [event(1), event(2)]), Intake("b", [event(3)])], now=100.0) == \
        [Outcome.STORED, Outcome.STORED]
    rows = store.fetch()
    assert [(r.event_id, orjson.loads(r.event)["insert_id"]) for r in rows] == \
        [("a", "id-1"), ("a", "id-2"), ("b", "id-3")]
    assert [r.id for r in store.fetch(after=rows[0].id, limit=1)] == [rows[1].id]
    assert store.depth() == 3 and store.has_pending()
    assert store.oldest_age(now=104.5) == 4.5


def test_a_repeated_event_id_is_a_duplicate_even_in_the_same_transaction(store: Store) -> None:
    assert store.write([Intake("a", [event(1)]), Intake("a", [event(1)])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
    assert store.write([Intake("a", [event(9)])]) == [Outcome.DUPLICATE]
    assert store.depth() == 1


def test_duplicates_are_recognised_after_delivery_and_after_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "var")
    store.write([Intake("a", [event(1)])])
    store.write([Delete([store.fetch()[0].id])])
    store.close()
    reopened = Store(tmp_path / "var")
    assert reopened.depth() == 0
    assert reopened.write([Intake("a", [event(1)])]) == [Outcome.DUPLICATE]
    reopened.close()


def test_payloads_without_an_id_are_never_duplicates(store: Store) -> None:
    assert store.write([Intake(None, [event(1)]), Intake(None, [event(1)])]) == \
        [Outcome.STORED, Outcome.STORED]
    assert store.depth() == 2


def test_a_payload_error_is_kept_as_a_dead_letter_with_the_payload_and_counts_as_seen(store: Store) -> None:
    assert store.write([Intake("p", error="payload error: bad time", payload=b'{"x":1}')], now=50.0) == \
        [Outcome.DEAD_LETTER]
    (letter,) = store.letters()
    assert (letter.kind, letter.reason, letter.event_id, letter.payload, letter.event, letter.at) == \
        ("payload_error", "payload error: bad time", "p", b'{"x":1}', None, 50.0)
    assert store.write([Intake("p", error="again", payload=b"{}")]) == [Outcome.DUPLICATE]
    assert store.depth() == 0 and store.letter_count() == 1


def test_delete_removes_accepted_rows_only(store: Store) -> None:
    store.write([Intake("a", [event(1), event(2), event(3)])])
    first, second, third = store.fetch()
    assert store.write([Delete([first.id, third.id, 999])]) == [2]
    assert [r.id for r in store.fetch()] == [second.id]


def test_set_aside_moves_a_row_to_the_dead_letters_with_its_event(store: Store) -> None:
    store.write([Intake("a", [event(1)])])
    (row,) = store.fetch()
    assert store.write([SetAside(row.id, "set_aside", "id shorter than min_id_length: …", 2, 400)],
                       now=70.0) == [1]
    assert store.depth() == 0
    (letter,) = store.letters(kind="set_aside")
    assert (letter.event, letter.event_id, letter.attempts, letter.status, letter.at) == \
        (row.event, "a", 2, 400, 70.0)
    assert store.letters(kind="payload_error") == []


def test_requeue_puts_an_event_back_with_a_new_id_and_removes_the_letter(store: Store) -> None:
    store.write([Intake("a", [event(1)])])
    (row,) = store.fetch()
    store.write([SetAside(row.id, "set_aside", "why")])
    (letter,) = store.letters()
    assert store.requeue(letter.id) == 1
    (again,) = store.fetch()
    assert again.event == row.event and again.event_id == "a" and again.id > row.id
    assert store.letter(letter.id) is None
    assert store.requeue(letter.id) == 0


def test_a_payload_letter_is_requeued_only_with_its_new_events(store: Store) -> None:
    store.write([Intake("p", error="payload error", payload=b"{}")])
    (letter,) = store.letters()
    with pytest.raises(StoreError, match="holds a payload"):
        store.requeue(letter.id)
    assert store.letter_count() == 1
    assert store.requeue(letter.id, [event(5), event(6)]) == 2
    assert [r.event_id for r in store.fetch()] == ["p", "p"] and store.letter_count() == 0


def test_prune_forgets_ids_older_than_the_window_in_bounded_chunks(store: Store) -> None:
    store.write([Intake(f"old-{i}", [event(i)]) for i in range(7)], now=1000.0)
    store.write([Intake(f"new-{i}", [event(i)]) for i in range(3)], now=2000.0)
    assert store.write([Prune(before=1500.0, limit=5)]) == [5]
    assert store.write([Prune(before=1500.0, limit=5)]) == [2]
    assert store.write([Prune(before=1500.0, limit=5)]) == [0]
    assert store.seen_count() == 3
    assert store.write([Intake("old-1", [event(1)]), Intake("new-1", [event(1)])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
    assert store.depth() == 11      # pruning forgets ids, never pending events


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(sqlite3.Error):
        store.write([Intake("a", [event(1)]), Intake("b", [None])])  # type: ignore[list-item]
    assert store.depth() == 0 and store.seen_count() == 0


def test_commands_that_only_read_refuse_a_folder_without_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store in"):
        Store(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer transformer"):
        Store(tmp_path)


def test_a_store_of_schema_1_gets_the_probe_table_when_opened(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write([Intake("a", [event(1)])])
    store.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("DROP TABLE probe")
        conn.execute("PRAGMA user_version = 1")
    store = Store(tmp_path)
    assert store.write([Probe()]) == [1] and store.depth() == 1
    store.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)


def test_a_store_knows_when_its_file_was_deleted_or_replaced(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.problem() is None
    (tmp_path / DB_NAME).rename(tmp_path / "elsewhere.db")
    assert store.problem() == f"{tmp_path / DB_NAME} was deleted while in use"
    (tmp_path / DB_NAME).write_bytes(b"")
    assert store.problem() == f"{tmp_path / DB_NAME} was replaced by another file while in use"
    store.close()


def test_only_one_server_may_lock_a_data_dir(tmp_path: Path) -> None:
    first, second = Store(tmp_path), Store(tmp_path)
    first.lock()
    with pytest.raises(StoreError, match="in use by another transformer serve"):
        second.lock()
    first.close()
    second.lock()
    second.close()


def test_a_closed_store_refuses_new_connections(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.depth()
