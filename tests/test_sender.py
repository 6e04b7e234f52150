"""AmplitudeSender against httpx.MockTransport: every response class the reference describes."""

from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from transformer.destinations import AmplitudeSender, Outgoing, Prepared, Sender, SendInterrupted, SendReport
from transformer.destinations.base import encode_json

Handler = Callable[[httpx.Request], httpx.Response]
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "throttle_pause": 0.05}


def events(n: int, *, users: int | None = None, prefix: str = "user") -> list[dict[str, Any]]:
    return [{"event_type": "Email Sent", "user_id": f"{prefix}-{i % (users or n):05d}",
             "insert_id": f"ins-{i:06d}", "time": 1_700_000_000_000 + i} for i in range(n)]


class Recorder:
    """A MockTransport handler that records requests and answers with `respond`."""

    def __init__(self, respond: Callable[[list[dict[str, Any]], int], httpx.Response] | None = None) -> None:
        self.respond = respond or (lambda batch, n: httpx.Response(200, json={"code": 200}))
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            self.requests.append(request)
            self.bodies.append(body)
            n = len(self.bodies)
        return self.respond(body["events"], n)

    @property
    def sent_ids(self) -> list[str]:
        return [e["insert_id"] for body in self.bodies for e in body["events"]]


def sender(recorder: Handler, **options: Any) -> AmplitudeSender:
    return AmplitudeSender("test-key-123", transport=httpx.MockTransport(recorder), **(FAST | options))


def test_accepted_batch_is_one_json_request_with_key_events_and_options() -> None:
    recorder = Recorder()
    with sender(recorder, min_id_length=3) as s:
        report = s.send(events(3))
    assert (report.accepted, report.requests, report.ok) == (3, 1, True)
    (request,) = recorder.requests
    assert request.url == "https://api2.amplitude.com/batch"
    assert request.headers["content-type"] == "application/json"
    assert recorder.bodies[0]["api_key"] == "test-key-123"
    assert recorder.bodies[0]["options"] == {"min_id_length": 3}
    assert [e["insert_id"] for e in recorder.bodies[0]["events"]] == ["ins-000000", "ins-000001", "ins-000002"]


def test_endpoint_setting_region_and_api_choose_the_url() -> None:
    cases: list[tuple[dict[str, Any], str]] = [({}, "https://api2.amplitude.com/batch"),
             ({"eu_residency": True}, "https://api.eu.amplitude.com/batch"),
             ({"api": "http_v2"}, "https://api2.amplitude.com/2/httpapi"),
             ({"endpoint": "http://127.0.0.1:8787/"}, "http://127.0.0.1:8787/batch")]
    for options, url in cases:
        recorder = Recorder()
        with sender(recorder, **options) as s:
            s.send(events(1))
        assert str(recorder.requests[0].url) == url


def test_batches_respect_event_count_and_body_size() -> None:
    recorder = Recorder()
    with sender(recorder) as s:
        report = s.send(events(4500))
    assert report.accepted == 4500
    assert sorted(len(b["events"]) for b in recorder.bodies) == [500, 2000, 2000]
    recorder = Recorder()
    with sender(recorder, max_bytes=2_000) as s:
        report = s.send(events(100))
    assert report.accepted == 100 and len(recorder.requests) >= 5
    assert max(len(r.content) for r in recorder.requests) <= 2_000
    assert sorted(recorder.sent_ids) == [f"ins-{i:06d}" for i in range(100)]


def test_an_event_larger_than_a_request_is_set_aside_not_sent() -> None:
    recorder = Recorder()
    big = events(2)
    big[0]["event_properties"] = {"blob": "x" * 5_000}
    with sender(recorder, max_bytes=2_000) as s:
        report = s.send(big)
    assert report.set_aside == {"event too large": 1} and report.accepted == 1
    assert recorder.sent_ids == ["ins-000001"]
    assert report.dead_letters[0]["dead_letter"]["reason"].startswith("event too large: 5,")


def test_preflight_sets_aside_what_amplitude_would_refuse_without_a_request() -> None:
    recorder = Recorder()
    bad: list[dict[str, Any]] = [{"user_id": "user-00001", "insert_id": "a"},  # no event_type
           {"event_type": "Email Sent", "insert_id": "b"},                     # no user or device
           {"event_type": "Email Sent", "user_id": "null", "insert_id": "c"},  # blocked id
           {"event_type": "Email Sent", "user_id": "42", "insert_id": "d"},    # shorter than 5
           {"event_type": "Email Sent", "user_id": "user-00001", "time": 1.5, "insert_id": "e"},
           {"event_type": "[Amplitude] Revenue", "user_id": "user-00001", "insert_id": "f"},
           {"event_type": "Email Sent", "user_id": "user-00001", "colour": "red", "insert_id": "g"}]
    with sender(recorder) as s:
        report = s.send(bad + events(1))
    assert recorder.sent_ids == ["ins-000000"]
    assert report.set_aside == {"does not match the Amplitude event schema": 6,
                                "id shorter than min_id_length": 1}
    assert report.ok
    reasons = {d["event"]["insert_id"]: d["dead_letter"]["reason"] for d in report.dead_letters}
    assert reasons["a"] == "does not match the Amplitude event schema: $ must contain ['event_type'] properties"
    assert reasons["d"] == 'id shorter than min_id_length: user_id "42" has fewer than 5 characters'
    assert "time must be integer" in reasons["e"]
    assert "must not contain {'colour'} properties" in reasons["g"]
    (warning,) = report.warnings
    assert "--set min_id_length=1" in warning


def test_400_listing_events_sets_them_aside_and_resends_the_rest() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        bad = [i for i, e in enumerate(batch) if e["insert_id"] in ("ins-000001", "ins-000003")]
        if bad:
            return httpx.Response(400, json={"code": 400, "error": "Invalid field values on some events",
                                             "events_with_invalid_fields": {"time": bad[:1]},
                                             "silenced_events": bad[1:]})
        return httpx.Response(200, json={"code": 200})
    recorder = Recorder(respond)
    with sender(recorder) as s:
        report = s.send(events(5))
    assert report.accepted == 3
    assert report.set_aside == {"rejected by Amplitude (invalid field time)": 1,
                                "rejected by Amplitude (events silenced for this device)": 1}
    assert [len(b["events"]) for b in recorder.bodies] == [5, 3]
    assert report.ok


def test_400_listing_nothing_is_narrowed_down_by_splitting() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        if any(e["insert_id"] == "ins-000005" for e in batch):
            return httpx.Response(400, json={"code": 400, "error": "Invalid event JSON"})
        return httpx.Response(200, json={"code": 200})
    recorder = Recorder(respond)
    with sender(recorder) as s:
        report = s.send(events(16))
    assert report.accepted == 15
    assert report.set_aside == {"refused by Amplitude": 1}
    assert report.dead_letters[0]["event"]["insert_id"] == "ins-000005"
    assert report.dead_letters[0]["dead_letter"]["reason"] == "refused by Amplitude: 400 Invalid event JSON"
    assert len(recorder.requests) <= 1 + 2 * 4  # halving: at most two requests per level


def test_413_splits_the_batch_and_a_single_event_413_is_set_aside() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        if len(batch) > 3 or any(e["insert_id"] == "ins-000002" for e in batch):
            return httpx.Response(413, json={"code": 413, "error": "Payload too large"})
        return httpx.Response(200, json={"code": 200})
    recorder = Recorder(respond)
    with sender(recorder) as s:
        report = s.send(events(10))
    assert report.accepted == 9
    assert report.dead_letters[0]["dead_letter"]["reason"] == "refused by Amplitude: 413 Payload too large"


def test_invalid_api_key_stops_at_once_and_keeps_every_event(tmp_path: Path) -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        return httpx.Response(400, json={"code": 400, "error": "Invalid API key: test-key-123"})
    recorder = Recorder(respond)
    dead = tmp_path / "dead.ndjson"
    with sender(recorder, max_events=10, concurrency=1, dead_letters=dead) as s:
        report = s.send(Outgoing(e, f"cio-{i}") for i, e in enumerate(events(50)))
    assert len(recorder.requests) == 1
    assert report.fatal is not None and not report.ok
    assert report.fatal.startswith("Amplitude answered 400 Invalid API key from https://api2.amplitude.com")
    assert "eu_residency=true" in report.fatal
    assert report.undelivered == {"not sent": 50}
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(line["event_id"] for line in lines) == sorted(f"cio-{i}" for i in range(50))
    assert "test-key-123" not in dead.read_text() and "test-key-123" not in repr(report)


def test_other_4xx_stop_with_the_status() -> None:
    recorder = Recorder(lambda batch, n: httpx.Response(403, json={"code": 403, "error": "Forbidden"}))
    with sender(recorder) as s:
        report = s.send(events(3))
    assert report.fatal == "Amplitude answered 403 Forbidden from https://api2.amplitude.com"
    assert report.undelivered == {"not sent": 3}


def test_429_pauses_throttled_users_only_and_drops_nothing() -> None:
    arrivals: list[tuple[float, str]] = []
    throttled_once: set[str] = set()

    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        hot = [e["user_id"] for e in batch if e["user_id"] == "user-00000"]
        if hot and "user-00000" not in throttled_once:
            throttled_once.add("user-00000")
            return httpx.Response(429, json={
                "code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 30,
                "throttled_users": {"user-00000": 31}, "throttled_devices": {},
                "throttled_events": [i for i, e in enumerate(batch) if e["user_id"] == "user-00000"]})
        arrivals.extend((time.monotonic(), e["user_id"]) for e in batch)
        return httpx.Response(200, json={"code": 200})
    recorder = Recorder(respond)
    with sender(recorder, max_events=4, throttle_pause=0.3) as s:
        start = time.monotonic()
        report = s.send(events(12, users=3))
    assert report.accepted == 12 and report.ok
    hot = [t - start for t, user in arrivals if user == "user-00000"]
    cold = [t - start for t, user in arrivals if user != "user-00000"]
    assert min(hot) >= 0.3          # paused for the throttle pause
    assert min(cold) < 0.3          # the others kept going


def test_429_over_daily_quota_is_retried_later_then_kept_not_dropped() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        return httpx.Response(429, json={"code": 429, "error": "Too many requests for some devices and users",
                                         "exceeded_daily_quota_users": {"user-00000": 500001},
                                         "throttled_events": [0]})
    recorder = Recorder(respond)
    with sender(recorder, quota_pause=0.2, deadline=0.5) as s:
        report = s.send(events(1))
    assert report.undelivered == {"deadline passed": 1}
    reason = report.dead_letters[0]["dead_letter"]["reason"]
    assert reason.startswith("deadline passed: not accepted within 0.5 s; last error: 429: over Amplitude's daily quota")
    assert 2 <= len(recorder.requests) <= 4   # retried after each quota pause


def test_5xx_is_retried_with_backoff_honouring_retry_after() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(503, headers={"Retry-After": "0.3"})
        if n == 2:
            return httpx.Response(500, text="<html>oops</html>")
        return httpx.Response(200, json={"code": 200})
    recorder = Recorder(respond)
    with sender(recorder) as s:
        start = time.monotonic()
        report = s.send(events(5))
        elapsed = time.monotonic() - start
    assert report.accepted == 5 and report.retries == 2 and report.resent == 10
    assert elapsed >= 0.3


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError(
    "Server disconnected without sending a response."), httpx.ConnectError("Connection refused")])
def test_timeouts_and_dropped_connections_are_retried(failure: Exception) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise failure
        return httpx.Response(200, json={"code": 200})
    with AmplitudeSender("test-key-123", transport=httpx.MockTransport(handler), **FAST) as s:
        report = s.send(events(3))
    assert report.accepted == 3 and calls["n"] == 3


def test_deadline_bounds_retries_and_keeps_the_last_error() -> None:
    recorder = Recorder(lambda batch, n: httpx.Response(502, json={"code": 502, "error": "Bad Gateway"}))
    with sender(recorder, deadline=0.2) as s:
        report = s.send(events(2))
    assert report.undelivered == {"deadline passed": 2} and not report.ok
    assert report.dead_letters[0]["dead_letter"]["reason"] == \
        "deadline passed: not accepted within 0.2 s; last error: 502 Bad Gateway"


def test_a_2xx_body_that_is_not_json_still_counts_as_accepted() -> None:
    recorder = Recorder(lambda batch, n: httpx.Response(200, text="OK"))
    with sender(recorder) as s:
        assert s.send(events(2)).accepted == 2


def test_events_of_one_user_keep_their_order_with_concurrent_requests() -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()

    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        time.sleep(0.002 * (n % 3))
        if n % 4 == 0:
            return httpx.Response(503)
        with lock:
            for e in batch:
                seen[e["user_id"]].append(int(e["insert_id"].split("-")[1]))
        return httpx.Response(200, json={"code": 200})
    with sender(Recorder(respond), max_events=7, concurrency=4) as s:
        report = s.send(events(400, users=9))
    assert report.accepted == 400
    for user, order in seen.items():
        assert order == sorted(order), user


def test_ctrl_c_leaves_every_unsent_event_in_the_dead_letters(tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    progress_calls = {"n": 0}

    def interrupt(report: SendReport) -> None:
        progress_calls["n"] += 1
        if progress_calls["n"] == 2:
            raise KeyboardInterrupt

    with sender(Recorder(), max_events=10, concurrency=1, dead_letters=dead, on_progress=interrupt) as s, \
            pytest.raises(SendInterrupted) as caught:
        s.send(Outgoing(e, f"cio-{i}") for i, e in enumerate(events(1000)))
    report = caught.value.report
    assert report.interrupted and report.accepted == 20
    kept = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(kept) == 980 == report.undelivered["interrupted"]
    assert {k["event_id"] for k in kept} == {f"cio-{i}" for i in range(20, 1000)}


class MemorySink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, **record: Any) -> None:
        self.records.append(record)


def test_refs_come_back_through_on_accepted_and_a_dead_letter_sink() -> None:
    def respond(batch: list[dict[str, Any]], n: int) -> httpx.Response:
        bad = [i for i, e in enumerate(batch) if e["insert_id"] == "ins-000002"]
        if bad:
            return httpx.Response(400, json={"code": 400, "events_with_missing_fields": {"time": bad}})
        return httpx.Response(200, json={"code": 200})
    accepted: list[Any] = []
    sink = MemorySink()
    with sender(Recorder(respond), dead_letters=sink,
                on_accepted=lambda done: accepted.extend(o.ref for o in done)) as s:
        report = s.send(Outgoing(e, f"cio-{i}", ref=100 + i) for i, e in enumerate(events(4)))
    assert sorted(accepted) == [100, 101, 103] and report.ok
    (record,) = sink.records
    assert record["ref"] == 102 and record["kind"] == "set_aside"
    assert record["reason"] == "rejected by Amplitude (missing field time)"


def test_stop_returns_soon_and_leaves_unsettled_events_to_the_caller() -> None:
    with sender(Recorder(lambda batch, n: httpx.Response(503)), deadline=float("inf")) as s:
        threading.Timer(0.3, s.stop).start()
        start = time.monotonic()
        report = s.send(events(5))
    assert time.monotonic() - start < 2.0
    assert report.stopped and not report.ok
    assert report.accepted == 0 and not report.undelivered and report.pending == 5


def test_keep_unsent_on_fatal_leaves_the_rest_unread_for_a_caller_with_its_own_queue() -> None:
    recorder = Recorder(lambda batch, n: httpx.Response(400, json={"code": 400, "error": "Invalid API key"}))
    taken: list[int] = []

    def source() -> Any:
        for i, event in enumerate(events(30)):
            taken.append(i)
            yield event
    sink = MemorySink()
    with sender(recorder, max_events=5, concurrency=1, dead_letters=sink, keep_unsent_on_fatal=True) as s:
        report = s.send(source())
    assert report.fatal is not None and not report.ok
    assert sink.records == [] and not report.undelivered
    assert len(taken) < 30 and report.pending == report.events


class _Event(dict[str, Any]):
    """An event that can be watched with a weak reference."""


def test_events_waiting_are_kept_as_their_bodies_and_come_back_whole_in_dead_letters() -> None:
    """Amplitude can decode what it encoded, so the sender keeps no event objects while they
    wait or are in flight (fewer objects for the garbage collector), and a dead letter still
    carries the event as it was given; with `on_accepted` (which is given the events) they
    are kept."""
    expected = [dict(e, event_properties={"content": "Hello ✨", "nested": [{"a": None}, 1.5]},
                     groups={"account_id": ["1"]}) for e in events(4)]
    for keep in (False, True):
        given = [_Event(e) for e in expected]
        watched = [weakref.ref(e) for e in given]
        alive: list[int] = []

        def respond(batch: list[dict[str, Any]], n: int, watched: list[Any] = watched,
                    alive: list[int] = alive) -> httpx.Response:
            gc.collect()
            alive.append(sum(ref() is not None for ref in watched))
            bad = [i for i, e in enumerate(batch) if e["insert_id"] == "ins-000002"]
            if bad:
                return httpx.Response(400, json={"code": 400, "events_with_invalid_fields": {"time": bad}})
            return httpx.Response(200, json={"code": 200})

        def one_by_one(given: list[_Event] = given) -> Iterator[_Event]:
            while given:
                yield given.pop(0)   # only the sender holds it now
        options: dict[str, Any] = {"on_accepted": lambda done: None} if keep else {}
        with sender(Recorder(respond), **options) as s:
            report = s.send(one_by_one())
        assert alive[0] == (4 if keep else 0)
        assert report.accepted == 3 and report.ok
        (letter,) = report.dead_letters
        assert letter["event"] == expected[2]


def test_an_encoded_event_takes_its_own_size_in_memory() -> None:
    """orjson's bytes keep the buffer they were written in (several KB); the sender holds
    thousands of bodies, so `encode_json` returns them at their size."""
    event = dict(events(1)[0], event_properties={"content": "Hello ✨ " * 80})
    assert orjson.loads(encode_json(event)) == event
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bodies = [encode_json(event) for _ in range(100)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(bodies)
    finally:
        tracemalloc.stop()
    assert held < len(bodies[0]) + 200


def test_prepared_events_are_sent_as_given_and_decoded_only_for_a_dead_letter_or_on_accepted() -> None:
    """`Prepared` (checked and encoded already, by `send --workers`' workers): its body goes in
    the request byte for byte, its keys keep the order; too large, it is set aside with its
    event decoded; with `on_accepted`, which is given events, it is decoded."""
    given = [dict(e, event_properties={"n": [1.5, None, "✨"]}) for e in events(4, users=2)]
    # spaced as encode_json never writes them: a body checked or encoded again would not be sent as is
    bodies = [json.dumps(e, separators=(", ", ": "), ensure_ascii=False).encode() for e in given]
    big = dict(given[3], event_properties={"pad": "x" * 3000})

    def prepared() -> Iterator[Prepared]:
        for i, (event, body) in enumerate(zip(given, bodies, strict=True)):
            yield Prepared(body, (("user_id", event["user_id"]),), f"cio-{i}")
        yield Prepared(encode_json(big), (("user_id", big["user_id"]),), "cio-big")

    recorder = Recorder()
    with sender(recorder, max_bytes=2000, dead_letters=(sink := MemorySink())) as s:
        report = s.send(prepared())
    assert report.accepted == 4 and report.set_aside == {"event too large": 1}
    (request,) = recorder.requests
    assert request.content.split(b'"events":[')[1].startswith(b",".join(bodies) + b"]")
    (letter,) = sink.records
    assert (letter["event"], letter["event_id"], letter["kind"]) == (big, "cio-big", "set_aside")
    accepted: list[Outgoing] = []
    with sender(Recorder(), on_accepted=accepted.extend) as s:
        assert s.send(prepared()).accepted == 5
    assert [(o.event, o.source_id) for o in accepted] == [
        *((e, f"cio-{i}") for i, e in enumerate(given)), (big, "cio-big")]


def test_prepared_events_need_a_destination_that_decodes() -> None:
    class NoDecode:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name == "decode_event":
                raise AttributeError(name)
            return getattr(self._inner, name)

    with sender(Recorder()) as s:
        destination = NoDecode(s.destination)
    with Sender(destination, transport=httpx.MockTransport(Recorder())) as plain, \
            pytest.raises(TypeError, match="amplitude has no decode_event"):
        plain.send([Prepared(encode_json(events(1)[0]), ())])
