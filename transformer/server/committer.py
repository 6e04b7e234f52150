"""Group commit: the one thread that writes the receiver's store.

Request handlers hand their `Intake` to this thread and wait; the thread takes everything that
is queued (up to `max_batch` ops), commits it in one transaction, and only then releases every
waiter. While one transaction syncs to disk the next requests queue up, so under load each sync
carries many webhooks and no handler waits for more than about two commits. No SQLite call ever
runs on the event loop. The forwarder's deletes and set-asides go through the same thread, so
the process never contends with itself for SQLite's write lock.

Before writing what acknowledges a webhook (an `Intake`, or a readiness `Probe`), the thread
checks that the database file is still the one opened: once it was deleted or replaced, those
ops fail with `StoreError` (the webhook is answered 503) while the forwarder's deletes and
set-asides still go to the open file, so that what it holds is still delivered. `failure` says
why the last intake or probe failed, until one succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from .logs import log
from .queue.sqlite import Intake, Op, Outcome, Probe, Prune, Store, StoreError

__all__ = ["ClosedError", "Committer"]

_logger = logging.getLogger("transformer.server.queue.sqlite")


class ClosedError(RuntimeError):
    """The store is shutting down and takes no more writes."""


class _Job:
    __slots__ = ("done", "future", "loop", "op")

    def __init__(self, op: Op | None, loop: asyncio.AbstractEventLoop | None = None,
                 future: asyncio.Future[Any] | None = None, done: threading.Event | None = None) -> None:
        self.op = op
        self.loop = loop
        self.future = future
        self.done = done


_STOP = _Job(None)
_ACKNOWLEDGING = (Intake, Probe)  # ops that must not land in a file deleted or replaced


def _settle(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in pairs:
        if future.done():  # the request was cancelled (client gone) while we committed
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class Committer:
    """Commits ops to a `Store` in groups; see the module docstring.

    `dedupe_window` (seconds) is how long payload ids are remembered; older ones are pruned
    every `prune_every` seconds. `on_stored` is called after a commit that enqueued events.
    `on_commit` is called after each transaction (for metrics).
    """

    def __init__(self, store: Store, *, max_batch: int = 1000, dedupe_window: float = 7 * 86400.0,
                 prune_every: float = 60.0, on_stored: Callable[[], None] | None = None,
                 on_commit: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.max_batch = max_batch
        self.dedupe_window = dedupe_window
        self.prune_every = prune_every
        self.on_stored = on_stored
        self.on_commit = on_commit
        self.clock = clock
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closed = False
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def start(self) -> Committer:
        """Start the writer thread."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread.is_alive()

    async def submit(self, op: Op) -> Any:
        """Commit `op` and return its result (raises what the store raised)."""
        if self._closed:
            raise ClosedError("the store is closing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(op, loop, future))
        return await future

    def post(self, op: Op) -> None:
        """Queue `op` without waiting (the forwarder's deletes and set-asides)."""
        if self._closed:
            raise ClosedError("the store is closing")
        self._queue.put(_Job(op))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is committed."""
        if not self.alive:
            return False
        done = threading.Event()
        self._queue.put(_Job(None, done=done))
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self.alive:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + (self.prune_every if not self._prune() else 0.0)
            try:
                first = self._queue.get(timeout=max(0.01, next_prune - time.monotonic()))
            except queue.Empty:
                continue
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(job is _STOP for job in jobs)
            self._commit([job for job in jobs if job is not _STOP])
            if stopping:
                return

    def _prune(self) -> bool:
        """Forget old payload ids; True when there may be more to forget."""
        chunk = Prune(self.clock() - self.dedupe_window)
        try:
            (removed,) = self.store.write([chunk])
        except Exception as exc:  # noqa: BLE001 - pruning fails again next time; never fatal
            log(_logger, "error", "dedupe_prune_failed", error=str(exc))
            return False
        return bool(removed >= chunk.limit)

    def _commit(self, jobs: list[_Job]) -> None:
        ops = [job.op for job in jobs if job.op is not None]
        results = self._write(ops) if ops else []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        stored = False
        values = iter(results)
        for job in jobs:
            if job.op is None:
                if job.done is not None:
                    job.done.set()
                continue
            value = next(values)
            if isinstance(job.op, Intake) and value == Outcome.STORED:
                stored = True
            if isinstance(value, BaseException) and job.future is None:
                log(_logger, "error", "store_write_failed", op=type(job.op).__name__, error=str(value))
            if job.loop is not None and job.future is not None:
                by_loop.setdefault(job.loop, []).append((job.future, value))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we committed
                loop.call_soon_threadsafe(_settle, pairs)
        if stored and self.on_stored is not None:
            self.on_stored()

    def _write(self, ops: list[Op]) -> list[Any]:
        """One result per op: the store's, or the exception that op failed with."""
        acknowledging = any(isinstance(op, _ACKNOWLEDGING) for op in ops)
        gone = self.store.problem() if acknowledging else None
        results: list[Any] = [StoreError(gone) if gone and isinstance(op, _ACKNOWLEDGING) else None
                              for op in ops]
        todo = [i for i, result in enumerate(results) if result is None]
        if todo:
            chosen = [ops[i] for i in todo]
            try:
                values = self.store.write(chosen)
            except Exception:  # noqa: BLE001 - retried op by op below, so one bad op fails alone
                values = [self._one(op) for op in chosen]
            for i, value in zip(todo, values, strict=True):
                results[i] = value
            if self.on_commit is not None:
                self.on_commit(len(chosen))
        if acknowledging:
            failed = [r for op, r in zip(ops, results, strict=True)
                      if isinstance(op, _ACKNOWLEDGING) and isinstance(r, BaseException)]
            self.failure = gone or (str(failed[0]) if failed else None)
        return results

    def _one(self, op: Op) -> Any:
        try:
            return self.store.write([op])[0]
        except Exception as exc:  # noqa: BLE001 - handed to the waiter, which answers 503
            log(_logger, "error", "store_commit_failed", op=type(op).__name__, error=str(exc))
            return exc
