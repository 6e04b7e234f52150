"""A fake JSON collector on loopback for the `http` destination, for tests and trials.

It takes a POST on any path whose body is a JSON array of events, or NDJSON when the content
type says so, gzip-compressed or not; checks the auth header when given a token (401 without
it); refuses more than `max_events` events or `max_bytes` bytes (uncompressed) with 413, and any
poisoned event with a 400 that names none (the sender isolates it by halving); and keeps each
event once by its `dedupe_field` (`insert_id`; the whole event when it has none), as a
collector that deduplicates would. Faults as every fake (`transformer.destinations.fake`).
`transformer fake http` runs one in the foreground.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson

from ..fake import Answer, FakeServer, Faults, poisoned

__all__ = ["FakeHttp"]


class FakeHttp(FakeServer):
    """A fake collector; `settings()` are the `http` destination settings that send to it."""

    title = "fake HTTP collector"
    routes = "POST any path: a JSON array or NDJSON, gzip or not; GET /stats"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                 header: str = "Authorization", faults: Faults | None = None, max_events: int = 10_000,
                 max_bytes: int = 5_000_000, dedupe_field: str = "insert_id") -> None:
        super().__init__(host, port, faults=faults)
        self.token = token
        self.header = header
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.dedupe_field = dedupe_field

    def settings(self) -> dict[str, Any]:
        """Send here, with the token it wants, ordered per user and device, isolating the
        events it refuses (it names none)."""
        found: dict[str, Any] = {"url": f"{self.url}/ingest", "on_rejection": "isolate",
                                 "order_by": ["user_id", "device_id"]}
        if self.token is not None:
            found |= {"auth_token": self.token, "auth_header": self.header}
        return found

    def answer(self, path: str, headers: Any, raw: bytes) -> Answer | None:
        body: bytes | None = raw
        rolled = self.roll()
        if self.faults.down or rolled["error"]:
            return self.unavailable()
        if rolled["drop"]:
            return None
        if self.token is not None and headers.get(self.header) != self.token:
            return Answer(401, {"error": "unauthorized"})
        if "gzip" in (headers.get("Content-Encoding") or ""):
            body = _inflate(raw)
        events = _events(body, headers.get("Content-Type") or "") if body is not None else None
        if body is None or events is None:
            return Answer(400, {"error": "the body is not a JSON array of events or NDJSON"})
        if len(events) > self.max_events or len(body) > self.max_bytes or \
                (len(events) > 1 and rolled["too_large"]):
            return Answer(413, {"error": "Payload Too Large"})
        if rolled["throttle"]:
            return self.unavailable(429, "Too Many Requests")
        if any(poisoned(event, self.faults.poison_key) for event in events):
            return Answer(400, {"error": "invalid event"})
        self.keep(events, self._id, self._id)
        if rolled["error_after_ingest"]:
            return Answer(502, {"error": "Bad Gateway"})
        return Answer(200, {"accepted": len(events)})

    def _id(self, event: Any) -> Any:
        found = event.get(self.dedupe_field) if isinstance(event, dict) else None
        return found if found is not None else orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()


def _inflate(body: bytes) -> bytes | None:
    """A gzip body, decompressed; None when it is not gzip."""
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error):
        return None


def _events(body: bytes, content_type: str) -> list[Any] | None:
    """The events of a request body, or None when it is not what the destination sends."""
    try:
        if "ndjson" in content_type:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, list) else None
