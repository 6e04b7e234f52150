"""The receiver goes through its Source (verify, split into payloads) and forwards through any
Destination: the http destination the mapping is switched to, and a source of the test's own
that takes several payloads per body at /webhooks/<its name>."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from transformer import load_mapping
from transformer.destinations.http.fake import FakeHttp
from transformer.server import SqliteQueue, create_app

from .conftest import MAPPING
from .test_server_harness import SECRET, encode, fast_options, payload, running, signed, wait_for

TOKEN = "Bearer server-token-0123456789"


class Batches:
    """A source of the test's own: a JSON array of payloads per body, a shared token in a header."""

    name = "batches"
    verifies = True
    rejections = ("missing", "mismatch")
    secrets = ("batch-token-0123456789",)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
        token = headers.get("x-batch-token")
        return "missing" if token is None else (None if token == self.secrets[0] else "mismatch")

    def payloads(self, body: Any) -> list[Any]:
        return list(body) if isinstance(body, list) else [body]


@pytest.mark.slow
def test_webhooks_are_forwarded_to_the_http_destination(tmp_path: Path) -> None:
    with FakeHttp(token=TOKEN) as collector:
        compiled = load_mapping(MAPPING, {"url": f"{collector.url}/in", "auth_token": TOKEN,
                                          "signing_secret": SECRET}, destination="http")
        store = SqliteQueue(tmp_path / "var")
        with running(create_app(compiled, store, fast_options())) as url:
            body = encode(payload(1))
            answer = httpx.post(url + "/webhooks/customerio", content=body, headers=signed(body), timeout=30)
            assert answer.json() == {"status": "stored"}
            wait_for(lambda: len(collector.kept) == 1, what="delivery to the collector")
            assert httpx.get(url + "/healthz", timeout=30).json()["forwarding"] == "ok"
        store.close()
        (event,) = collector.kept.values()
    assert event["insert_id"] == "01JTEST0000000000000000001" and event["event_type"] == "Email Delivered"


@pytest.mark.slow
def test_a_source_of_ones_own_verifies_and_splits_bodies(tmp_path: Path) -> None:
    compiled = load_mapping(MAPPING)
    store = SqliteQueue(tmp_path / "var")
    app = create_app(compiled, store, fast_options(forward=False), source=Batches())
    with running(app) as url:
        hook = url + "/webhooks/batches"
        token = {"x-batch-token": "batch-token-0123456789"}
        assert httpx.post(hook, content=encode([payload(1)]), timeout=30).status_code == 401
        assert httpx.post(url + "/webhooks/customerio", content=b"{}", timeout=30).status_code == 404
        answer = httpx.post(hook, content=encode([payload(1), payload(2), payload(1), payload(3, timestamp="x")]),
                            headers=token, timeout=30)
        assert (answer.status_code, answer.json()["status"]) == (200, "received")
        assert [p["status"] for p in answer.json()["payloads"]] == ["stored", "stored", "duplicate", "dead_letter"]
        assert httpx.post(hook, content=b"[]", headers=token, timeout=30).json() == {"status": "empty",
                                                                                   "payloads": []}
        one = httpx.post(hook, content=encode(payload(4)), headers=token, timeout=30)
        assert one.json() == {"status": "stored"}      # a body of one payload answers as before
        metrics = httpx.get(url + "/metrics", timeout=30).text
    assert 'transformer_webhooks_signature_rejected_total{reason="missing"} 1' in metrics
    assert store.stats().depth == 3
    (letter,) = store.letters()
    assert letter.kind == "payload_error" and letter.event_id == "01JTEST0000000000000000003"
    store.close()
