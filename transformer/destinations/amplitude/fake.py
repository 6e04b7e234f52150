"""A fake Amplitude ingestion server on loopback, for trying `send` and for tests.

It answers `/batch` and `/2/httpapi` the way the reference describes Amplitude: 200 with
`events_ingested`, 400 `Invalid API key`, 413 over the limits, 400 listing ids shorter than
`options.min_id_length` (5 when not sent), and it deduplicates on `insert_id` per device (per
user when the event has no `device_id`), as Amplitude does. Faults (`transformer.destinations.fake`):
5xx, 5xx after ingesting (so a retry duplicates), 429 naming throttled users, 413, connections
dropped without a response, and 400 listing "poisoned" events.
`transformer fake-amplitude` runs one in the foreground.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..fake import Answer, FakeServer, Faults, poisoned

__all__ = ["DedupeKey", "FakeAmplitude", "Faults", "dedupe_key"]

_LIMITS = {"/batch": (2000, 20_000_000), "/2/httpapi": (1999, 1_000_000)}

DedupeKey = tuple[str, str]


def dedupe_key(event: dict[str, Any]) -> DedupeKey:
    """Amplitude ignores an event whose insert_id it has seen for the same device_id; without a
    device_id, the user_id stands in (Amplitude derives the device from it)."""
    device = event.get("device_id")
    identity = f"device_id:{device}" if device is not None else f"user_id:{event.get('user_id')}"
    return str(event.get("insert_id")), identity


class FakeAmplitude(FakeServer):
    """A fake Amplitude; `url` is its base URL (use it as the `endpoint` setting)."""

    title = "fake Amplitude"
    routes = "/batch, /2/httpapi, GET /stats"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None,
                 faults: Faults | None = None) -> None:
        super().__init__(host, port, faults=faults)
        self.api_key = api_key
        self.ingested: dict[str, dict[str, Any]] = {}
        """insert_id → the first event kept with it (for tests whose insert_ids are unique)."""

    def settings(self) -> dict[str, Any]:
        return {"endpoint": self.url, "api_key": self.api_key or "fake-amplitude-key"}

    def answer(self, path: str, headers: Any, body: bytes) -> Answer | None:
        rolled = self.roll()
        faults = self.faults
        if path not in _LIMITS:
            return Answer(404, {"code": 404, "error": "Invalid request path"})
        if faults.down or rolled["error"]:
            return self.unavailable()
        if rolled["drop"]:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Answer(400, {"code": 400, "error": "Invalid JSON request body"})
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            return Answer(400, {"code": 400, "error": "Request missing required field",
                                "missing_field": "events"})
        if self.api_key is not None and data.get("api_key") != self.api_key:
            return Answer(400, {"code": 400, "error": f"Invalid API key: {data.get('api_key')}"})
        events: list[Any] = data["events"]
        max_events, max_bytes = _LIMITS[path]
        if len(events) > max_events or len(body) > max_bytes or \
                (len(events) > 1 and rolled["too_large"]):
            return Answer(413, {"code": 413, "error": "Payload too large"})
        if rolled["throttle"]:
            users = sorted({str(e["user_id"]) for e in events if isinstance(e, dict) and e.get("user_id")})
            if users:
                named = self.pick(users, 2)
                return Answer(429, {"code": 429, "error": "Too many requests for some devices and users",
                                    "eps_threshold": 1000, "throttled_users": {u: 1200 for u in named},
                                    "throttled_devices": {},
                                    "throttled_events": [i for i, e in enumerate(events)
                                                         if e.get("user_id") in named]},
                              self.retry_after_header())
        short = _short_ids(events, data.get("options"))
        if short:
            return Answer(400, {"code": 400, "error": "Invalid id length for user_id or device_id",
                                "events_with_invalid_id_lengths": short})
        bad = [i for i, e in enumerate(events) if poisoned(e, faults.poison_key)]
        if bad:
            return Answer(400, {"code": 400, "error": "Invalid field values on some events",
                                "events_with_invalid_fields": {"event_properties": bad}})
        self.keep(events, dedupe_key, _insert_id)
        with self.state.lock:
            for event in events:
                self.ingested.setdefault(str(event.get("insert_id")), event)
        if rolled["error_after_ingest"]:
            return Answer(502, {"code": 502, "error": "Bad Gateway"})
        return Answer(200, {"code": 200, "events_ingested": len(events), "payload_size_bytes": len(body),
                            "server_upload_time": 0})


def _insert_id(event: dict[str, Any]) -> Any:
    return event.get("insert_id")


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
