"""HTTP limits for `transformer serve`, enforced on the connection before anything else runs.

uvicorn's parsers leave these open: httptools accumulates a header of any size, no parser bounds
the time a client may take to send its request, and connections are accepted until descriptors
run out. `guarded_protocol` subclasses uvicorn's protocol for the chosen parser and adds:

- **Header size.** At most `max_header_bytes` of request line and headers are handed to the
  parser; if the headers are not complete by then the client gets 431 and the connection is
  closed. Memory per connection is bounded by the limit, whatever the client streams.
- **Request time.** A request must arrive complete (line, headers, body) within
  `request_timeout` seconds of its first byte (of the connection's opening, for the first one);
  while a body arrives, no more than `body_timeout` seconds may pass between two reads. Beyond
  either, the client gets 408 and the connection is closed.
- **Connections.** At `max_connections` admitted connections, a new one takes the place of the
  connection that has waited longest for a request to arrive (idle, or sending its request
  slowly), which is answered 503 and closed; if every connection has a request being answered,
  the new one gets the 503. A crowd of idle or slow connections can neither use up the process's
  descriptors nor keep a client with a real request out: the newcomer always gets in, the oldest
  waiter goes.

Every refusal writes a short JSON answer with `connection: close`, stops reading the request
(what still arrives is discarded), and closes the socket after `linger` seconds at most, so that
the client reads the answer rather than a reset. A 503 refusal holds a descriptor beyond the
limit, so at most `REFUSAL_SLOTS` of them linger at once; past that they are closed as soon as
the answer is written. Descriptors needed: `max_connections + REFUSAL_SLOTS` plus the store's,
the logs' and Amplitude's. Keep-alive idle time is uvicorn's own (`timeout_keep_alive`).
"""

from __future__ import annotations

import asyncio
import http
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from .logs import log
from .metrics import ReceiverMetrics

__all__ = ["REFUSAL_SLOTS", "HttpLimits", "guarded_protocol", "raise_descriptor_limit"]

REFUSAL_SLOTS = 32

_logger = logging.getLogger("transformer.server.http")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The limits above (README: "Limits and failure behaviour")."""

    max_header_bytes: int = 32 * 1024
    request_timeout: float = 10.0
    body_timeout: float = 5.0
    max_connections: int = 2048
    keep_alive_timeout: float = 5.0
    linger: float = 1.0


class _Phase(Enum):
    HEAD = "head"        # waiting for, or reading, a request line and headers
    BODY = "body"        # reading a body
    WAITING = "waiting"  # the request is in; the app answers


def _answer(status: int, error: str) -> bytes:
    body = orjson.dumps({"error": error})
    status_line = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()
    return b"".join([status_line, b"content-type: application/json\r\n",
                     b"content-length: ", str(len(body)).encode(), b"\r\n",
                     b"connection: close\r\n\r\n", body])


class _Counts:
    """One server's connections: admitted ones, refused ones still lingering, and the admitted
    ones waiting for a request, longest-waiting first."""

    def __init__(self) -> None:
        self.admitted = 0
        self.lingering = 0
        self.waiting: OrderedDict[_Guard, None] = OrderedDict()


class _Guard(asyncio.Protocol):
    """Mixed in before a uvicorn protocol class (whose methods `super()` reaches); the subclass
    for each parser says which phase a request is in."""

    limits: HttpLimits
    metrics: ReceiverMetrics | None
    counts: _Counts
    # provided by the uvicorn protocol this is mixed into
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    cycle: Any

    def _guard_init(self) -> None:
        self._callback_phase = _Phase.HEAD    # kept by parsers that report phases by callbacks
        self._head_bytes = 0
        self._last_phase = _Phase.HEAD
        self._request_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._admitted = False
        self._lingering = False

    def _phase(self) -> _Phase:
        """Where the current request is (each parser's subclass says)."""
        raise NotImplementedError

    def _feed(self, data: bytes) -> None:
        super().data_received(data)  # the parser

    # connection events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._guard_init()
        super().connection_made(transport)
        counts = self.counts
        if counts.admitted >= self.limits.max_connections:
            if not counts.waiting:  # every connection has a request being answered
                self._lingering = counts.lingering < REFUSAL_SLOTS
                counts.lingering += self._lingering
                self._refuse(503, "too many connections", "too_many_connections", linger=self._lingering)
                return
            next(iter(counts.waiting))._evict()
        self._admitted = True
        counts.admitted += 1
        counts.waiting[self] = None
        if self.metrics is not None:
            self.metrics.connections.set(counts.admitted)
        self._request_timer = self.loop.call_later(self.limits.request_timeout, self._timed_out,
                                                   "request_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._release()
        counts = self.counts
        counts.lingering -= self._lingering
        self._lingering = False
        super().connection_lost(exc)

    def _release(self) -> None:
        """No longer count this connection as admitted."""
        counts = self.counts
        counts.waiting.pop(self, None)
        if self._admitted:
            self._admitted = False
            counts.admitted -= 1
            if self.metrics is not None:
                self.metrics.connections.set(counts.admitted)

    def _evict(self) -> None:
        """Make room for a new connection: this one has waited longest for its request."""
        self._cancel_timers()
        self._release()
        if self._phase() is _Phase.HEAD and self._head_bytes == 0:  # idle: nothing to answer
            self._refused = True
            self._count("evicted")
            self.transport.close()
        else:
            self._refuse(503, "too many connections", "evicted", linger=False)

    def _idle_again(self) -> None:
        """The response went out and the connection waits for the next request."""
        if self._admitted and not self._refused:
            self.counts.waiting[self] = None
            self.counts.waiting.move_to_end(self)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped, so that closing does not reset the connection
        phase = self._phase()
        if phase is _Phase.BODY:
            self._arm_body_timer()
            self._feed(data)
        else:
            if phase is _Phase.HEAD and self._request_timer is None:
                self._request_timer = self.loop.call_later(
                    self.limits.request_timeout, self._timed_out, "request_timeout")
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                self._feed(data)
            else:
                self._head_bytes = self.limits.max_header_bytes
                self._feed(data[:room])
                if self.transport.is_closing():
                    return
                if self._phase() is _Phase.HEAD:
                    self._cancel_timers()
                    self._refuse(431, f"request headers larger than {self.limits.max_header_bytes} bytes",
                                 "headers_too_large")
                    return
                self._moved()
                self._feed(data[room:])
        self._moved()

    def _moved(self) -> None:
        """Follow the parser from one phase to the next."""
        phase = self._phase()
        if phase is self._last_phase:
            return
        self._last_phase = phase
        if phase is _Phase.BODY:
            self._head_bytes = 0
            self._arm_body_timer()
        elif phase is _Phase.WAITING:
            self._head_bytes = 0
            self._cancel_timers()
            self.counts.waiting.pop(self, None)

    # limits
    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._timed_out, "body_timeout")

    def _cancel_timers(self) -> None:
        for timer in (self._request_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._request_timer = self._body_timer = None

    def _timed_out(self, reason: str) -> None:
        self._cancel_timers()
        if self.transport.is_closing() or self._refused:
            return
        if self._phase() is _Phase.WAITING:  # the request is in after all: the app answers it
            return
        if self._phase() is _Phase.HEAD and self._head_bytes == 0:
            self._count(reason)
            self.transport.close()  # nothing was asked: nothing to answer
            return
        answered = self.cycle is not None and getattr(self.cycle, "response_started", False)
        if answered:
            self._count(reason)
            self.transport.close()
            return
        limit = self.limits.request_timeout if reason == "request_timeout" else self.limits.body_timeout
        self._refuse(408, f"request not received within {limit:g} s", reason)

    def _refuse(self, status: int, error: str, reason: str, *, linger: bool = True) -> None:
        """Answer, stop reading the request, and close within `linger` seconds (or at once)."""
        self._refused = True
        self._count(reason)
        self.counts.waiting.pop(self, None)
        if self.cycle is not None:  # the app is waiting for a body that will not come
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.write(_answer(status, error))
        if not linger:
            self.transport.close()
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(self.limits.linger, self.transport.close)

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.http_refused.inc(reason=reason)
        client = self.client[0] if self.client else None
        log(_logger, "warning", "http_limit", reason=reason, client=client)


def guarded_protocol(parser: str, limits: HttpLimits, metrics: ReceiverMetrics | None = None) -> type:
    """A uvicorn protocol class for `parser` ("auto", "httptools" or "h11") with `limits`."""
    if parser == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:  # pragma: no cover - installed with the package
            parser = "h11"
        else:
            parser = "httptools"
    base: type = _httptools_guarded() if parser == "httptools" else _h11_guarded()
    return type(f"Guarded{base.__name__}", (base,), {"limits": limits, "metrics": metrics,
                                                      "counts": _Counts()})


def _httptools_guarded() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpTools(_Guard, HttpToolsProtocol):
        def _phase(self) -> _Phase:
            return self._callback_phase

        def on_message_begin(self) -> None:
            self._callback_phase = _Phase.HEAD
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._callback_phase = _Phase.BODY
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._callback_phase = _Phase.WAITING
            super().on_message_complete()

        def on_response_complete(self) -> None:
            if self._callback_phase is _Phase.WAITING:
                self._callback_phase = self._last_phase = _Phase.HEAD
                self._idle_again()
            super().on_response_complete()

    return GuardedHttpTools


def _h11_guarded() -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(_Guard, H11Protocol):
        def _phase(self) -> _Phase:
            state = self.conn.their_state
            if state is h11.IDLE:
                return _Phase.HEAD
            if state is h11.SEND_BODY:
                return _Phase.BODY
            return _Phase.WAITING

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._phase() is _Phase.HEAD:
                self._last_phase = _Phase.HEAD
                self._idle_again()

    return GuardedH11


def raise_descriptor_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files towards `wanted` (never above the hard
    limit, never lower than it is); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft) if soft != resource.RLIM_INFINITY else wanted

