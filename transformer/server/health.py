"""Liveness and readiness of a receiver, as `/healthz` and `/readyz` report them.

Liveness: the writer and forwarder threads run (when one has died only a restart helps).
Readiness: besides that, the queue knows no `problem()` (SQLite: the database file is still the
one opened, not deleted or replaced), it takes a commit (`Queue.probe` through the writer
thread, at most once per `probe_every` seconds), and forwarding is not stuck: it is stuck when
the oldest waiting event is older than `stuck_after` seconds and no event was delivered or set
aside for as long.

Queue reads (`Queue.oldest_age`, and `Queue.stats` for /metrics) run on one dedicated thread,
so that /readyz and /metrics never touch the store on the event loop and never open more than
one extra connection however often they are called.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from .committer import Committer
from .queue.base import Queue

__all__ = ["ForwarderState", "Health"]

T = TypeVar("T")


class ForwarderState(Protocol):
    """What health checks ask of a forwarder: this process's `Forwarder`, or under `serve
    --workers` the supervisor's (`peers.RemoteForwarder`)."""

    @property
    def alive(self) -> bool: ...
    @property
    def blocked(self) -> bool: ...
    @property
    def last_progress(self) -> float: ...
    @property
    def last_error(self) -> str: ...


class Health:
    """Checks one receiver's parts; see the module docstring."""

    def __init__(self, queue: Queue, committer: Committer, forwarder: ForwarderState | None, *,
                 stuck_after: float = 300.0, probe_every: float = 1.0, probe_timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self.committer = committer
        self.forwarder = forwarder
        self.stuck_after = stuck_after
        self.probe_every = probe_every
        self.probe_timeout = probe_timeout
        self.clock = clock
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="store-reader")
        # open the reader's connection now: one opened after the file was deleted would fail
        self._reads.submit(queue.oldest_age)
        self._probed_at = -math.inf
        self._probe_error: str | None = None

    def close(self) -> None:
        """Stop the reader thread."""
        self._reads.shutdown(wait=True, cancel_futures=True)

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a queue read on the reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn)

    def liveness(self) -> list[str]:
        """What stopped that only a restart can bring back."""
        problems = []
        if not self.committer.alive:
            problems.append("store writer not running")
        if self.forwarder is not None and not self.forwarder.alive:
            problems.append("forwarder not running")
        return problems

    async def readiness(self) -> tuple[list[str], float]:
        """Every reason not to send this receiver webhooks now, and the oldest event's age."""
        problems = self.liveness()
        gone = self.queue.problem()
        if gone is not None:
            problems.append(gone)
        elif self.committer.alive:
            failure = await self._probe()
            if failure is not None:
                problems.append(f"the store does not take commits: {failure}")
        try:
            oldest = await self.read(self.queue.oldest_age)
        except Exception as exc:  # noqa: BLE001 - a store that cannot be read is a reason, not a crash
            if gone is None:
                problems.append(f"the store cannot be read: {exc}")
            return problems, 0.0
        stuck = self._stuck(oldest)
        if stuck is not None:
            problems.append(stuck)
        return problems, oldest

    async def _probe(self) -> str | None:
        now = self.clock()
        if now - self._probed_at >= self.probe_every:
            self._probed_at = now
            try:
                await asyncio.wait_for(self.committer.probe(), self.probe_timeout)
                self._probe_error = None
            except TimeoutError:
                self._probe_error = f"a commit took longer than {self.probe_timeout:g} s"
            except Exception as exc:  # noqa: BLE001 - the reason is the answer
                self._probe_error = str(exc) or type(exc).__name__
        return self._probe_error or self.committer.failure

    def _stuck(self, oldest: float) -> str | None:
        forwarder = self.forwarder
        if forwarder is None or oldest <= self.stuck_after:
            return None
        idle = self.clock() - forwarder.last_progress
        if idle <= self.stuck_after:
            return None
        last = f" (last error: {forwarder.last_error})" if forwarder.last_error else ""
        return (f"forwarding stuck: the oldest event has waited {oldest:.0f} s and none was "
                f"delivered or set aside for {idle:.0f} s{last}")
