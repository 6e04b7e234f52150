"""The receiver served by uvicorn on 127.0.0.1, forwarding to a fake Amplitude on 127.0.0.1."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from transformer import load_mapping
from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue, create_app
from transformer.server.app import ReceiverOptions

from .conftest import MAPPING
from .test_server_harness import (
    KEY,
    SECRET,
    encode,
    fast_options,
    mapping,
    metric,
    payload,
    receiver,
    running,
    signed,
    wait_for,
)

pytestmark = pytest.mark.slow  # the receiver, served by uvicorn on 127.0.0.1

HOOK = "/webhooks/customerio"


@pytest.fixture
def amplitude() -> Iterator[FakeAmplitude]:
    with FakeAmplitude(api_key=KEY) as server:
        yield server


@pytest.fixture
def served(tmp_path: Path, amplitude: FakeAmplitude) -> Iterator[tuple[str, SqliteQueue]]:
    with receiver(tmp_path / "var", amplitude.url) as pair:
        yield pair


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + HOOK, content=body, headers=headers or {}, timeout=10)


def metrics(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=10).text


def test_a_signed_webhook_is_stored_acknowledged_and_delivered(served: tuple[str, SqliteQueue],
                                                               amplitude: FakeAmplitude) -> None:
    url, _ = served
    body = encode(payload(1))
    response = post(url, body, signed(body))
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    event = wait_for(lambda: amplitude.ingested.get("01JTEST0000000000000000001"), what="delivery")
    assert (event["event_type"], event["user_id"], event["time"]) == ("Email Delivered", "user-00001",
                                                                      1_700_000_001_000)
    def drained() -> str | None:
        text = metrics(url)
        done = metric(text, "transformer_events_delivered_total") == 1
        return text if done and metric(text, "transformer_queue_depth") == 0 else None

    text = wait_for(drained, what="the queue to drain")
    assert metric(text, "transformer_webhooks_received_total") == 1
    assert metric(text, "transformer_events_stored_total") == 1
    assert metric(text, "transformer_delivery_requests_total") == 1
    assert metric(text, "transformer_webhook_duration_seconds_count") == 1


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing"),
    ({"X-CIO-Timestamp": str(int(time.time()))}, "missing"),
    ({"X-CIO-Timestamp": "soon", "X-CIO-Signature": "00"}, "malformed"),
    ("wrong secret", "mismatch"),
    ("stale", "stale"),
    ("future", "stale"),
    ("other body", "mismatch"),
])
def test_a_missing_wrong_or_stale_signature_gets_the_same_bare_401(
        served: tuple[str, SqliteQueue], amplitude: FakeAmplitude, headers: dict[str, str] | str,
        reason: str) -> None:
    url, store = served
    body = encode(payload(2))
    given = {"wrong secret": signed(body, secret="not-the-secret"),
             "stale": signed(body, at=time.time() - 301), "future": signed(body, at=time.time() + 360),
             "other body": signed(encode(payload(3)))}.get(headers, headers) \
        if isinstance(headers, str) else headers
    response = post(url, body, given)   # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.content == b'{"error":"unauthorized"}'
    text = metrics(url)
    assert metric(text, "transformer_webhooks_signature_rejected_total", reason=reason) == 1
    assert store.stats().depth == 0 and store.seen_count() == 0
    # the same event, properly signed afterwards, is not mistaken for a duplicate
    assert post(url, body, signed(body)).json() == {"status": "stored"}


def test_a_body_over_the_limit_gets_413_whether_its_length_is_declared_or_not(
        tmp_path: Path, amplitude: FakeAmplitude) -> None:
    with receiver(tmp_path / "var", amplitude.url, fast_options(max_body_bytes=1000)) as (url, store):
        small = encode(payload(1))
        big = encode(payload(2, padding="x" * 1000))
        assert len(small) <= 1000 < len(big)
        assert post(url, big, signed(big)).status_code == 413

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(big), 100):
                yield big[start:start + 100]

        streamed = httpx.post(url + HOOK, content=chunks(), headers=signed(big), timeout=10)
        assert streamed.status_code == 413 and streamed.json() == {"error": "body too large"}
        assert post(url, small, signed(small)).status_code == 200
        assert metric(metrics(url), "transformer_webhooks_invalid_total", reason="too_large") == 2
        assert store.seen_count() == 1


def test_the_default_limit_is_one_mebibyte(served: tuple[str, SqliteQueue]) -> None:
    url, _ = served
    body = encode(payload(1, padding="x" * 1_048_576))
    assert post(url, body, signed(body)).status_code == 413


@pytest.mark.parametrize("body", [b"not json", b"{\"event_id\": ", b"", b"\xff\xfe{}", b"{\"a\": NaN}"])
def test_a_signed_body_that_is_not_json_gets_400(served: tuple[str, SqliteQueue], body: bytes) -> None:
    url, store = served
    response = post(url, body, signed(body))
    assert (response.status_code, response.json()) == (400, {"error": "body is not JSON"})
    assert metric(metrics(url), "transformer_webhooks_invalid_total", reason="not_json") == 1
    assert store.stats().depth == 0 and store.stats().letters == 0


def test_an_unsigned_body_that_is_not_json_is_refused_as_unsigned_first(served: tuple[str, SqliteQueue]) -> None:
    url, _ = served
    assert post(url, b"not json").status_code == 401


def test_a_repeated_event_id_is_acknowledged_and_not_enqueued_again(
        served: tuple[str, SqliteQueue], amplitude: FakeAmplitude) -> None:
    url, store = served
    body = encode(payload(5))
    assert post(url, body, signed(body)).json() == {"status": "stored"}
    wait_for(lambda: "01JTEST0000000000000000005" in amplitude.ingested, what="delivery")
    wait_for(lambda: store.stats().depth == 0, what="the delete")
    # Customer.io's retry carries a fresh timestamp and signature, and the same event_id
    again = post(url, body, signed(body, at=time.time() + 1))
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    changed = encode(payload(5, metric="opened"))     # same id, other content: still the same event
    assert post(url, changed, signed(changed)).json() == {"status": "duplicate"}
    time.sleep(0.2)   # a round of the forwarder, had anything been enqueued
    assert store.stats().depth == 0
    assert amplitude.received["01JTEST0000000000000000005"] == 1
    assert metric(metrics(url), "transformer_webhooks_duplicate_total") == 2


def test_skipped_payloads_are_acknowledged_counted_by_rule_and_not_stored(
        tmp_path: Path, amplitude: FakeAmplitude) -> None:
    with receiver(tmp_path / "var", amplitude.url, events="email/*") as (url, store):
        nobody = payload(1)
        nobody["data"]["identifiers"] = {"cio_id": "abc", "email": "x@example.com", "id": None}
        unselected = payload(2, object_type="sms", metric="sent")
        answers = [post(url, encode(p), signed(encode(p))) for p in (nobody, unselected, unselected)]
        assert [(r.status_code, r.json()) for r in answers] == [
            (200, {"status": "skipped", "rule": "no_identity"}),
            (200, {"status": "skipped", "rule": "not_selected"}),
            (200, {"status": "skipped", "rule": "not_selected"})]
        text = metrics(url)
        assert metric(text, "transformer_webhooks_skipped_total", rule="no_identity") == 1
        assert metric(text, "transformer_webhooks_skipped_total", rule="not_selected") == 2
        assert store.stats().depth == 0 and store.seen_count() == 0 and store.stats().letters == 0
    assert amplitude.ingested == {}


def test_a_payload_the_mapping_cannot_handle_is_acknowledged_and_kept_as_a_dead_letter(
        served: tuple[str, SqliteQueue], amplitude: FakeAmplitude) -> None:
    url, store = served
    body = encode(payload(7, timestamp="2024-01-01"))
    response = post(url, body, signed(body))
    assert (response.status_code, response.json()) == (200, {"status": "dead_letter"})
    (letter,) = store.letters()
    assert (letter.kind, letter.event_id, letter.payload) == ("payload_error", "01JTEST0000000000000000007",
                                                              body)
    assert letter.reason.startswith("payload error: fields.time.filters[0]: seconds_to_ms expects")
    text = metrics(url)
    assert metric(text, "transformer_webhooks_payload_errors_total") == 1
    assert metric(text, "transformer_dead_letters") == 1
    for not_an_object in (b"[1, 2]", b'"text"', b"null"):
        assert post(url, not_an_object, signed(not_an_object)).json() == {"status": "dead_letter"}
    assert store.stats().letters == 4 and amplitude.ingested == {}


def test_an_event_amplitude_would_refuse_is_set_aside_in_the_store_with_the_reason(
        tmp_path: Path, amplitude: FakeAmplitude) -> None:
    with receiver(tmp_path / "var", amplitude.url, min_id_length=5) as served:
        _check_short_id_is_set_aside(served, amplitude)


def _check_short_id_is_set_aside(served: tuple[str, SqliteQueue], amplitude: FakeAmplitude) -> None:
    url, store = served
    short = payload(8)
    short["data"]["identifiers"]["id"] = "42"
    fine = payload(9)
    for p in (short, fine):
        assert post(url, encode(p), signed(encode(p))).json() == {"status": "stored"}
    wait_for(lambda: store.stats().letters == 1 and store.stats().depth == 0, what="the set-aside")
    (letter,) = store.letters()
    assert (letter.kind, letter.event_id) == ("set_aside", "01JTEST0000000000000000008")
    assert letter.reason.startswith("id shorter than min_id_length")
    assert orjson.loads(letter.event or b"{}")["user_id"] == "42"
    assert list(amplitude.ingested) == ["01JTEST0000000000000000009"]
    assert metric(metrics(url), "transformer_events_set_aside_total",
                  reason="id shorter than min_id_length") == 1


def test_healthz_reports_the_receiver_and_other_methods_and_paths_are_refused(
        served: tuple[str, SqliteQueue]) -> None:
    url, _ = served
    health = httpx.get(url + "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "problems": [], "forwarding": "ok",
                                                         "signatures": "verified"})
    assert httpx.get(url + HOOK).status_code == 405
    assert httpx.post(url + "/webhooks/other", content=b"{}").status_code == 404
    assert httpx.get(url + "/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")


def test_without_a_secret_the_app_refuses_to_start_unless_unsigned_is_allowed(
        tmp_path: Path, amplitude: FakeAmplitude) -> None:
    compiled = load_mapping(MAPPING, {"endpoint": amplitude.url, "api_key": KEY}, environ={})
    store = SqliteQueue(tmp_path / "var")
    with pytest.raises(ValueError, match="no signing secret"):
        create_app(compiled, store)
    app = create_app(compiled, store, ReceiverOptions(allow_unsigned=True, linger=0.01))
    with running(app) as url:
        body = encode(payload(1))
        assert post(url, body).json() == {"status": "stored"}
        assert httpx.get(url + "/healthz").json()["signatures"] == "NOT VERIFIED"
        wait_for(lambda: "01JTEST0000000000000000001" in amplitude.ingested, what="delivery")
    store.close()


def test_a_secret_given_to_create_app_overrides_the_setting(tmp_path: Path, amplitude: FakeAmplitude) -> None:
    compiled = load_mapping(MAPPING, {"endpoint": amplitude.url, "api_key": KEY, "signing_secret": SECRET},
                            environ={})
    store = SqliteQueue(tmp_path / "var")
    with running(create_app(compiled, store, fast_options(), signing_secret="rotated-secret")) as url:
        body = encode(payload(1))
        assert post(url, body, signed(body)).status_code == 401
        assert post(url, body, signed(body, secret="rotated-secret")).status_code == 200
    store.close()


def test_with_forwarding_off_webhooks_are_only_stored(tmp_path: Path, amplitude: FakeAmplitude) -> None:
    with receiver(tmp_path / "var", amplitude.url, fast_options(forward=False)) as (url, store):
        body = encode(payload(1))
        assert post(url, body, signed(body)).json() == {"status": "stored"}
        assert httpx.get(url + "/healthz").json()["forwarding"] == "off"
        time.sleep(0.2)
        assert store.stats().depth == 1
    assert amplitude.ingested == {}



def test_mounted_in_another_app_the_webhook_route_answers_as_served_alone(
        tmp_path: Path, amplitude: FakeAmplitude) -> None:
    """Under a prefix the app's shortcut for its webhook path does not apply: the request takes
    Starlette's router to the same handler, with the same answers."""
    store = SqliteQueue(tmp_path / "var")
    inner = create_app(mapping(amplitude.url), store, fast_options())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            yield

    host = Starlette(routes=[Mount("/in", app=inner)], lifespan=lifespan)
    with running(host) as url:
        body = encode(payload(1))
        response = httpx.post(url + "/in" + HOOK, content=body, headers=signed(body), timeout=10)
        assert (response.status_code, response.json()) == (200, {"status": "stored"})
        assert response.headers["content-type"] == "application/json"
        assert httpx.post(url + "/in" + HOOK, content=body, timeout=10).status_code == 401
        assert httpx.get(url + "/in" + HOOK, timeout=10).status_code == 405
        wait_for(lambda: "01JTEST0000000000000000001" in amplitude.ingested, what="delivery")
    store.close()


def test_of_a_repeated_signature_header_the_first_counts(served: tuple[str, SqliteQueue]) -> None:
    url, _ = served
    body = encode(payload(1))
    good = signed(body)
    timestamp, signature, wrong = (("X-CIO-Timestamp", good["X-CIO-Timestamp"]),
                                   ("X-CIO-Signature", good["X-CIO-Signature"]), ("X-CIO-Signature", "0" * 64))
    assert httpx.post(url + HOOK, content=body, headers=[timestamp, wrong, signature]).status_code == 401
    assert httpx.post(url + HOOK, content=body, headers=[timestamp, signature, wrong]).status_code == 200


def test_middleware_added_to_the_app_sees_the_webhooks_too(tmp_path: Path, amplitude: FakeAmplitude) -> None:
    store = SqliteQueue(tmp_path / "var")
    app = create_app(mapping(amplitude.url), store, fast_options())
    seen: list[str] = []

    class Tap:
        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(f"{scope.get('method')} {scope.get('path')}")
            await self.inner(scope, receive, send)

    app.add_middleware(Tap)
    with running(app) as url:
        body = encode(payload(1))
        assert post(url, body, signed(body)).json() == {"status": "stored"}
    store.close()
    assert f"POST {HOOK}" in seen
