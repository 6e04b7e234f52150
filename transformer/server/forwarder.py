"""The forwarder: a background thread that drains the store into Amplitude.

Each round starts from the oldest pending row and hands rows, read page by page, to a
`Sender` (same batching, retry, throttle and set-aside rules as `transformer send`, with
no deadline: during an outage it keeps retrying while the store fills). Accepted rows are
deleted, set-aside rows move to the dead letters, both through the `Committer`. A round ends
when the store has nothing newer; before the next one the committer is flushed, so a round never
re-reads a row that an earlier one settled. After a crash or `kill -9`, rows that were sent but
not yet deleted are simply sent again: their `insert_id` is unchanged and Amplitude drops the copy.

The one rule that differs from `send`: when Amplitude refuses every request (invalid API key,
403, 404), `send` gives up and dead-letters everything; a long-running receiver instead leaves
the events pending, reports `forwarding_blocked`, and tries again after `blocked_pause`, so that
fixing the key and restarting is all it takes.

No one event can stall the others: a stored row that cannot be decoded is set aside here, and
one the sender cannot check or encode is set aside by the sender, each with the reason.
`last_progress` (monotonic) is when an event was last settled (delivered or set aside), for
the readiness check.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from ..destinations import Destination, Outgoing, Sender, SendReport
from .committer import ClosedError, Committer
from .logs import log
from .metrics import ReceiverMetrics
from .queue.sqlite import Delete, SetAside, Store

__all__ = ["Forwarder"]

_logger = logging.getLogger("transformer.server.forwarder")


class _Tally:
    """How much of one round's report has been counted in the metrics already."""

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.set_aside: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()


class Forwarder:
    """Drains `store` into Amplitude in a thread; see the module docstring.

    `page` rows are read at a time; after a round that sent less than one full batch it waits
    `linger` seconds, so that requests carry many events instead of one each; with nothing
    pending it wakes on `wake()` (called by the committer) or every `idle` seconds (rows
    requeued by `transformer dead-letters resend` from another process).
    """

    def __init__(self, store: Store, committer: Committer, destination: Destination,
                 metrics: ReceiverMetrics, *, page: int = 1000, linger: float = 0.2, idle: float = 1.0,
                 blocked_pause: float = 60.0, **sender_options: Any) -> None:
        self.store = store
        self.committer = committer
        self.metrics = metrics
        self.page = page
        self.linger = linger
        self.idle = idle
        self.blocked_pause = blocked_pause
        self.sender = Sender(
            destination, deadline=math.inf, dead_letters=self, on_accepted=self._accepted,
            on_progress=self._progress, keep_unsent_on_fatal=True, **sender_options)
        self.blocked = False
        self.last_progress = time.monotonic()
        self.last_error = ""
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
            except Exception as exc:  # a store or sender bug must not end forwarding
                _logger.exception("forwarding_failed", extra={"fields": {"error": str(exc)}})
                self.metrics.forwarding_errors.inc(kind="internal")
                self.last_error = f"forwarding failed: {exc}"
                self._stopping.wait(self.blocked_pause)

    def _round(self) -> bool:
        """One pass over the pending rows; False when stopping."""
        self._wake.clear()
        self.committer.flush()
        if not self.store.has_pending():
            self._wake.wait(self.idle)
            return not self._stopping.is_set()
        self._tally = _Tally()
        report = self.sender.send(self._source())
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

    def _source(self) -> Iterator[Outgoing]:
        """Pending rows, oldest first, read a page at a time until none is newer."""
        cursor = 0
        while not self._stopping.is_set():
            rows = self.store.fetch(after=cursor, limit=self.page)
            if not rows:
                return
            for row in rows:
                if self._stopping.is_set():
                    return
                cursor = row.id
                try:
                    event = orjson.loads(row.event)
                except Exception as exc:  # noqa: BLE001 - a row damaged on disk fails alone
                    self._set_aside(row.id, row.event_id, f"cannot be decoded: {exc}")
                    self.metrics.set_aside.inc(reason="cannot be decoded")
                    continue
                yield Outgoing(event, row.event_id, row.id)

    # sender callbacks (on this thread) -----------------------------------------------------

    def _accepted(self, accepted: list[Outgoing]) -> None:
        self.committer.post(Delete([item.ref for item in accepted]))
        self.metrics.delivered.inc(len(accepted))
        self.last_progress = time.monotonic()

    def _set_aside(self, ref: int, event_id: str | None, reason: str, attempts: int = 0,
                   status: int | None = None) -> None:
        self.committer.post(SetAside(ref, "set_aside", reason, attempts, status))
        self.last_progress = time.monotonic()
        log(_logger, "warning", "event_set_aside", event_id=event_id, reason=reason)

    def write(self, *, reason: str, kind: str, event_id: str | None, event: Any = None,
              payload: Any = None, attempts: int = 0, status: int | None = None,
              ref: Any = None) -> None:
        """The sender's dead-letter sink: set-aside rows move to the dead letters. Nothing else
        arrives here: with no deadline and `keep_unsent_on_fatal`, undelivered rows stay pending."""
        if kind == "set_aside" and ref is not None:
            self._set_aside(ref, event_id, reason, attempts, status)

    def _progress(self, report: SendReport) -> None:
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
