"""Item 1, the receiver's side: one poisonous webhook or stored row is kept aside, with the
reason, and never stops the others. Before: a webhook nested 255-490 levels deep was answered
`200 stored` and then failed in `orjson.dumps` on every forwarding round, for good."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue, create_app
from transformer.server.queue.base import Intake

from ..conftest import MAPPING, ROOT
from ..test_server_harness import (
    KEY,
    ServeProcess,
    encode,
    fast_options,
    mapping,
    metric,
    payload,
    running,
    wait_for,
)
from .harness import deep_body, deep_payload, post

pytestmark = pytest.mark.slow


def ids(*numbers: int) -> set[str]:
    return {payload(n)["event_id"] for n in numbers}


def resend(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transformer", "dead-letters", "resend", "--all",
                           "--data-dir", str(data_dir), "--mapping", str(MAPPING), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "AMPLITUDE_API_KEY": KEY})


def test_a_webhook_nested_deeper_than_the_limit_is_acknowledged_as_a_dead_letter_and_the_rest_flow(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    too_deep = deep_body(2, 129)
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            assert post(server.url, encode(payload(1))).json() == {"status": "stored"}
            answer = post(server.url, too_deep)
            assert (answer.status_code, answer.json()) == (
                200, {"status": "dead_letter", "error": "JSON nested deeper than 128 levels"})
            at_limit = post(server.url, deep_body(3, 128))
            assert at_limit.json() == {"status": "stored"}
            assert post(server.url, encode(payload(4))).json() == {"status": "stored"}
            wait_for(lambda: set(amplitude.ingested) == ids(1, 3, 4), 30, "everything but the deep one")
            store = SqliteQueue(data_dir, create=False)
            (letter,) = store.letters()
            store.close()
            assert (letter.kind, letter.reason, letter.event_id, letter.payload) == (
                "payload_error", "payload error: JSON nested deeper than 128 levels", None, too_deep)
            text = httpx.get(server.url + "/metrics").text
            assert metric(text, "transformer_webhooks_payload_errors_total") == 1
            assert httpx.get(server.url + "/readyz").json()["status"] == "ready"

            # resent with the same limit it stays; with a higher one it is transformed and sent
            again = resend(data_dir)
            assert again.returncode == 1, again.stderr
            assert "still failing, kept: payload error: JSON nested deeper than 128 levels" in again.stderr
            assert resend(data_dir, "--max-depth", "200").returncode == 0
            wait_for(lambda: set(amplitude.ingested) == ids(1, 2, 3, 4), 30, "the resent letter")
        finally:
            server.stop()
    assert amplitude.ingested[payload(2)["event_id"]]["event_properties"]["nest"] == \
        deep_payload(2, 129)["data"]["nest"]


def test_an_event_too_deep_to_encode_is_set_aside_and_forwarding_goes_on_across_restarts(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(data_dir, amplitude.url, "--max-depth", "512").wait_ready()
        try:
            for body in (encode(payload(1)), deep_body(2, 300), encode(payload(3))):
                assert post(server.url, body).json() == {"status": "stored"}
            wait_for(lambda: set(amplitude.ingested) == ids(1, 3), 30, "the events around the deep one")

            def set_aside() -> str | None:
                text = httpx.get(server.url + "/metrics").text
                done = metric(text, "transformer_dead_letters") == 1 and \
                    metric(text, "transformer_queue_depth") == 0
                return text if done else None

            text = wait_for(set_aside, 30, "the deep event to be set aside")
            assert metric(text, "transformer_events_set_aside_total",
                          reason="cannot be encoded as JSON") == 1
            assert metric(text, "transformer_forwarding_errors_total", kind="internal") == 0
        finally:
            server.stop()
        store = SqliteQueue(data_dir, create=False)
        (letter,) = store.letters()
        assert (letter.kind, letter.reason, letter.event_id) == (
            "set_aside", "cannot be encoded as JSON: Recursion limit reached", payload(2)["event_id"])
        assert store.stats().depth == 0
        store.close()
        # and after a restart nothing is stuck: the next webhook goes straight through
        again = ServeProcess(data_dir, amplitude.url, "--max-depth", "512").wait_ready()
        try:
            assert post(again.url, encode(payload(4))).json() == {"status": "stored"}
            wait_for(lambda: set(amplitude.ingested) == ids(1, 3, 4), 30, "the next webhook")
        finally:
            again.stop()


def test_a_stored_row_that_cannot_be_decoded_is_set_aside_and_the_others_delivered(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    event = mapping("http://127.0.0.1:9").apply(payload(1)).events[0]
    store = SqliteQueue(data_dir)
    store.intake([Intake("bad-row", [b'{"user_id": "broken']), Intake(event["insert_id"], [orjson.dumps(event)])])
    store.close()
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            wait_for(lambda: set(amplitude.ingested) == ids(1), 30, "the good row")
            wait_for(lambda: metric(httpx.get(server.url + "/metrics").text, "transformer_dead_letters") == 1,
                     30, "the bad row to be set aside")
        finally:
            server.stop()
    store = SqliteQueue(data_dir, create=False)
    (letter,) = store.letters()
    store.close()
    assert (letter.kind, letter.event_id, letter.event) == ("set_aside", "bad-row", b'{"user_id": "broken')
    assert letter.reason.startswith("cannot be decoded: unexpected end of data")


def test_whatever_the_mapping_raises_becomes_a_dead_letter_for_that_webhook(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path / "var")
    with FakeAmplitude(api_key=KEY) as amplitude:
        app = create_app(mapping(amplitude.url), store, fast_options())
        real_apply = app.state.receiver.mapping.apply

        def apply(body: Any) -> Any:
            if body.get("metric") == "bounced":
                raise RuntimeError("a bug in a filter")
            return real_apply(body)

        app.state.receiver.mapping.apply = apply
        bad = encode(payload(2, metric="bounced"))
        with running(app) as url:
            answers = [post(url, body).json() for body in (encode(payload(1)), bad, encode(payload(3)))]
            assert answers == [{"status": "stored"}, {"status": "dead_letter"}, {"status": "stored"}]
            wait_for(lambda: set(amplitude.ingested) == ids(1, 3), 30, "the other webhooks")
        (letter,) = store.letters()
    store.close()
    assert (letter.kind, letter.reason, letter.event_id, letter.payload) == (
        "payload_error", "cannot be transformed: RuntimeError: a bug in a filter", payload(2)["event_id"], bad)
