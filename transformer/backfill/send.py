"""Sending from the workers: at most `senders` partitions send at once, cluster-wide (a Dask
semaphore), and each holds an equal share of the events/s budget, so that all of them together
never exceed it in any one-second window. A sender keeps its place until its last request has
left the window, so the next one to take the place may start at once.

The destination is made on the worker from the mapping's settings. Secret settings (an API key)
are not in a pickled mapping; they travel with the task in a `Sealed` value, in memory only:
never written, and shown as `***` in any repr Dask may log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..destinations.base import Destination, Framing, Key, Limits, Request, Response, Verdict
from ..destinations.registry import destination_kind
from ..runtime.mapping import CompiledMapping

__all__ = ["WINDOW", "RateLimit", "RateLimited", "Sealed", "SendPlan"]

WINDOW = 1.05
"""Seconds over which a sender's share of the budget is counted: a second, and a margin for
requests that take different times to arrive."""


class Sealed:
    """Secret values that must not be shown: `repr` is `Sealed(***)`; `open()` gives them."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def open(self) -> dict[str, Any]:
        """The values."""
        return dict(self._values)

    def __repr__(self) -> str:
        return "Sealed(***)"

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return Sealed, (self._values,)


@dataclass(frozen=True, slots=True)
class SendPlan:
    """What a task needs to send: which destination (and its URL, as the manifest records it),
    the secret settings, the budget and the semaphore name (one per run) that caps the senders."""

    destination: str
    url: str
    secrets: Sealed
    rate: float
    senders: int
    semaphore: str
    deadline: float = 600.0
    concurrency: int = 2

    @property
    def share(self) -> float:
        """Events per second one sender may send."""
        return self.rate / self.senders

    def batch_size(self, limits: Limits) -> int:
        """Events per request: a quarter of a sender's share (so its requests are spread over
        the second), within the destination's limit."""
        return max(1, min(limits.max_events, int(self.share // 4) or 1))

    def make(self, compiled: CompiledMapping) -> Destination:
        """The destination, from the mapping's settings and the secret ones."""
        settings = {**dict(compiled.settings), **self.secrets.open()}
        return destination_kind(self.destination).create(settings)


class RateLimit:
    """At most `per_second` events in any `WINDOW`; `acquire(n)` waits until `n` more fit (an
    empty window takes a request of any size). Thread-safe."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_second = per_second
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()
        self._total = 0
        self._lock = threading.Lock()

    def acquire(self, count: int) -> None:
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and self._sent[0][0] <= now - WINDOW:
                    self._total -= self._sent.popleft()[1]
                if not self._sent or self._total + count <= self.per_second:
                    self._sent.append((now, count))
                    self._total += count
                    return
                self.sleep(self._sent[0][0] + WINDOW - now)

    def drain(self) -> None:
        """Wait until no request sent is still in the window: before a sender gives its place
        to another, which starts with an empty window."""
        with self._lock:
            if self._sent:
                self.sleep(max(0.0, self._sent[-1][0] + WINDOW - self.clock()))
            self._sent.clear()
            self._total = 0


class RateLimited:
    """`destination`, each request waiting for its events to fit `limit`."""

    def __init__(self, destination: Destination, limit: RateLimit) -> None:
        self.inner = destination
        self.limit = limit

    def encode(self, bodies: Sequence[bytes]) -> Request:
        self.limit.acquire(len(bodies))
        return self.inner.encode(bodies)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def title(self) -> str:
        return self.inner.title

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def host(self) -> str:
        return self.inner.host

    @property
    def host_label(self) -> str:
        return self.inner.host_label

    @property
    def limits(self) -> Limits:
        return self.inner.limits

    @property
    def framing(self) -> Framing:
        return self.inner.framing

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.inner.secrets

    def preflight(self, event: Any) -> tuple[str, str] | None:
        return self.inner.preflight(event)

    def keys(self, event: Any) -> tuple[Key, ...]:
        return self.inner.keys(event)

    def encode_event(self, event: Any) -> bytes:
        return self.inner.encode_event(event)

    def classify(self, response: Response, count: int) -> Verdict:
        return self.inner.classify(response, count)

    def classify_error(self, exc: Exception) -> Verdict:
        return self.inner.classify_error(exc)

    def warning(self) -> str | None:
        return self.inner.warning()
