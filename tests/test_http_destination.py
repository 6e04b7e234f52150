"""The `http` destination: what its requests look like and what each answer makes the sender do
(httpx.MockTransport; the fault matrix against its fake is in test_destination_conformance)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from transformer.destinations import Sender
from transformer.destinations.base import Response, VerdictKind
from transformer.destinations.http.destination import HttpDestination
from transformer.destinations.registry import destination_kind
from transformer.spec.settings import resolve_settings

URL = "https://collector.example/ingest"
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "throttle_pause": 0.05}
TOKEN = "Bearer 7c1d2e3f4a5b6c7d8e9f"


def events(n: int, users: int = 5) -> list[dict[str, Any]]:
    return [{"user_id": f"u{i % users}", "insert_id": f"i{i:04d}", "n": i} for i in range(n)]


class Collector:
    """A MockTransport handler that records requests and answers with `respond`."""

    def __init__(self, respond: Callable[[list[Any], int], httpx.Response] | None = None) -> None:
        self.respond = respond or (lambda batch, n: httpx.Response(200, json={"ok": True}))
        self.requests: list[httpx.Request] = []
        self.batches: list[list[Any]] = []
        self.accepted: list[list[Any]] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if "ndjson" in request.headers["content-type"]:
            batch = [json.loads(line) for line in body.splitlines()]
        else:
            batch = json.loads(body)
        with self.lock:
            self.requests.append(request)
            self.batches.append(batch)
            n = len(self.batches)
        response = self.respond(batch, n)
        if response.is_success:
            with self.lock:
                self.accepted.append(batch)
        return response

    @property
    def delivered(self) -> list[int]:
        """What was accepted, in the order it was."""
        return [e["n"] for batch in self.accepted for e in batch]


def sender(collector: Collector, concurrency: int = 4, **settings: Any) -> Sender:
    kind = destination_kind("http")
    resolved = resolve_settings({d.name: d for d in kind.settings}, {"url": URL, **settings})
    return Sender(kind.create(resolved), transport=httpx.MockTransport(collector), concurrency=concurrency,
                  **FAST)


def test_a_batch_is_a_json_array_posted_with_the_auth_header() -> None:
    collector = Collector()
    with sender(collector, auth_token=TOKEN, auth_header="X-Api-Key") as s:
        report = s.send(events(3))
    assert (report.accepted, report.requests, report.ok) == (3, 1, True)
    (request,) = collector.requests
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["content-type"] == "application/json" and request.headers["x-api-key"] == TOKEN
    assert request.content == b'[{"user_id":"u0","insert_id":"i0000","n":0},' \
                              b'{"user_id":"u1","insert_id":"i0001","n":1},{"user_id":"u2","insert_id":"i0002","n":2}]'


def test_ndjson_and_gzip_bodies() -> None:
    collector = Collector()
    with sender(collector, body_format="ndjson", gzip=True) as s:
        s.send(events(2))
    (request,) = collector.requests
    assert request.headers["content-type"] == "application/x-ndjson"
    assert request.headers["content-encoding"] == "gzip" and "authorization" not in request.headers
    assert gzip.decompress(request.content) == b'{"user_id":"u0","insert_id":"i0000","n":0}\n' \
                                               b'{"user_id":"u1","insert_id":"i0001","n":1}\n'


def test_batches_keep_to_batch_size_and_batch_bytes_measured_on_the_body() -> None:
    collector = Collector()
    with sender(collector, batch_size=7) as s:
        assert s.send(events(30)).accepted == 30
    assert sorted(len(b) for b in collector.batches) == [2, 7, 7, 7, 7]
    collector = Collector()
    with sender(collector, batch_bytes=500, body_format="ndjson") as s:
        assert s.send(events(60)).accepted == 60
    assert max(len(r.content) for r in collector.requests) <= 500
    assert sorted(collector.delivered) == list(range(60))
    collector = Collector()
    with sender(collector, batch_bytes=40) as s:
        report = s.send(events(2))
    assert report.set_aside == {"event too large": 2} and collector.requests == []
    assert report.dead_letters[0]["dead_letter"]["reason"] == \
        f"event too large: 42 bytes; a request to {URL} may carry at most 40"


@pytest.mark.parametrize(("status", "kind"), [
    (200, VerdictKind.ACCEPTED), (202, VerdictKind.ACCEPTED), (408, VerdictKind.RETRY),
    (500, VerdictKind.RETRY), (503, VerdictKind.RETRY), (429, VerdictKind.THROTTLED),
    (413, VerdictKind.SPLIT), (400, VerdictKind.FATAL), (422, VerdictKind.FATAL), (401, VerdictKind.FATAL),
    (403, VerdictKind.FATAL), (404, VerdictKind.FATAL), (301, VerdictKind.FATAL)])
def test_each_status_means_what_the_docs_say(status: int, kind: VerdictKind) -> None:
    destination = HttpDestination(URL)
    assert destination.classify(Response(status, {}, b""), 5).kind == kind


def test_with_isolate_a_4xx_halves_the_batch_but_credentials_and_address_still_stop() -> None:
    destination = HttpDestination(URL, on_rejection="isolate")
    for status in (400, 409, 422):
        assert destination.classify(Response(status, {}, b""), 5).kind == VerdictKind.SPLIT
    for status in (401, 403, 404, 405):
        assert destination.classify(Response(status, {}, b""), 5).kind == VerdictKind.FATAL


def test_isolate_sets_aside_only_the_refused_events_and_delivers_the_rest_in_order() -> None:
    def respond(batch: list[Any], n: int) -> httpx.Response:
        if any(e["n"] in (5, 11) for e in batch):
            return httpx.Response(422, json={"error": "field n is not allowed to be 5 or 11"})
        return httpx.Response(200)
    collector = Collector(respond)
    with sender(collector, on_rejection="isolate", order_by=["user_id"]) as s:
        report = s.send(events(16))
    assert report.accepted == 14 and report.ok
    assert report.set_aside == {"refused by the endpoint": 2}
    assert [d["event"]["n"] for d in report.dead_letters] == [5, 11]
    assert report.dead_letters[0]["dead_letter"]["reason"] == \
        "refused by the endpoint: 422 Unprocessable Entity (field n is not allowed to be 5 or 11)"
    for user in range(5):
        mine = [n for n in collector.delivered if n % 5 == user]
        assert mine == sorted(mine)


def test_by_default_a_4xx_stops_keeps_every_event_and_names_the_way_out() -> None:
    collector = Collector(lambda batch, n: httpx.Response(400, json={"message": "bad event"}))
    with sender(collector, concurrency=1, batch_size=5) as s:
        report = s.send(events(12))
    assert len(collector.requests) == 1 and report.undelivered == {"not sent": 12}
    assert report.fatal == ("the endpoint answered 400 Bad Request (bad event) from https://collector.example "
                            "(set on_rejection=isolate to set refused events aside and deliver the rest)")


def test_a_token_echoed_back_never_reaches_the_report() -> None:
    echo = f"token {TOKEN[7:]} is revoked"
    collector = Collector(lambda batch, n: httpx.Response(401, json={"error": echo}))
    with sender(collector, auth_token=TOKEN) as s:
        report = s.send(events(2))
    assert report.fatal == ("the endpoint answered 401 Unauthorized (token*** is revoked) from "
                            "https://collector.example (check auth_token and auth_header)")
    assert TOKEN[7:] not in repr(report)


def test_429_waits_for_retry_after_then_delivers() -> None:
    def respond(batch: list[Any], n: int) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0.4"}) if n == 1 else httpx.Response(200)
    with sender(Collector(respond)) as s:
        started = time.monotonic()
        report = s.send(events(3))
    assert report.accepted == 3 and report.retries == 1 and time.monotonic() - started >= 0.4


def test_settings_a_destination_cannot_work_with_are_refused_with_a_reason() -> None:
    kind = destination_kind("http")
    with pytest.raises(ValueError, match=r"^no URL for the http destination: --set url=https://…"):
        kind.create(resolve_settings({d.name: d for d in kind.settings}, {}))
    with pytest.raises(ValueError, match="must not carry credentials"):
        HttpDestination("https://user:pass@collector.example/ingest")
    with pytest.raises(ValueError, match="is not an HTTP header name"):
        HttpDestination(URL, auth_header="X Api Key")


def test_order_by_makes_the_ordering_keys() -> None:
    destination = HttpDestination(URL, order_by=["user_id", "device_id"])
    assert destination.keys({"user_id": "u1", "device_id": 7}) == (("user_id", "u1"), ("device_id", "7"))
    assert destination.keys({"other": 1}) == () and HttpDestination(URL).keys({"user_id": "u1"}) == ()
