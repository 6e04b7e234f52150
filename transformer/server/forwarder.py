"""The forwarder: a background thread that drains the queue into the destination.

It works by lease: each round claims events, oldest first, a page at a time as the sender asks
for more, and hands them to an `Sender` for the destination (same batching, per-user order, retry, 429
pause and set-aside rules as `transformer send`). Every claimed event is settled through the
`Committer`: accepted → ack (deleted); set aside → moved to the dead letters; not accepted
within `retry_window` seconds (an outage, a long 429 pause) → released, claimable again after
`retry_pause` seconds, and claimed again by a later round. What a round still holds when it
ends (stopped, or blocked below) is released at once. A claim's lease (`lease`, by default twice
the retry window and a margin) outlasts all of that, so it only runs out when the process dies
or stalls; the events are then claimed again (by any receiver on the queue). No store lock is
held while a request is in flight. After a crash or `kill -9`, events that were sent but not
yet acked are sent again: their `insert_id` is unchanged and a deduplicating destination
(Amplitude) drops the copy.

The one rule that differs from `send`: when the destination refuses every request (invalid API key,
403, 404), `send` gives up and dead-letters everything; a long-running receiver instead gives
the events back to the queue, reports `forwarding_blocked`, and tries again after
`blocked_pause`, so that fixing the key and restarting is all it takes.

The users and devices a 429 pauses are shared through the queue (`Queue.pause`), and the
pauses other receivers recorded are read from it at most once a second
(`Queue.pauses`), so that one throttled user is paused by every receiver at once.

No one event can stall the others: a stored event that cannot be decoded is set aside here, and
one the sender cannot check or encode is set aside by the sender, each with the reason.
`last_progress` (monotonic) is when an event was last settled (delivered or set aside), for
the readiness check.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from ..destinations import Destination, Outgoing, Sender, SendReport
from ..destinations.dead_letters import DeadLetterKind
from .committer import ClosedError, Committer
from .logs import log
from .metrics import ReceiverMetrics
from .queue.base import Claim, Handle, QueueError, Reason

__all__ = ["LEASE_MARGIN", "PAUSES_EVERY", "QUEUE_RETRY", "Forwarder"]

LEASE_MARGIN = 30.0
"""Seconds a lease lasts beyond twice the retry window: a request in flight when the window
ends (the sender's timeout is 10 s), and slack."""

_logger = logging.getLogger("transformer.server.forwarder")

QUEUE_RETRY = 2.0
"""Seconds before forwarding tries again when the queue failed (e.g. PostgreSQL restarting)."""

PAUSES_EVERY = 1.0
"""Seconds between reads of the pauses other receivers recorded."""


class _Pauses(dict[tuple[str, str], float]):
    """The sender's pauses (key → monotonic time it ends), noting those it sets, to share them."""

    def __init__(self) -> None:
        super().__init__()
        self.new: dict[tuple[str, str], float] = {}

    def __setitem__(self, key: tuple[str, str], until: float) -> None:
        super().__setitem__(key, until)
        self.new[key] = until

    def learn(self, key: tuple[str, str], until: float) -> None:
        """A pause another receiver set: kept if it ends later, not shared again."""
        if until > self.get(key, 0.0):
            super().__setitem__(key, until)

    def forget_ended(self, now: float) -> None:
        """Drop the pauses that have ended, so that the dict does not grow with every key ever
        paused (and the sender's `if paused:` shortcut applies again)."""
        for key in [key for key, until in self.items() if until <= now]:
            del self[key]


class _Tally:
    """How much of one round's report has been counted in the metrics already."""

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.set_aside: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()


class Forwarder:
    """Drains the queue behind `committer` into the destination in a thread; see the module docstring.

    `page` events are claimed at a time; after a round that sent less than one full batch it
    waits `linger` seconds, so that requests carry many events instead of one each; with
    nothing to claim it wakes on `wake()` (called by the committer) or every `idle` seconds
    (events requeued by `transformer dead-letters resend` from another process, or released).
    An event released after the retry window is claimable again after the sender's
    `backoff_max` (`--retry-max-wait`).
    """

    def __init__(self, committer: Committer, destination: Destination, metrics: ReceiverMetrics, *,
                 page: int = 1000, linger: float = 0.2, idle: float = 1.0, blocked_pause: float = 60.0,
                 retry_window: float = 60.0, lease: float | None = None, **sender_options: Any) -> None:
        if not retry_window > 0:
            raise ValueError(f"retry_window must be more than 0 seconds, got {retry_window}")
        self.committer = committer
        self.metrics = metrics
        self.page = page
        self.linger = linger
        self.idle = idle
        self.blocked_pause = blocked_pause
        self.retry_window = retry_window
        self.lease = lease if lease is not None else 2 * retry_window + LEASE_MARGIN
        self._pauses = _Pauses()
        self._pauses_read = -PAUSES_EVERY
        self.sender = Sender(
            destination, deadline=retry_window, dead_letters=self, on_accepted=self._accepted,
            on_progress=self._progress, keep_unsent_on_fatal=True, pauses=self._pauses, **sender_options)
        self.retry_pause = self.sender.retry.backoff_max
        self.blocked = False
        self.last_progress = time.monotonic()
        self.last_error = ""
        self._held: dict[Handle, None] = {}   # claimed by this round and not settled yet
        self._tally = _Tally()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)

    def start(self) -> Forwarder:
        """Start the thread."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """New rows were committed."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sending (what is not accepted yet stays pending) and close the sender."""
        self._stopping.set()
        self.sender.stop()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sender.close()

    # the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        log(_logger, "info", "forwarding", url=self.sender.url)
        while not self._stopping.is_set():
            try:
                if not self._round():
                    return
            except ClosedError:
                return
            except QueueError as exc:  # unreachable, restarting: try again soon, without a traceback
                log(_logger, "warning", "queue_unavailable", error=str(exc))
                self.metrics.forwarding_errors.inc(kind="queue")
                self.last_error = f"the queue cannot be used: {exc}"
                self._stopping.wait(min(self.blocked_pause, QUEUE_RETRY))
            except Exception as exc:  # a store or sender bug must not end forwarding
                _logger.exception("forwarding_failed", extra={"fields": {"error": str(exc)}})
                self.metrics.forwarding_errors.inc(kind="internal")
                self.last_error = f"forwarding failed: {exc}"
                self._stopping.wait(self.blocked_pause)

    def _round(self) -> bool:
        """Claim and send until nothing is left to claim; False when stopping."""
        self._wake.clear()
        self._share_pauses()
        first = self.committer.claim(self.page, self.lease)
        if not first.events:
            self._wake.wait(self.idle)
            return not self._stopping.is_set()
        self._tally = _Tally()
        try:
            report = self.sender.send(self._source(first))
        finally:
            self._give_back()
        self._progress(report)
        if report.stopped or self._stopping.is_set():
            return False
        if report.fatal is not None:
            if not self.blocked:
                log(_logger, "error", "forwarding_blocked", reason=report.fatal,
                    retry_in=self.blocked_pause)
            self.blocked = True
            self.metrics.blocked.set(1)
            self._stopping.wait(self.blocked_pause)
            return not self._stopping.is_set()
        if self.blocked:
            log(_logger, "info", "forwarding_resumed")
        self.blocked = False
        self.metrics.blocked.set(0)
        for warning in report.warnings:
            log(_logger, "warning", "delivery_warning", warning=warning)
        if report.events:
            log(_logger, "debug", "round", events=report.events, accepted=report.accepted,
                set_aside=sum(report.set_aside.values()), requests=report.requests)
        if report.events < self.sender.max_events:
            self._stopping.wait(self.linger)
        return True

    def _source(self, claim: Claim) -> Iterator[Outgoing]:
        """The claimed events, oldest first, claiming the next page when the sender asks for more."""
        while claim.events:
            self._held.update(dict.fromkeys(item.handle for item in claim.events))
            for item in claim.events:
                if self._stopping.is_set():
                    return
                try:
                    event = orjson.loads(item.event)
                except Exception as exc:  # noqa: BLE001 - an event damaged on disk fails alone
                    self._set_aside(item.handle, item.event_id, f"cannot be decoded: {exc}")
                    self.metrics.set_aside.inc(reason="cannot be decoded")
                    continue
                yield Outgoing(event, item.event_id, item.handle)
            if self._stopping.is_set():
                return
            claim = self.committer.claim(self.page, self.lease)

    def _give_back(self) -> None:
        """Release what this round still holds (stopped, blocked, failed), claimable at once."""
        held, self._held = list(self._held), {}
        if held:
            with contextlib.suppress(ClosedError):  # then the leases run out: claimed again later
                self.committer.release(held)

    # sender callbacks (on this thread) -----------------------------------------------------

    def _accepted(self, accepted: list[Outgoing]) -> None:
        handles = [item.ref for item in accepted]
        self._settled(handles)
        self.committer.ack(handles)
        self.metrics.delivered.inc(len(accepted))
        self.last_progress = time.monotonic()

    def _set_aside(self, handle: Handle, event_id: str | None, reason: str, attempts: int = 0,
                   status: int | None = None) -> None:
        self._settled([handle])
        self.committer.set_aside([handle], [Reason(reason, attempts, status)])
        self.last_progress = time.monotonic()
        log(_logger, "warning", "event_set_aside", event_id=event_id, reason=reason)

    def _settled(self, handles: list[Handle]) -> None:
        for handle in handles:
            self._held.pop(handle, None)

    def write(self, *, reason: str, kind: str, event_id: str | None, event: Any = None,
              payload: Any = None, attempts: int = 0, status: int | None = None,
              ref: Any = None) -> None:
        """The sender's dead-letter sink: a set-aside event moves to the dead letters; one not
        accepted within the retry window (undelivered) goes back to the queue, claimable after
        `retry_pause`."""
        if ref is None:
            return
        if kind == DeadLetterKind.SET_ASIDE:
            self._set_aside(ref, event_id, reason, attempts, status)
        elif kind == DeadLetterKind.UNDELIVERED:
            self._settled([ref])
            self.committer.release([ref], self.retry_pause)
            self.metrics.released.inc()
            log(_logger, "debug", "event_released", event_id=event_id, reason=reason,
                retry_in=self.retry_pause)

    def _share_pauses(self) -> None:
        """Record the pauses the sender set since last time; read the others' once a second."""
        queue, now = self.committer.queue, time.monotonic()
        new, self._pauses.new = self._pauses.new, {}
        shared = {f"{kind}:{name}": until - now for (kind, name), until in new.items() if until > now}
        try:
            if shared:
                self.committer.call(lambda: queue.pause(shared))
            if now - self._pauses_read >= PAUSES_EVERY:
                self._pauses_read = now
                self._pauses.forget_ended(now)
                for key, left in self.committer.call(queue.pauses).items():
                    kind, _, name = key.partition(":")
                    self._pauses.learn((kind, name), now + left)
        except QueueError as exc:  # this receiver's pauses still hold; shared on a later try
            self._pauses.new = {**new, **self._pauses.new}
            log(_logger, "warning", "pauses_not_shared", error=str(exc))

    def _progress(self, report: SendReport) -> None:
        self._share_pauses()
        tally, metrics = self._tally, self.metrics
        if report.requests > tally.requests:
            metrics.requests.inc(report.requests - tally.requests)
            tally.requests = report.requests
        if report.retries > tally.retries:
            metrics.retries.inc(report.retries - tally.retries)
            tally.retries = report.retries
        for category, count in report.set_aside.items():
            if count > tally.set_aside[category]:
                metrics.set_aside.inc(count - tally.set_aside[category], reason=category)
                tally.set_aside[category] = count
        for status, count in report.errors.items():
            if count > tally.errors[status]:
                metrics.forwarding_errors.inc(count - tally.errors[status], kind=status)
                tally.errors[status] = count
        if report.last_error:
            self.last_error = report.last_error
