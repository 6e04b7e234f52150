"""What every fake destination shares: a threaded HTTP server on loopback, fault injection, dedupe.

A fake answers its destination's protocol (`answer`, written by each destination's own
`fake.py`) and this module injects faults around it, the same for every destination: 503 before
ingesting, 502 after ingesting (so the sender resends what was kept: the fake's dedupe must drop
the copy), 429, 413 for a batch of more than one event, connections dropped without an answer,
and 400 for "poisoned" events. Faults are drawn at random from a seeded generator, or forced on
the first requests by `Faults.script`. `GET /stats` and `stats()` report what happened; `kept`
holds each distinct event once, in the order it was first kept.
"""

from __future__ import annotations

import contextlib
import gc
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import orjson

__all__ = ["FAULTS", "Answer", "FakeServer", "Faults", "poisoned"]

FAULTS = ("error", "drop", "too_large", "throttle", "error_after_ingest")


@dataclass(slots=True)
class Faults:
    """Probabilities (0 to 1) of each fault per request, and the seed of their dice."""

    error: float = 0.0             # 503 before ingesting
    error_after_ingest: float = 0.0  # ingest, then answer 502 (the client will resend)
    throttle: float = 0.0          # 429 (naming keys, where the protocol can)
    too_large: float = 0.0         # 413 for a batch of more than one event
    drop: float = 0.0              # close the connection without answering
    poison_key: str = "poison"     # events with this key (top level or in event_properties) get a 400
    seed: int = 7
    down: bool = False             # answer 503 to everything (an outage)
    retry_after: float | None = None  # sent as Retry-After with every 503 and 429
    script: tuple[str, ...] = ()   # faults forced on the first requests, in order: error,
    #                                error_after_ingest, throttle, too_large, drop (or "" for none)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a fake answers one request: a status, a JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def poisoned(event: Any, key: str) -> bool:
    """Whether a fake refuses this event: it carries `key` at its top level or in its
    `event_properties`."""
    if not isinstance(event, dict):
        return False
    properties = event.get("event_properties")
    return key in event or (isinstance(properties, dict) and key in properties)


@dataclass(slots=True)
class _State:
    kept: dict[Any, dict[str, Any]] = field(default_factory=dict)
    received: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each POST
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeServer:
    """A destination's fake: subclasses write `answer` (their protocol) and `settings` (what
    makes the destination send here); this class serves, rolls the faults and keeps the stats.
    `url` is its base URL."""

    title = "a fake destination"
    routes = ""   # what it serves, for its start line

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.state = _State()
        self._random = random.Random(self.faults.seed)
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._own_process = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def kept(self) -> dict[Any, dict[str, Any]]:
        """Dedupe key → the event, once per key, in the order first kept: what the service keeps."""
        return self.state.kept

    @property
    def received(self) -> Counter[str]:
        """Event id → how many times it arrived in a request that was read."""
        return self.state.received

    def stats(self) -> dict[str, Any]:
        """Counts for people and tests."""
        with self.state.lock:
            return {"requests": self.state.requests, "ingested": len(self.state.kept),
                    "received": sum(self.state.received.values()),
                    "duplicates": sum(self.state.received.values()) - len(self.state.kept),
                    "statuses": {str(k): v for k, v in sorted(self.state.statuses.items())}}

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-destination",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, as the process's only job (`transformer
        fake …`): what the fake keeps is then moved out of the garbage collector's way
        (`gc.freeze`) as it is kept, so that a fake holding millions of events does not spend
        its time walking them."""
        self._own_process = True
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # for subclasses -------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The destination settings that send to this fake (its URL, the key it accepts)."""
        raise NotImplementedError

    def answer(self, path: str, headers: Any, body: bytes) -> Answer | None:
        """The answer to one POST, or None to drop the connection."""
        raise NotImplementedError

    def roll(self) -> dict[str, bool]:
        """Which faults strike this request (scripted for the first ones, else at random)."""
        state, faults = self.state, self.faults
        with state.lock:
            state.requests += 1
            state.arrivals.append(time.monotonic())
            rolled = {kind: self._random.random() < getattr(faults, kind) for kind in FAULTS}
            if state.requests <= len(faults.script):
                rolled = {kind: kind == faults.script[state.requests - 1] for kind in FAULTS}
        return rolled

    def pick(self, items: list[str], most: int) -> list[str]:
        """Up to `most` of `items`, drawn with the fake's seeded dice."""
        with self.state.lock:
            return self._random.sample(items, min(len(items), most))

    def keep(self, events: list[Any], key: Any, event_id: Any) -> None:
        """Ingest events: count each arrival by `event_id(event)`, keep each `key(event)` once."""
        with self.state.lock:
            for event in events:
                self.state.received[str(event_id(event))] += 1
                self.state.kept.setdefault(key(event), event)
            if self._own_process:
                gc.freeze()

    def unavailable(self, status: int = 503, message: str = "Service Unavailable") -> Answer:
        """A 5xx or 429 answer, with Retry-After when the faults say so."""
        return Answer(status, {"code": status, "error": message}, self.retry_after_header())

    def retry_after_header(self) -> tuple[tuple[str, str], ...]:
        after = self.faults.retry_after
        return () if after is None else (("Retry-After", f"{after:g}"),)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        answer = self.server_fake.answer(self.path, self.headers, body)
        if answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with self.server_fake.state.lock:
            self.server_fake.state.statuses[answer.status] += 1
        self._write(answer.status, orjson.dumps(answer.body), answer.headers)

    def do_GET(self) -> None:
        self._write(200 if self.path == "/stats" else 404, orjson.dumps(self.server_fake.stats()), ())

    def _write(self, status: int, content: bytes, headers: tuple[tuple[str, str], ...]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read the stats instead."""
