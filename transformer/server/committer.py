"""Group commit: the one thread that writes the receiver's queue.

Request handlers hand their `Intake` to this thread and wait; the thread takes everything that
is queued (up to `max_batch` jobs) and takes in every waiting webhook with ONE `Queue.intake`
call (one transaction), and only then releases each waiter with its outcome. While one
transaction syncs to disk the next requests queue up, so under load each sync carries many
webhooks and no handler waits for more than about two commits. No queue call ever runs on the
event loop. The forwarder's claims, acks, set-asides and releases go through the same thread,
so that the process never contends with itself for SQLite's write lock; in each round the
thread takes in webhooks first, then settles, then claims.

A failed group is retried webhook by webhook, so that one bad intake fails alone (not when the
queue's server cannot be reached at all: then the whole group fails at once). `failure`
says why the last intake or probe failed (e.g. the store's file was deleted), until one succeeds
again. Payload ids older than `dedupe_window` are pruned every `prune_every` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from .logs import log
from .queue.base import Claim, Handle, Intake, Outcome, Queue, Reason, UnreachableError

__all__ = ["ClosedError", "Committer"]

_logger = logging.getLogger("transformer.server.queue")
T = TypeVar("T")


class ClosedError(RuntimeError):
    """The committer is shutting down and takes no more writes."""


@dataclass(slots=True)
class _Waiter:
    """Where one job's result goes: an asyncio future on a loop, or a thread's future."""

    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Any] | Future[Any] | None = None

    def settle(self, value: Any) -> None:
        if isinstance(self.future, Future):
            if isinstance(value, BaseException):
                self.future.set_exception(value)
            else:
                self.future.set_result(value)


@dataclass(slots=True)
class _Job:
    kind: str                       # intake, ack, set_aside, release, probe, call, flush, stop
    args: Any = None
    waiter: _Waiter | None = None


_ORDER = ("intake", "ack", "set_aside", "release", "probe", "call")


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in pairs:
        if future.done():  # the request was cancelled (client gone) while we committed
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class Committer:
    """Writes to a `Queue` in groups from one thread; see the module docstring.

    `on_stored` is called after a commit that enqueued events; `on_commit` after each
    transaction that took in webhooks or settled events, `on_stale` with the number of handles
    a settle found no longer under their claim (for metrics).
    """

    def __init__(self, queue: Queue, *, max_batch: int = 1000, dedupe_window: float = 7 * 86400.0,
                 prune_every: float = 60.0, on_stored: Callable[[], None] | None = None,
                 on_commit: Callable[[int], None] | None = None,
                 on_stale: Callable[[int], None] | None = None) -> None:
        self.queue = queue
        self.max_batch = max_batch
        self.dedupe_window = dedupe_window
        self.prune_every = prune_every
        self.on_stored = on_stored
        self.on_commit = on_commit
        self.on_stale = on_stale
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
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

    # from the event loop -----------------------------------------------------------------

    async def intake(self, item: Intake) -> Outcome:
        """Take in one webhook with whatever else is waiting; its outcome once committed (raises
        what the queue raised)."""
        outcome: Outcome = await self._submit(_Job("intake", item))
        return outcome

    async def probe(self) -> None:
        """`Queue.probe` on the writer thread."""
        await self._submit(_Job("probe"))

    async def _submit(self, job: _Job) -> Any:
        if self._closed:
            raise ClosedError("the store is closing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        job.waiter = _Waiter(loop, future)
        self._jobs.put(job)
        return await future

    # from other threads ------------------------------------------------------------------

    def claim(self, limit: int, lease: float) -> Claim:
        """`Queue.claim` on the writer thread, waiting for it."""
        return self.call(lambda: self.queue.claim(limit, lease))

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread, after what is queued, and return what it returns."""
        if self._closed or not self.alive:
            raise ClosedError("the store is closing")
        future: Future[T] = Future()
        self._jobs.put(_Job("call", fn, _Waiter(future=future)))
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                if not self.alive:  # the writer died with this job queued
                    raise ClosedError("the store writer stopped") from None

    def ack(self, handles: Sequence[Handle]) -> None:
        """Queue an ack without waiting."""
        self._post(_Job("ack", list(handles)))

    def set_aside(self, handles: Sequence[Handle], reasons: Sequence[Reason]) -> None:
        """Queue a set-aside without waiting."""
        self._post(_Job("set_aside", list(zip(handles, reasons, strict=True))))

    def release(self, handles: Sequence[Handle], after: float = 0.0) -> None:
        """Queue a release without waiting."""
        self._post(_Job("release", (list(handles), after)))

    def _post(self, job: _Job) -> None:
        if self._closed:
            raise ClosedError("the store is closing")
        self._jobs.put(job)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call is committed."""
        if not self.alive:
            return False
        done: Future[None] = Future()
        self._jobs.put(_Job("flush", None, _Waiter(future=done)))
        try:
            done.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self.alive:
            self._jobs.put(_Job("stop"))
            self._thread.join(timeout)

    # the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + (self.prune_every if not self._prune() else 0.0)
            try:
                first = self._jobs.get(timeout=max(0.01, next_prune - time.monotonic()))
            except Empty:
                continue
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._jobs.get_nowait())
                except Empty:
                    break
            self._commit(jobs)
            if any(job.kind == "stop" for job in jobs):
                return

    def _prune(self) -> bool:
        """Forget old payload ids; True when there may be more to forget."""
        limit = 5000
        try:
            removed = self.queue.prune(self.dedupe_window, limit)
        except Exception as exc:  # noqa: BLE001 - pruning fails again next time; never fatal
            log(_logger, "error", "dedupe_prune_failed", error=str(exc))
            return False
        return removed >= limit

    def _commit(self, jobs: list[_Job]) -> None:
        by_kind: defaultdict[str, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_kind[job.kind].append(job)
        resolved: list[tuple[_Waiter, Any]] = []
        for kind in _ORDER:
            if by_kind[kind]:
                resolved += getattr(self, f"_{kind}")(by_kind[kind])
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for waiter, value in resolved:
            if waiter.loop is not None and isinstance(waiter.future, asyncio.Future):
                by_loop.setdefault(waiter.loop, []).append((waiter.future, value))
            else:
                waiter.settle(value)
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we committed
                loop.call_soon_threadsafe(_resolve, pairs)
        for job in by_kind["flush"]:
            assert job.waiter is not None
            job.waiter.settle(None)

    def _intake(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        items = [job.args for job in jobs]
        try:
            outcomes: list[Any] = self.queue.intake(items)
            self._committed(len(items))
        except UnreachableError as exc:  # each alone would fail the same way, one timeout after another
            log(_logger, "error", "store_commit_failed", op="intake", webhooks=len(items), error=str(exc))
            outcomes = [exc] * len(items)
        except Exception:  # noqa: BLE001 - retried one by one below, so one bad intake fails alone
            outcomes = [self._one(item) for item in items]
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        self.failure = str(failed[-1]) if failed else None
        if Outcome.STORED in outcomes and self.on_stored is not None:
            self.on_stored()
        return [(job.waiter, outcome) for job, outcome in zip(jobs, outcomes, strict=True)
                if job.waiter is not None]

    def _one(self, item: Intake) -> Outcome | Exception:
        try:
            (outcome,) = self.queue.intake([item])
        except Exception as exc:  # noqa: BLE001 - handed to the waiter, which answers 503
            log(_logger, "error", "store_commit_failed", op="intake", error=str(exc))
            return exc
        self._committed(1)
        return outcome

    def _ack(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        self._settle(len(jobs), self.queue.ack, [h for job in jobs for h in job.args])
        return []

    def _set_aside(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        pairs = [pair for job in jobs for pair in job.args]
        self._settle(len(jobs), self.queue.set_aside, [h for h, _ in pairs], [r for _, r in pairs])
        return []

    def _release(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        by_delay: defaultdict[float, list[Handle]] = defaultdict(list)
        for job in jobs:
            handles, after = job.args
            by_delay[after].extend(handles)
        for after, handles in by_delay.items():
            self._settle(len(jobs), self.queue.release, handles, after)
        return []

    def _settle(self, jobs: int, write: Callable[..., int], handles: list[Handle], *args: Any) -> None:
        try:
            settled = write(handles, *args)
        except Exception as exc:  # noqa: BLE001 - the leases run out and the events are claimed again
            log(_logger, "error", "store_write_failed", op=write.__name__, error=str(exc))
            return
        self._committed(jobs)
        if settled < len(handles) and self.on_stale is not None:
            self.on_stale(len(handles) - settled)

    def _probe(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        try:
            self.queue.probe()
            value: Exception | None = None
        except Exception as exc:  # noqa: BLE001 - the reason is the answer
            value = exc
        self.failure = None if value is None else str(value)
        if value is None:
            self._committed(len(jobs))
        return [(job.waiter, value) for job in jobs if job.waiter is not None]

    def _call(self, jobs: list[_Job]) -> list[tuple[_Waiter, Any]]:
        resolved: list[tuple[_Waiter, Any]] = []
        for job in jobs:
            try:
                value = job.args()
            except Exception as exc:  # noqa: BLE001 - handed to whoever waits for it
                value = exc
            if job.waiter is not None:
                resolved.append((job.waiter, value))
        return resolved

    def _committed(self, ops: int) -> None:
        if self.on_commit is not None:
            self.on_commit(ops)
