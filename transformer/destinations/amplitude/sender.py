"""Deliver events to Amplitude without losing any.

Every event ends accepted by Amplitude, or in the dead letters with the reason: set aside
deliberately (Amplitude would refuse it, or did), or undelivered (the deadline passed, the key is
invalid, the run was interrupted). `insert_id` never changes, so Amplitude's dedupe makes every
retry safe.

One `httpx.Client` (connections reused) is shared by a few worker threads; a single scheduling
loop forms batches and reads responses. Events of one user or device go out in their input
order: an event waits while an earlier one of the same user or device is in flight, waiting to
be retried, or paused by a 429.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson

from ...data import data_file
from ...scrub import Scrubber
from ..dead_letters import DeadLetterSink, DeadLetterWriter
from .classify import Verdict, classify, classify_failure
from .endpoint import Endpoint, endpoint_from_settings
from .preflight import Preflight

__all__ = ["AmplitudeSender", "Outgoing", "SendInterrupted", "SendReport"]

SET_ASIDE = "set_aside"
UNDELIVERED = "undelivered"


@dataclass(slots=True)
class Outgoing:
    """An event to send, with the id of the payload it came from (kept in dead letters) and an
    optional `ref` of the caller's own (a store's row id), handed back in callbacks."""

    event: dict[str, Any]
    source_id: str | None = None
    ref: Any = None


@dataclass(slots=True)
class SendReport:
    """What became of the events given to `send`: `retries` counts requests that carried
    events sent before, `resent` those events; `errors` counts the requests that were not
    accepted, by status (`"503"`, `"429"`, …) or `"network"`, and `last_error` says the latest."""

    host: str = ""
    events: int = 0
    accepted: int = 0
    set_aside: Counter[str] = field(default_factory=Counter)
    undelivered: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    resent: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    fatal: str | None = None
    unreachable: str | None = None  # set when connections fail before anything ever answered
    retrying: str | None = None     # why the last failed request is being retried; None after a success
    interrupted: bool = False
    stopped: bool = False
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every event was accepted or deliberately set aside."""
        return (not self.undelivered and self.fatal is None and not self.interrupted
                and not self.stopped)

    @property
    def pending(self) -> int:
        """Events neither accepted nor set aside nor undelivered (0 once `send` returns)."""
        return (self.events - self.accepted - sum(self.set_aside.values())
                - sum(self.undelivered.values()))


class SendInterrupted(KeyboardInterrupt):
    """Ctrl-C during `send`: every unsent event is in the dead letters; `report` says so."""

    def __init__(self, report: SendReport) -> None:
        super().__init__("interrupted")
        self.report = report


class _Item:
    __slots__ = ("admitted", "attempts", "body", "event", "keys", "last_error", "limit", "not_before",
                 "picked", "ref", "seq", "source_id", "status")

    def __init__(self, seq: int, event: dict[str, Any], source_id: str | None, ref: Any, body: bytes,
                 now: float) -> None:
        self.seq = seq
        self.event = event
        self.source_id = source_id
        self.ref = ref
        self.body = body
        keys: list[tuple[str, str]] = []
        if (user := event.get("user_id")) is not None:
            keys.append(("u", user))
        if (device := event.get("device_id")) is not None:
            keys.append(("d", device))
        self.keys = tuple(keys)
        self.admitted = now
        self.attempts = 0
        self.not_before = 0.0
        self.limit = 1 << 30
        self.picked = False
        self.last_error = ""
        self.status: int | None = None


def _seq(item: _Item) -> int:
    return item.seq


class AmplitudeSender:
    """Sends events to Amplitude's Batch or HTTP V2 API; see the module docstring.

    `deadline` (seconds from when an event is taken in; `math.inf` for never) bounds retries;
    `throttle_pause` is how long a user or device named in a 429 is paused, `quota_pause` the same
    for one over its daily quota. `dead_letters` is a file path or a `DeadLetterSink`; without
    one, dead letters are kept in the report. `on_accepted` is called with the `Outgoing`s
    Amplitude accepted, after each response. `stop()` (from any thread) makes `send` return soon,
    leaving what is not settled yet to the caller. When Amplitude refuses every request (invalid
    key, other 4xx), `send` stops and dead-letters everything not accepted, the rest of `events`
    included; with `keep_unsent_on_fatal` it leaves them unread and unsettled instead, for a
    caller that keeps its own queue. `pauses` holds the users ("u", id) and devices ("d", id) a 429
    paused, until when (by `clock`): give a dict to share it. `transport` replaces the network (tests use
    `httpx.MockTransport`).
    """

    def __init__(self, api_key: str, *, eu_residency: bool = False, api: str = "batch",
                 endpoint: str | None = None, min_id_length: int | None = None,
                 dead_letters: str | Path | DeadLetterSink | None = None, concurrency: int = 4,
                 deadline: float = 600.0, throttle_pause: float = 30.0, quota_pause: float = 3600.0,
                 timeout: float = 10.0, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_events: int | None = None, max_bytes: int | None = None,
                 transport: httpx.BaseTransport | None = None, schema_path: Path | None = None,
                 on_progress: Callable[[SendReport], None] | None = None,
                 on_accepted: Callable[[list[Outgoing]], None] | None = None,
                 keep_unsent_on_fatal: bool = False, pauses: dict[tuple[str, str], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not api_key:
            raise ValueError("an Amplitude API key is needed (setting api_key, or AMPLITUDE_API_KEY)")
        self.endpoint: Endpoint = endpoint_from_settings(
            {"api": api, "eu_residency": eu_residency, "endpoint": endpoint})
        self.max_events = min(max_events or self.endpoint.max_events, self.endpoint.max_events)
        self.max_bytes = min(max_bytes or self.endpoint.max_bytes, self.endpoint.max_bytes)
        self.preflight = Preflight(schema_path or data_file("schemas", "amplitude-event.schema.json"),
                                   min_id_length)
        options = b"" if min_id_length is None else b',"options":' + orjson.dumps(
            {"min_id_length": min_id_length})
        self._head = b'{"api_key":' + orjson.dumps(api_key) + b',"events":['
        self.scrub = Scrubber([api_key])
        self._scrub_reason = functools.lru_cache(maxsize=256)(self.scrub)
        self._tail = b"]" + options + b"}"
        self.concurrency = max(1, concurrency)
        self.deadline = deadline
        self.keep_unsent_on_fatal = keep_unsent_on_fatal
        self.throttle_pause = throttle_pause
        self.quota_pause = quota_pause
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_progress = on_progress
        self.on_accepted = on_accepted
        self.clock = clock
        self._stop = threading.Event()
        self._interrupted = False
        self._owns_writer = isinstance(dead_letters, (str, Path))
        self.writer: DeadLetterSink | None = (
            DeadLetterWriter(dead_letters) if isinstance(dead_letters, (str, Path)) else dead_letters)
        self.client = httpx.Client(transport=transport, timeout=timeout,
                                   headers={"Content-Type": "application/json"},
                                   limits=httpx.Limits(max_connections=self.concurrency,
                                                       max_keepalive_connections=self.concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="amplitude-send")
        self._seq = 0
        self._paused: dict[tuple[str, str], float] = {} if pauses is None else pauses
        self._warned = False
        self._answered = False  # whether any request has had a response

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **options: Any) -> AmplitudeSender:
        """A sender configured by a mapping's settings (api_key, eu_residency, api, endpoint,
        min_id_length); `options` are passed on."""
        return cls(settings.get("api_key") or "", eu_residency=bool(settings.get("eu_residency")),
                   api=settings.get("api") or "batch", endpoint=settings.get("endpoint"),
                   min_id_length=settings.get("min_id_length"), **options)

    def __repr__(self) -> str:
        return f"AmplitudeSender({self.endpoint.url!r})"

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

    def __enter__(self) -> AmplitudeSender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # sending -----------------------------------------------------------------------------

    def send(self, events: Iterable[dict[str, Any] | Outgoing]) -> SendReport:
        """Deliver `events` (read lazily); returns when each is accepted or dead-lettered.

        Raises `SendInterrupted` on Ctrl-C, after writing every unsent event to the dead letters.
        """
        report = SendReport(host=self.endpoint.host)
        run = _Run(iter(events))
        try:
            self._loop(run, report)
        except KeyboardInterrupt:
            report.interrupted = True
            self._abandon(run, report, "interrupted", "stopped before Amplitude accepted it",
                          wait_inflight=self._interrupted)
            raise SendInterrupted(report) from None
        if report.fatal is not None and not self.keep_unsent_on_fatal:
            self._abandon(run, report, "not sent", report.fatal, wait_inflight=True)
        warning = self.preflight.warning()
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
            while not run.exhausted and len(run.pending) < high_water and report.fatal is None \
                    and not self._interrupted:
                self._admit(run, report, now)
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

    def _admit(self, run: _Run, report: SendReport, now: float) -> None:
        try:
            given = next(run.source)
        except StopIteration:
            run.exhausted = True
            return
        event, source_id, ref = _unpack(given)
        report.events += 1
        # whatever one event does, it is set aside alone, with the reason; the others flow on
        try:
            problem = self.preflight.reason(event)
        except Exception as exc:  # noqa: BLE001 - e.g. an event that is not an object
            problem = ("cannot be checked", f"{type(exc).__name__}: {exc}")
        if problem is None:
            try:
                body = orjson.dumps(event)
            except TypeError as exc:  # nested beyond 255 levels, an integer beyond 64 bits, …
                problem = ("cannot be encoded as JSON", str(exc))
        if problem is not None:
            self._dead(report, event, source_id, SET_ASIDE, *problem, ref=ref)
            return
        if len(self._head) + len(body) + len(self._tail) > self.max_bytes:
            self._dead(report, event, source_id, SET_ASIDE, "event too large",
                       f"{len(body):,} bytes; a request to {self.endpoint.url} may carry "
                       f"at most {self.max_bytes:,}", ref=ref)
            return
        self._seq += 1
        run.pending.append(_Item(self._seq, event, source_id, ref, body, now))

    def _expire(self, run: _Run, report: SendReport, now: float) -> None:
        cutoff = now - self.deadline
        while run.pending and run.pending[0].admitted < cutoff and not run.pending[0].picked:
            item = run.pending.pop(0)
            last = f"; last error: {item.last_error}" if item.last_error else ""
            self._dead(report, item.event, item.source_id, UNDELIVERED, "deadline passed",
                       f"not accepted within {self.deadline:g} s{last}", item.attempts, item.status,
                       ref=item.ref)

    def _form_batch(self, run: _Run, now: float) -> tuple[list[_Item], float]:
        """The next batch: the earliest ready events that fit, in input order per user."""
        blocked = set(run.busy)
        paused = self._paused
        batch: list[_Item] = []
        size = len(self._head) + len(self._tail)
        limit = self.max_events
        wake = math.inf
        for item in run.pending:
            if item.picked:
                continue
            keys = item.keys
            if any(k in blocked for k in keys):
                blocked.update(keys)
                continue
            ready_at = item.not_before
            for k in keys:
                ready_at = max(ready_at, paused.get(k, 0.0))
            if ready_at > now:
                blocked.update(keys)
                wake = min(wake, ready_at)
                continue
            fits = min(limit, item.limit)
            if len(batch) + 1 > fits or size + len(item.body) + 1 > self.max_bytes:
                break
            limit = fits
            batch.append(item)
            size += len(item.body) + 1
            item.picked = True
        if batch:
            run.picked = True
        return batch, wake

    def _submit(self, run: _Run, batch: list[_Item], report: SendReport) -> None:
        body = self._head + b",".join(item.body for item in batch) + self._tail
        resent = 0
        for item in batch:
            run.busy.update(item.keys)
            if item.attempts:
                resent += 1
            item.attempts += 1
        report.requests += 1
        report.resent += resent
        report.retries += 1 if resent else 0
        run.inflight[self._pool.submit(self._post, body)] = batch

    def _post(self, body: bytes) -> tuple[int, bytes, httpx.Headers]:
        response = self.client.post(self.endpoint.url, content=body)
        return response.status_code, response.content, response.headers

    # responses ---------------------------------------------------------------------------

    def _settle(self, run: _Run, batch: list[_Item], future: Future[tuple[int, bytes, httpx.Headers]],
                report: SendReport) -> None:
        for item in batch:
            for k in item.keys:
                run.busy.discard(k)
        try:
            status, content, headers = future.result()
        except httpx.HTTPError as exc:
            verdict = classify_failure(exc)
            refused = isinstance(exc, httpx.ConnectError) and not self._answered
        else:
            self._answered, refused = True, False
            verdict = classify(status, content, headers, len(batch))
        verdict.message = self.scrub(verdict.message)  # never repeat the key, even in pieces
        if verdict.kind != "accepted":
            report.errors[str(verdict.status) if verdict.status is not None else "network"] += 1
            report.last_error = verdict.message
        if refused:
            report.unreachable = report.unreachable or f"{self.endpoint.url}: {verdict.message}"
        if verdict.kind in ("retry", "throttled"):
            report.retrying = verdict.message
        elif verdict.kind == "accepted":
            report.retrying = None
        now = self.clock()
        for item in batch:
            item.picked = False
            item.last_error = verdict.message
            item.status = verdict.status
        handler = getattr(self, f"_on_{verdict.kind}")
        handler(run, batch, verdict, report, now)

    def _on_accepted(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                     now: float) -> None:
        report.accepted += len(batch)
        if self.on_accepted is not None:
            self.on_accepted([Outgoing(item.event, item.source_id, item.ref) for item in batch])

    def _on_reject_some(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                        now: float) -> None:
        for i, item in enumerate(batch):
            reason = verdict.rejected.get(i)
            if reason is not None:
                self._dead(report, item.event, item.source_id, SET_ASIDE, reason,
                           verdict.message, item.attempts, 400, ref=item.ref)
            else:
                self._requeue(run, item, now)

    def _on_split(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        if len(batch) == 1:
            (item,) = batch
            self._dead(report, item.event, item.source_id, SET_ASIDE, "refused by Amplitude",
                       verdict.message, item.attempts, verdict.status, ref=item.ref)
            return
        half = (len(batch) + 1) // 2
        for item in batch:
            item.limit = min(item.limit, half)
            self._requeue(run, item, now)

    def _on_throttled(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                      now: float) -> None:
        named = verdict.throttled_users | verdict.throttled_devices | verdict.quota_users | \
            verdict.quota_devices
        if not named:
            self._on_retry(run, batch, verdict, report, now)
            return
        pause = max(self.throttle_pause, verdict.retry_after or 0.0)
        for user in verdict.throttled_users:
            self._paused[("u", user)] = now + pause
        for device in verdict.throttled_devices:
            self._paused[("d", device)] = now + pause
        for user in verdict.quota_users:
            self._paused[("u", user)] = now + self.quota_pause
        for device in verdict.quota_devices:
            self._paused[("d", device)] = now + self.quota_pause
        quota = {("u", u) for u in verdict.quota_users} | {("d", d) for d in verdict.quota_devices}
        for item in batch:
            if quota.intersection(item.keys):
                item.last_error = "429: over Amplitude's daily quota for this user or device"
            self._requeue(run, item, now)

    def _on_retry(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        attempts = max(item.attempts for item in batch)
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
        delay = random.uniform(delay / 2, delay)  # jitter, so retries do not arrive together
        delay = max(delay, verdict.retry_after or 0.0)
        for item in batch:
            item.not_before = now + delay
            self._requeue(run, item, now)

    def _on_fatal(self, run: _Run, batch: list[_Item], verdict: Verdict, report: SendReport,
                  now: float) -> None:
        hint = ""
        if verdict.status == 400 and not self.endpoint.is_eu:
            hint = (" (an EU project's key is invalid on the US host: set eu_residency=true if "
                    "the project is in Amplitude's EU data centre)")
        report.fatal = f"{verdict.message} from {self.endpoint.host}{hint}"
        for item in batch:
            self._requeue(run, item, now)

    # keeping nothing back ----------------------------------------------------------------

    def _requeue(self, run: _Run, item: _Item, now: float) -> None:
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
                self._dead(report, item.event, item.source_id, UNDELIVERED, category, detail,
                           item.attempts, ref=item.ref)
        run.inflight.clear()
        for item in run.pending:
            self._dead(report, item.event, item.source_id, UNDELIVERED, category, detail,
                       item.attempts, item.status, ref=item.ref)
        run.pending = []
        for given in run.source:
            event, source_id, ref = _unpack(given)
            report.events += 1
            self._dead(report, event, source_id, UNDELIVERED, category, detail, ref=ref)
        run.exhausted = True


def _unpack(given: dict[str, Any] | Outgoing) -> tuple[dict[str, Any], str | None, Any]:
    if isinstance(given, Outgoing):
        return given.event, given.source_id, given.ref
    return given, None, None


class _Run:
    """The state of one `send` call."""

    def __init__(self, source: Iterator[dict[str, Any] | Outgoing]) -> None:
        self.source = source
        self.exhausted = False
        self.pending: list[_Item] = []
        self.picked = False
        self.inflight: dict[Future[tuple[int, bytes, httpx.Headers]], list[_Item]] = {}
        self.busy: set[tuple[str, str]] = set()
