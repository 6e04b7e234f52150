"""A fake Amplitude ingestion server on loopback, for trying `send` and for tests.

It answers `/batch` and `/2/httpapi` the way the reference describes Amplitude: 200 with
`events_ingested`, 400 `Invalid API key`, 413 over the limits, 400 listing ids shorter than
`options.min_id_length` (5 when not sent), and it deduplicates on `insert_id` per device (per
user when the event has no `device_id`), as Amplitude does. It can inject faults at random
(seeded): 5xx, 5xx after ingesting (so a retry duplicates), 429 naming throttled users, 413,
connections dropped without a response, and 400 listing "poisoned" events.
`transformer fake-amplitude` runs one in the foreground.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

__all__ = ["DedupeKey", "FakeAmplitude", "Faults", "dedupe_key"]

_LIMITS = {"/batch": (2000, 20_000_000), "/2/httpapi": (1999, 1_000_000)}
_FAULTS = ("error", "drop", "too_large", "throttle", "error_after_ingest")


@dataclass(slots=True)
class Faults:
    """Probabilities (0 to 1) of each fault per request, and the seed of their dice."""

    error: float = 0.0             # 503 before ingesting
    error_after_ingest: float = 0.0  # ingest, then answer 502 (the client will resend)
    throttle: float = 0.0          # 429 naming one or two users of the batch
    too_large: float = 0.0         # 413 for a batch of more than one event
    drop: float = 0.0              # close the connection without answering
    poison_key: str = "poison"     # events with event_properties[poison_key] get a 400 listing them
    seed: int = 7
    down: bool = False             # answer 503 to everything (an outage)
    script: tuple[str, ...] = ()   # faults forced on the first requests, in order: error,
    #                                error_after_ingest, throttle, too_large, drop (or "" for none)


DedupeKey = tuple[str, str]


def dedupe_key(event: dict[str, Any]) -> DedupeKey:
    """Amplitude ignores an event whose insert_id it has seen for the same device_id; without a
    device_id, the user_id stands in (Amplitude derives the device from it)."""
    device = event.get("device_id")
    identity = f"device_id:{device}" if device is not None else f"user_id:{event.get('user_id')}"
    return str(event.get("insert_id")), identity


@dataclass(slots=True)
class _State:
    kept: dict[DedupeKey, dict[str, Any]] = field(default_factory=dict)
    ingested: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeAmplitude:
    """A threaded HTTP server; `url` is its base URL (use it as the `endpoint` setting)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None,
                 faults: Faults | None = None) -> None:
        self.api_key = api_key
        self.faults = faults or Faults()
        self.state = _State()
        self._random = random.Random(self.faults.seed)
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def kept(self) -> dict[DedupeKey, dict[str, Any]]:
        """(insert_id, device or user) → the event, once per key: what Amplitude keeps."""
        return self.state.kept

    @property
    def ingested(self) -> dict[str, dict[str, Any]]:
        """insert_id → the first event kept with it (for tests whose insert_ids are unique)."""
        return self.state.ingested

    @property
    def received(self) -> Counter[str]:
        """insert_id → how many times it arrived in a request that was read."""
        return self.state.received

    def stats(self) -> dict[str, Any]:
        """Counts for people and tests."""
        with self.state.lock:
            return {"requests": self.state.requests, "ingested": len(self.state.kept),
                    "received": sum(self.state.received.values()),
                    "duplicates": sum(self.state.received.values()) - len(self.state.kept),
                    "statuses": {str(k): v for k, v in sorted(self.state.statuses.items())}}

    def start(self) -> FakeAmplitude:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-amplitude",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAmplitude:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the protocol --------------------------------------------------------------------------

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        """The status and JSON body for one request, or None to drop the connection."""
        state, faults = self.state, self.faults
        with state.lock:
            state.requests += 1
            scripted = state.requests <= len(faults.script)
            rolled = {kind: self._random.random() < getattr(faults, kind) for kind in _FAULTS}
            if scripted:
                rolled = {kind: kind == faults.script[state.requests - 1] for kind in _FAULTS}
        if path not in _LIMITS:
            return 404, {"code": 404, "error": "Invalid request path"}
        if faults.down or rolled["error"]:
            return 503, {"code": 503, "error": "Service Unavailable"}
        if rolled["drop"]:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, {"code": 400, "error": "Invalid JSON request body"}
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            return 400, {"code": 400, "error": "Request missing required field", "missing_field": "events"}
        if self.api_key is not None and data.get("api_key") != self.api_key:
            return 400, {"code": 400, "error": f"Invalid API key: {data.get('api_key')}"}
        events: list[Any] = data["events"]
        max_events, max_bytes = _LIMITS[path]
        if len(events) > max_events or len(body) > max_bytes or \
                (len(events) > 1 and rolled["too_large"]):
            return 413, {"code": 413, "error": "Payload too large"}
        if rolled["throttle"]:
            users = sorted({e.get("user_id") for e in events if e.get("user_id")})
            if users:
                with state.lock:
                    named = self._random.sample(users, min(len(users), 2))
                return 429, {"code": 429, "error": "Too many requests for some devices and users",
                             "eps_threshold": 1000, "throttled_users": {u: 1200 for u in named},
                             "throttled_devices": {},
                             "throttled_events": [i for i, e in enumerate(events)
                                                  if e.get("user_id") in named]}
        short = _short_ids(events, data.get("options"))
        if short:
            return 400, {"code": 400, "error": "Invalid id length for user_id or device_id",
                         "events_with_invalid_id_lengths": short}
        poisoned = [i for i, e in enumerate(events)
                    if isinstance(e, dict) and faults.poison_key in (e.get("event_properties") or {})]
        if poisoned:
            return 400, {"code": 400, "error": "Invalid field values on some events",
                         "events_with_invalid_fields": {"event_properties": poisoned}}
        with state.lock:
            for event in events:
                state.received[str(event.get("insert_id"))] += 1
                key = dedupe_key(event)
                state.kept.setdefault(key, event)
                state.ingested.setdefault(key[0], event)
        if rolled["error_after_ingest"]:
            return 502, {"code": 502, "error": "Bad Gateway"}
        return 200, {"code": 200, "events_ingested": len(events), "payload_size_bytes": len(body),
                     "server_upload_time": 0}


def _short_ids(events: list[Any], options: Any) -> dict[str, list[int]]:
    minimum = options.get("min_id_length") if isinstance(options, dict) else None
    minimum = minimum if isinstance(minimum, int) else 5
    found: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        for key in ("user_id", "device_id"):
            value = event.get(key) if isinstance(event, dict) else None
            if isinstance(value, str) and len(value) < minimum:
                found.setdefault(key, []).append(i)
    return found


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeAmplitude

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        answer = self.server_fake.answer(self.path, body)
        if answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, payload = answer
        with self.server_fake.state.lock:
            self.server_fake.state.statuses[status] += 1
        content = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self) -> None:
        content = orjson.dumps(self.server_fake.stats())
        self.send_response(200 if self.path == "/stats" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read the stats instead."""
