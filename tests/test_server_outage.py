"""Amplitude down or refusing our key: webhooks are still acknowledged, the store fills, and it
drains once Amplitude answers again."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue

from .test_server_harness import KEY, encode, metric, payload, receiver, signed, wait_for

pytestmark = pytest.mark.slow  # the receiver, served by uvicorn on 127.0.0.1

HOOK = "/webhooks/customerio"


def post_all(url: str, first: int, count: int) -> list[int]:
    with httpx.Client(timeout=10) as client:
        statuses = []
        for n in range(first, first + count):
            body = encode(payload(n))
            statuses.append(client.post(url + HOOK, content=body, headers=signed(body)).status_code)
        return statuses


def test_an_outage_fills_the_store_and_it_drains_when_amplitude_is_back(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY, faults=Faults(down=True)) as amplitude, \
            receiver(tmp_path / "var", amplitude.url) as (url, store):
        assert post_all(url, 1, 30) == [200] * 30

        def backlog() -> str | None:
            text = httpx.get(url + "/metrics").text
            return text if metric(text, "transformer_delivery_retries_total") >= 2 else None

        text = wait_for(backlog, what="retries against the outage")
        assert metric(text, "transformer_queue_depth") == 30
        assert metric(text, "transformer_queue_oldest_age_seconds") > 0
        assert metric(text, "transformer_events_delivered_total") == 0
        assert amplitude.ingested == {} and amplitude.stats()["statuses"]["503"] >= 3
        assert post_all(url, 31, 10) == [200] * 10        # still acknowledging during the outage

        amplitude.faults.down = False
        wait_for(lambda: len(amplitude.ingested) == 40, what="the backlog to reach Amplitude")
        wait_for(lambda: store.stats().depth == 0, what="the store to drain")
        text = httpx.get(url + "/metrics").text
        assert metric(text, "transformer_events_delivered_total") == 40
        assert metric(text, "transformer_queue_depth") == 0
        assert metric(text, "transformer_queue_oldest_age_seconds") == 0
        assert store.stats().letters == 0
    assert set(amplitude.ingested) == {payload(n)["event_id"] for n in range(1, 41)}


def test_a_refused_api_key_blocks_forwarding_without_dead_lettering_and_a_fixed_key_drains(
        tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        with receiver(tmp_path / "var", amplitude.url, api_key="revoked-key-0000") as (url, store):
            assert post_all(url, 1, 5) == [200] * 5
            wait_for(lambda: httpx.get(url + "/healthz").json()["forwarding"] == "blocked",
                     what="forwarding to be reported blocked")
            text = httpx.get(url + "/metrics").text
            assert metric(text, "transformer_forwarding_blocked") == 1
            assert metric(text, "transformer_queue_depth") == 5
            assert store.stats().letters == 0           # kept pending, not dead-lettered
            assert amplitude.stats()["statuses"]["400"] >= 1
        # the operator fixes the key and restarts on the same data dir
        with receiver(tmp_path / "var", amplitude.url) as (url, store):
            wait_for(lambda: len(amplitude.ingested) == 5, what="the backlog to reach Amplitude")
            wait_for(lambda: store.stats().depth == 0, what="the store to drain")
            assert httpx.get(url + "/healthz").json()["forwarding"] == "ok"


def test_pending_events_survive_a_clean_restart_and_are_sent_by_the_next_run(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY, faults=Faults(down=True)) as amplitude:
        with receiver(tmp_path / "var", amplitude.url) as (url, store):
            assert post_all(url, 1, 8) == [200] * 8
        between = SqliteQueue(tmp_path / "var")
        assert between.stats().depth == 8
        between.close()
        amplitude.faults.down = False
        with receiver(tmp_path / "var", amplitude.url) as (url, store):
            wait_for(lambda: len(amplitude.ingested) == 8 and store.stats().depth == 0, what="the drain")
