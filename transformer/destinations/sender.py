"""Deliver events to any `Destination` without losing any.

Every event ends accepted by the destination, or in the dead letters with the reason: set aside
deliberately (the destination would refuse it, or did), or undelivered (the deadline passed, the
destination refused every request, the run was interrupted). Events keep their ids, so a
destination that deduplicates (Amplitude's `insert_id`) makes every retry safe.

One `httpx.Client` (connections reused) is shared by a few worker threads; a single scheduling
loop forms batches (by count and by bytes of the actual request body) and reads responses.
Events sharing an ordering key go out in their input order: an event waits while an earlier one
with a key of its own is in flight, waiting to be retried, or paused by a throttle. What a
response means is the destination's call (`classify` → `Verdict`); what to do about it is the
same for every destination, here: resend, back off, pause keys, halve the batch to isolate bad
events, set events aside, or stop.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import httpx

from ..scrub import Scrubber
from .base import Destination, Key, Response, RetryPolicy, UnencodableError, Verdict, VerdictKind
from .dead_letters import DeadLetterSink, DeadLetterWriter
from .report import Outgoing, Prepared, SendInterrupted, SendReport

__all__ = ["SET_ASIDE", "UNDELIVERED", "Sender"]

SET_ASIDE = "set_aside"
UNDELIVERED = "undelivered"


class _Item:
    __slots__ = ("admitted", "attempts", "body", "event", "keys", "last_error", "limit", "not_before",
                 "picked", "ref", "seq", "source_id", "status")

    def __init__(self, seq: int, event: Any, source_id: str | None, ref: Any, body: bytes,
                 keys: tuple[Key, ...], now: float) -> None:
        self.seq = seq
        self.event = event
        self.source_id = source_id
        self.ref = ref
        self.body = body
        self.keys = keys
        self.admitted = now
        self.attempts = 0
        self.not_before = 0.0
        self.limit = 1 << 30
        self.picked = False
        self.last_error = ""
        self.status: int | None = None


def _seq(item: _Item) -> int:
    return item.seq


class Sender:
    """Sends events to `destination`; see the module docstring.

    `deadline` (seconds from when an event is taken in; `math.inf` for never) bounds retries;
    `throttle_pause` is how long a key named in a 429 is paused, `quota_pause` the same for one
    over its quota; `backoff_base` and `backoff_max` shape the waits between retries (see
    `RetryPolicy`, the `retry` attribute). `max_events` and `max_bytes` may lower the
    destination's limits per request. `dead_letters` is a file path or a `DeadLetterSink`;
    without one, dead letters are kept in the report. `on_accepted` is called with the
    `Outgoing`s the destination accepted, after each response. `stop()` (from any thread) makes
    `send` return soon, leaving what is not settled yet to the caller. When the destination
    refuses every request (a fatal verdict: an invalid key, a wrong URL), `send` stops and
    dead-letters everything not accepted, the rest of `events` included; with
    `keep_unsent_on_fatal` it leaves them unread and unsettled instead, for a caller that keeps
    its own queue. `pauses` holds the keys a 429 paused, until when (by `clock`): give a dict to
    share it. `transport` replaces the network (tests use `httpx.MockTransport`).

    A destination that also has `decode_event(body)` (the inverse of `encode_event`) lets the
    sender keep waiting events as their encoded bodies only, decoding one again for a dead
    letter; without it (or with `on_accepted`, which is given the events) the events are kept.
    Such a destination may also be given `Prepared` events, checked and encoded already (by
    `transformer send --workers` in its worker processes): only their size is checked here.
    """

    def __init__(self, destination: Destination, *,
                 dead_letters: str | Path | DeadLetterSink | None = None, concurrency: int = 4,
                 deadline: float = 600.0, throttle_pause: float = 30.0, quota_pause: float = 3600.0,
                 timeout: float = 10.0, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_events: int | None = None, max_bytes: int | None = None,
                 transport: httpx.BaseTransport | None = None,
                 on_progress: Callable[[SendReport], None] | None = None,
                 on_accepted: Callable[[list[Outgoing]], None] | None = None,
                 keep_unsent_on_fatal: bool = False, pauses: dict[Key, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.destination = destination
        limits = destination.limits
        self.max_events = min(max_events or limits.max_events, limits.max_events)
        self.max_bytes = min(max_bytes or limits.max_bytes, limits.max_bytes)
        self.retry = RetryPolicy(backoff_base=backoff_base, backoff_max=backoff_max, deadline=deadline,
                                 throttle_pause=throttle_pause, quota_pause=quota_pause)
        self.scrub = Scrubber(destination.secrets)
        self._scrub_reason = functools.lru_cache(maxsize=256)(self.scrub)
        framing = destination.framing
        self._fixed, self._separator = framing.fixed, len(framing.separator)
        # Events waiting or in flight are kept as their encoded bodies only, when the
        # destination can decode one again (for a dead letter) and no `on_accepted` wants them:
        # fewer live objects for the garbage collector to walk, and less memory.
        self._decode_event: Callable[[bytes], Any] | None = getattr(destination, "decode_event", None)
        self._decode = self._decode_event if on_accepted is None else None
        self.concurrency = max(1, concurrency)
        self.keep_unsent_on_fatal = keep_unsent_on_fatal
        self.on_progress = on_progress
        self.on_accepted = on_accepted
        self.clock = clock
        self._stop = threading.Event()
        self._interrupted = False
        self._owns_writer = isinstance(dead_letters, (str, Path))
        self.writer: DeadLetterSink | None = (
            DeadLetterWriter(dead_letters) if isinstance(dead_letters, (str, Path)) else dead_letters)
        self.client = httpx.Client(transport=transport, timeout=timeout,
                                   limits=httpx.Limits(max_connections=self.concurrency,
                                                       max_keepalive_connections=self.concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"{destination.name}-send")
        self._random = random.Random()
        self._seq = 0
        self._paused: dict[Key, float] = {} if pauses is None else pauses
        self._warned = False
        self._answered = False  # whether any request has had a response

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.destination.url!r})"

    @property
    def url(self) -> str:
        """Where the requests go."""
        return self.destination.url

    # lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close connections, worker threads and the dead-letter file."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if isinstance(self.writer, DeadLetterWriter) and self._owns_writer:
            self.writer.close()

    def stop(self) -> None:
        """Ask a running `send` to return soon (thread-safe); it leaves unsettled events alone."""
        self._stop.set()

    def interrupt(self) -> None:
        """Stop a running (or the next) `send` as Ctrl-C does, at the top of its loop: requests
        in flight are answered, every event not accepted goes to the dead letters (those not
        read yet included), and `send` raises `SendInterrupted`. Only sets a flag, so a signal
        handler may call it."""
        self._interrupted = True

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # sending -----------------------------------------------------------------------------

    def send(self, events: Iterable[dict[str, Any] | Outgoing | Prepared]) -> SendReport:
        """Deliver `events` (read lazily); returns when each is accepted or dead-lettered.

        Raises `SendInterrupted` on Ctrl-C, after writing every unsent event to the dead letters.
        """
        report = SendReport(host=self.destination.host)
        run = _Run(iter(events))
        try:
            self._loop(run, report)
        except KeyboardInterrupt:
            report.interrupted = True
            self._abandon(run, report, "interrupted",
                          f"stopped before {self.destination.title} accepted it",
                          wait_inflight=self._interrupted)
            raise SendInterrupted(report) from None
        if report.fatal is not None and not self.keep_unsent_on_fatal:
            self._abandon(run, report, "not sent", report.fatal, wait_inflight=True)
        warning = self.destination.warning()
        if warning and not self._warned:
            self._warned = True
            report.warnings.append(warning)
        return report

    def _loop(self, run: _Run, report: SendReport) -> None:
        high_water = 2 * self.concurrency * self.max_events
        while True:
            if self._interrupted:
                raise KeyboardInterrupt  # here, where nothing is half done
            if self._stop.is_set():
                report.stopped = True
                return
            now = self.clock()
            if not run.exhausted and len(run.pending) < high_water and report.fatal is None:
                self._admit(run, report, now, high_water)
            self._expire(run, report, now)
            wake = math.inf
            while report.fatal is None and len(run.inflight) < self.concurrency:
                batch, wake = self._form_batch(run, now)
                if not batch:
                    break
                self._submit(run, batch, report)
            if run.picked:
                run.pending = [item for item in run.pending if not item.picked]
                run.picked = False
            if not run.inflight:
                if report.fatal is not None or (run.exhausted and not run.pending):
                    return
                if wake is not math.inf:
                    self._stop.wait(max(0.0, min(wake - self.clock(), 1.0)))
                continue
            timeout = 1.0 if wake is math.inf else max(0.0, min(wake - self.clock(), 1.0))
            done, _ = wait(run.inflight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                batch = run.inflight.pop(future)
                self._settle(run, batch, future, report)
            if self.on_progress is not None:
                self.on_progress(report)

    def _admit(self, run: _Run, report: SendReport, now: float, high_water: int) -> None:
        """Take events in until `high_water` are pending or the input ends."""
        destination = self.destination
        preflight, keys_of, encode_event = destination.preflight, destination.keys, destination.encode_event
        room = self.max_bytes - self._fixed
        pending, source, unpack = run.pending, run.source, self._unpack
        seq, decode, decode_event = self._seq, self._decode, self._decode_event
        try:
            while len(pending) < high_water and not self._interrupted:
                try:
                    given = next(source)
                except StopIteration:
                    run.exhausted = True
                    return
                if type(given) is Prepared and decode_event is not None:   # checked and encoded already
                    report.events += 1
                    body = given.body
                    kept = None if decode is not None else decode_event(body)   # for on_accepted
                    if len(body) > room:
                        self._too_large(report, decode_event(body), given.source_id, len(body), given.ref)
                        continue
                    seq += 1
                    pending.append(_Item(seq, kept, given.source_id, given.ref, body, given.keys, now))
                    continue
                event, source_id, ref = unpack(given)
                report.events += 1
                # whatever one event does, it is set aside alone, with the reason; the others flow on
                try:
                    problem = preflight(event)
                    keys = keys_of(event) if problem is None else ()
                except Exception as exc:  # noqa: BLE001 - e.g. an event that is not an object
                    problem = ("cannot be checked", f"{type(exc).__name__}: {exc}")
                if problem is None:
                    try:
                        body = encode_event(event)
                    except UnencodableError as exc:  # nested beyond 255 levels, an integer beyond 64 bits, …
                        problem = (exc.category, exc.detail)
                if problem is not None:
                    self._dead(report, event, source_id, SET_ASIDE, *problem, ref=ref)
                    continue
                if len(body) > room:
                    self._too_large(report, event, source_id, len(body), ref)
                    continue
                seq += 1
                pending.append(_Item(seq, event if decode is None else None, source_id, ref, body, keys, now))
        finally:
            self._seq = seq

    def _too_large(self, report: SendReport, event: Any, source_id: str | None, size: int, ref: Any) -> None:
        self._dead(report, event, source_id, SET_ASIDE, "event too large",
                   f"{size:,} bytes; a request to {self.destination.url} may carry at most "
                   f"{self.max_bytes:,}", ref=ref)

    def _unpack(self, given: dict[str, Any] | Outgoing | Prepared) -> tuple[dict[str, Any], str | None, Any]:
        if isinstance(given, Outgoing):
            return given.event, given.source_id, given.ref
        if isinstance(given, Prepared):   # a destination without decode_event, or unsent at the end
            if self._decode_event is None:
                raise TypeError(f"{self.destination.name} has no decode_event: it cannot take Prepared")
            return self._decode_event(given.body), given.source_id, given.ref
        return given, None, None

    def _expire(self, run: _Run, report: SendReport, now: float) -> None:
        deadline = self.retry.deadline
        cutoff = now - deadline
        while run.pending and run.pending[0].admitted < cutoff and not run.pending[0].picked:
            item = run.pending.pop(0)
            last = f"; last error: {item.last_error}" if item.last_error else ""
            self._dead(report, self._event(item), item.source_id, UNDELIVERED, "deadline passed",
                       f"not accepted within {deadline:g} s{last}", item.attempts, item.status,
                       ref=item.ref)

    def _form_batch(self, run: _Run, now: float) -> tuple[list[_Item], float]:
        """The next batch: the earliest ready events that fit, in input order per key."""
        blocked = set(run.busy)
        paused = self._paused
        batch: list[_Item] = []
        size = self._fixed
        separator = self._separator
        max_bytes = self.max_bytes
        limit = self.max_events
        wake = math.inf
        for item in run.pending:
            if item.picked:
                continue
            keys = item.keys
            if not blocked.isdisjoint(keys):
                blocked.update(keys)
                continue
            ready_at = item.not_before
            if paused:
                for k in keys:
                    ready_at = max(ready_at, paused.get(k, 0.0))
            if ready_at > now:
                blocked.update(keys)
                wake = min(wake, ready_at)
                continue
            if item.limit < limit:
                limit = item.limit
            added = size + len(item.body) + separator
            if len(batch) >= limit or added > max_bytes:
                break
            batch.append(item)
            size = added
            item.picked = True
        if batch:
            run.picked = True
        return batch, wake

    def _submit(self, run: _Run, batch: list[_Item], report: SendReport) -> None:
        resent = 0
        for item in batch:
            run.busy.update(item.keys)
            if item.attempts:
                resent += 1
            item.attempts += 1
        report.requests += 1
        report.resent += resent
        report.retries += 1 if resent else 0
        run.inflight[self._pool.submit(self._post, [item.body for item in batch])] = batch

    def _post(self, bodies: Sequence[bytes]) -> Response:
        """On a worker thread: encode the request (compression included) and send it."""
        request = self.destination.encode(bodies)
        response = self.client.request(request.method, request.url, content=request.body,
                                       headers=request.headers)
        return Response(response.status_code, response.headers, response.content)

    # responses ---------------------------------------------------------------------------

    def _settle(self, run: _Run, batch: list[_Item], future: Future[Response], report: SendReport) -> None:
        for item in batch:
            for k in item.keys:
                run.busy.discard(k)
        try:
            response = future.result()
        except httpx.HTTPError as exc:
            verdict = self.destination.classify_error(exc)
            refused = isinstance(exc, httpx.ConnectError) and not self._answered
        else:
            self._answered, refused = True, False
            verdict = self.destination.classify(response, len(batch))
        verdict.message = self.scrub(verdict.message)  # never repeat a secret, even in pieces
        if verdict.kind != VerdictKind.ACCEPTED:
            report.errors[str(verdict.status) if verdict.status is not None else "network"] += 1
            report.last_error = verdict.message
        if refused:
            report.unreachable = report.unreachable or f"{self.destination.url}: {verdict.message}"
        if verdict.kind in (VerdictKind.RETRY, VerdictKind.THROTTLED):
            report.retrying = verdict.message
        elif verdict.kind == VerdictKind.ACCEPTED:
            report.retrying = None
        now = self.clock()
        for item in batch:
            item.picked = False
            item.last_error = verdict.message
            item.status = verdict.status
        self._handlers[verdict.kind](self, run, batch, verdict, report, now)

    def _on_accepted(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                     now: float) -> None:
        report.accepted += len(batch)
        if self.on_accepted is not None:
            # with on_accepted the events are kept (see __init__): no decoding
            self.on_accepted([Outgoing(item.event, item.source_id, item.ref) for item in batch])

    def _on_set_aside(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                      now: float) -> None:
        for i, item in enumerate(batch):
            reason = verdict.rejected.get(i)
            if reason is not None:
                self._dead(report, self._event(item), item.source_id, SET_ASIDE, reason,
                           verdict.message, item.attempts, verdict.status, ref=item.ref)
            else:
                self._requeue(run, item)

    def _on_split(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        if len(batch) == 1:
            (item,) = batch
            self._dead(report, self._event(item), item.source_id, SET_ASIDE,
                       f"refused by {self.destination.title}", verdict.message, item.attempts,
                       verdict.status, ref=item.ref)
            return
        half = (len(batch) + 1) // 2
        for item in batch:
            item.limit = min(item.limit, half)
            self._requeue(run, item)

    def _on_throttled(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                      now: float) -> None:
        if not verdict.throttled and not verdict.over_quota:
            self._on_retry(run, batch, verdict, report, now)
            return
        pause = self.retry.pause(verdict.retry_after)
        for key in verdict.throttled:
            self._paused[key] = now + pause
        for key in verdict.over_quota:
            self._paused[key] = now + self.retry.quota_pause
        for item in batch:
            if verdict.over_quota.intersection(item.keys):
                item.last_error = verdict.quota_message or verdict.message
            self._requeue(run, item)

    def _on_retry(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        attempts = max(item.attempts for item in batch)
        delay = self.retry.backoff(attempts, verdict.retry_after, self._random)
        for item in batch:
            item.not_before = now + delay
            self._requeue(run, item)

    def _on_fatal(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        report.fatal = f"{verdict.message} from {self.destination.host}{verdict.hint}"
        for item in batch:
            self._requeue(run, item)

    _handlers: ClassVar[dict[VerdictKind, Callable[..., None]]] = {
        VerdictKind.ACCEPTED: _on_accepted, VerdictKind.SET_ASIDE: _on_set_aside,
        VerdictKind.SPLIT: _on_split, VerdictKind.THROTTLED: _on_throttled,
        VerdictKind.RETRY: _on_retry, VerdictKind.FATAL: _on_fatal,
    }

    # keeping nothing back ----------------------------------------------------------------

    def _event(self, item: _Item) -> Any:
        """The event an item carries (decoded from its body when only that was kept)."""
        return item.event if self._decode is None else self._decode(item.body)

    def _requeue(self, run: _Run, item: _Item) -> None:
        bisect.insort(run.pending, item, key=_seq)

    def _dead(self, report: SendReport, event: Any, source_id: str | None, kind: str, category: str,
              detail: str = "", attempts: int = 0, status: int | None = None, *, ref: Any = None) -> None:
        """Count an event under its category and keep it, with the full reason, as a dead letter."""
        (report.set_aside if kind == SET_ASIDE else report.undelivered)[category] += 1
        reason = self._scrub_reason(f"{category}: {detail}" if detail else category)
        if self.writer is not None:
            self.writer.write(reason=reason, kind=kind, event_id=source_id, event=event,
                              attempts=attempts, status=status, ref=ref)
        else:
            report.dead_letters.append({"dead_letter": {"reason": reason, "kind": kind},
                                        "event_id": source_id, "event": event})

    def _abandon(self, run: _Run, report: SendReport, category: str, detail: str, *,
                 wait_inflight: bool) -> None:
        """Dead-letter everything not accepted: in flight, pending, and not yet read."""
        if wait_inflight and run.inflight:
            done, _ = wait(run.inflight)
            for future in done:
                self._settle(run, run.inflight.pop(future), future, report)
        for batch in run.inflight.values():
            for item in batch:
                self._dead(report, self._event(item), item.source_id, UNDELIVERED, category, detail,
                           item.attempts, ref=item.ref)
        run.inflight.clear()
        for item in run.pending:
            self._dead(report, self._event(item), item.source_id, UNDELIVERED, category, detail,
                       item.attempts, item.status, ref=item.ref)
        run.pending = []
        for given in run.source:
            event, source_id, ref = self._unpack(given)
            report.events += 1
            self._dead(report, event, source_id, UNDELIVERED, category, detail, ref=ref)
        run.exhausted = True


class _Run:
    """The state of one `send` call."""

    def __init__(self, source: Iterator[dict[str, Any] | Outgoing | Prepared]) -> None:
        self.source = source
        self.exhausted = False
        self.pending: list[_Item] = []
        self.picked = False
        self.inflight: dict[Future[Response], list[_Item]] = {}
        self.busy: set[Key] = set()
