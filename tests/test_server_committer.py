"""Group commit: many waiting requests, one transaction, each released after the commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from transformer.server.committer import ClosedError, Committer
from transformer.server.queue.sqlite import Delete, Intake, Op, Outcome, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path)
    yield opened
    opened.close()


class SlowStore(Store):
    """Holds each transaction until released, so that requests pile up behind it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.batches: list[int] = []

    def write(self, ops: Sequence[Op], now: float | None = None) -> list[Any]:
        self.gate.wait(5)
        self.batches.append(len(ops))
        return super().write(ops, now)


def test_waiting_requests_are_committed_together_and_each_gets_its_outcome(tmp_path: Path) -> None:
    store = SlowStore(tmp_path)
    committer = Committer(store, prune_every=3600).start()
    store.gate.set()
    committer.flush(5)   # the first prune is done; now hold the next transaction
    store.gate.clear()
    store.batches.clear()

    async def many() -> list[Any]:
        first = asyncio.ensure_future(committer.submit(Intake("first", [b"{}"])))
        await asyncio.sleep(0.1)          # the writer now holds "first" at the gate
        rest = [asyncio.ensure_future(committer.submit(Intake(f"id-{i}", [b"{}"]))) for i in range(50)]
        rest.append(asyncio.ensure_future(committer.submit(Intake("id-3", [b"{}"]))))
        await asyncio.sleep(0.1)
        store.gate.set()
        return await asyncio.gather(first, *rest)

    outcomes = asyncio.run(many())
    committer.close()
    assert outcomes == [Outcome.STORED] * 51 + [Outcome.DUPLICATE]
    assert store.batches == [1, 51]     # everything that queued behind the first commit went in one
    assert store.depth() == 51
    store.close()


def test_one_failing_op_fails_alone(store: Store) -> None:
    committer = Committer(store, prune_every=3600).start()

    async def submit_both() -> tuple[Any, Any]:
        return await asyncio.gather(committer.submit(Intake("good", [b"{}"])),
                                    committer.submit(Intake("bad", [None])),  # type: ignore[list-item]
                                    return_exceptions=True)

    good, bad = asyncio.run(submit_both())
    committer.close()
    assert good == Outcome.STORED
    assert isinstance(bad, sqlite3.IntegrityError)
    assert [r.event_id for r in store.fetch()] == ["good"]


def test_posted_ops_are_committed_by_flush_and_close_commits_what_is_queued(store: Store) -> None:
    store.write([Intake("a", [b"{}", b"{}"])])
    first, second = store.fetch()
    woken = threading.Event()
    committer = Committer(store, prune_every=3600, on_stored=woken.set).start()
    committer.post(Delete([first.id]))
    assert committer.flush(5)
    assert [r.id for r in store.fetch()] == [second.id]
    assert not woken.is_set()             # a delete enqueues nothing
    committer.post(Delete([second.id]))
    committer.close()
    assert store.depth() == 0 and not committer.alive
    with pytest.raises(ClosedError):
        committer.post(Delete([1]))


def test_a_commit_that_stored_events_wakes_the_forwarder(store: Store) -> None:
    woken = threading.Event()
    committer = Committer(store, prune_every=3600, on_stored=woken.set).start()
    assert asyncio.run(committer.submit(Intake("a", [b"{}"]))) == Outcome.STORED
    assert woken.wait(5)
    committer.close()


def test_ids_older_than_the_dedupe_window_are_pruned(store: Store) -> None:
    store.write([Intake("old", [b"{}"])], now=1000.0)
    store.write([Intake("new", [b"{}"])], now=5000.0)
    committer = Committer(store, dedupe_window=2000, clock=lambda: 5500.0).start()
    committer.flush(5)
    committer.close()
    assert store.seen_count() == 1
    assert store.write([Intake("old", [b"{}"]), Intake("new", [b"{}"])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
