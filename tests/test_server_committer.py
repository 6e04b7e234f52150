"""Group commit: many waiting requests, one transaction, each released after the commit; the
forwarder's claims and settles through the same thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from transformer.server.committer import ClosedError, Committer
from transformer.server.queue.base import Intake, Outcome, QueueError, Reason
from transformer.server.queue.sqlite import DB_NAME, SqliteQueue


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteQueue]:
    opened = SqliteQueue(tmp_path)
    yield opened
    opened.close()


class SlowQueue(SqliteQueue):
    """Holds each intake until released, so that requests pile up behind it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.batches: list[int] = []

    def intake(self, items: Sequence[Intake]) -> list[Outcome]:
        self.gate.wait(5)
        self.batches.append(len(items))
        return super().intake(items)


def test_waiting_requests_are_committed_together_and_each_gets_its_outcome(tmp_path: Path) -> None:
    store = SlowQueue(tmp_path)
    commits: list[int] = []
    committer = Committer(store, prune_every=3600, on_commit=commits.append).start()

    async def many() -> list[Any]:
        first = asyncio.ensure_future(committer.intake(Intake("first", [b"{}"])))
        await asyncio.sleep(0.1)          # the writer now holds "first" at the gate
        rest = [asyncio.ensure_future(committer.intake(Intake(f"id-{i}", [b"{}"]))) for i in range(50)]
        rest.append(asyncio.ensure_future(committer.intake(Intake("id-3", [b"{}"]))))
        await asyncio.sleep(0.1)
        store.gate.set()
        return await asyncio.gather(first, *rest)

    outcomes = asyncio.run(many())
    committer.close()
    assert outcomes == [Outcome.STORED] * 51 + [Outcome.DUPLICATE]
    assert store.batches == [1, 51]     # everything that queued behind the first commit went in one
    assert commits == [1, 51]
    assert store.stats().depth == 51
    store.close()


def test_one_failing_intake_fails_alone(store: SqliteQueue) -> None:
    committer = Committer(store, prune_every=3600).start()

    async def submit_both() -> list[Any]:
        return list(await asyncio.gather(committer.intake(Intake("good", [b"{}"])),
                                         committer.intake(Intake("bad", [None])),  # type: ignore[list-item]
                                         return_exceptions=True))

    good, bad = asyncio.run(submit_both())
    committer.close()
    assert good == Outcome.STORED
    assert isinstance(bad, QueueError) and "NOT NULL" in str(bad)
    assert [row.event_id for row in store.pending()] == ["good"]


def test_claims_run_on_the_writer_and_settles_are_committed_by_flush_and_close(store: SqliteQueue) -> None:
    store.intake([Intake("a", [b"{}", b"{}", b"{}"])])
    woken = threading.Event()
    committer = Committer(store, prune_every=3600, on_stored=woken.set).start()
    claim = committer.claim(10, 60)
    writer = committer.call(threading.current_thread)
    assert writer.name == "store-writer" and len(claim.events) == 3
    first, second, third = (item.handle for item in claim.events)
    committer.ack([first])
    committer.set_aside([second], [Reason("why", 1, 400)])
    assert committer.flush(5)
    stats = store.stats()
    assert (stats.depth, stats.leased, stats.letters) == (1, 1, 1)
    assert not woken.is_set()             # settling enqueues nothing
    committer.release([third], after=3600)
    committer.close()
    assert store.stats().depth == 1 and store.stats().leased == 0
    assert store.claim(10, 60).events == []        # released for later
    for closed in (lambda: committer.ack([first]), lambda: committer.claim(1, 60)):
        with pytest.raises(ClosedError):
            closed()


def test_a_commit_that_stored_events_wakes_the_forwarder(store: SqliteQueue) -> None:
    woken = threading.Event()
    committer = Committer(store, prune_every=3600, on_stored=woken.set).start()
    assert asyncio.run(committer.intake(Intake("a", [b"{}"]))) == Outcome.STORED
    assert woken.wait(5)
    committer.close()


def test_ids_older_than_the_dedupe_window_are_pruned(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteQueue(tmp_path, clock=lambda: now[0])
    store.intake([Intake("old", [b"{}"])])
    now[0] = 5000.0
    store.intake([Intake("new", [b"{}"])])
    now[0] = 5500.0
    committer = Committer(store, dedupe_window=2000).start()
    committer.flush(5)
    committer.close()
    assert store.seen_count() == 1
    assert store.intake([Intake("old", [b"{}"]), Intake("new", [b"{}"])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
    store.close()


def test_failure_says_why_intakes_fail_until_one_goes_through(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path)
    committer = Committer(store, prune_every=3600).start()
    (tmp_path / DB_NAME).rename(tmp_path / "aside.db")

    async def intake(event_id: str) -> Any:
        return await asyncio.gather(committer.intake(Intake(event_id, [b"{}"])), return_exceptions=True)

    (refused,) = asyncio.run(intake("a"))
    assert isinstance(refused, QueueError)
    assert committer.failure == f"{tmp_path / DB_NAME} was deleted while in use"
    (tmp_path / "aside.db").rename(tmp_path / DB_NAME)
    assert asyncio.run(intake("b")) == [Outcome.STORED]
    assert committer.failure is None
    committer.close()
    store.close()
