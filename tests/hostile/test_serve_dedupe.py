"""Item 9: a webhook without event_id is deduplicated by a stable hash of its body, and that hash
is its insert_id, the same in serve, replay and send. Before: neither deduplicated nor given an
insert_id, so every Customer.io retry of it became another event in Amplitude."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue

from ..conftest import MAPPING, ROOT
from ..test_server_harness import KEY, ServeProcess, metric, payload, wait_for
from .harness import post

pytestmark = pytest.mark.slow


def without_id(n: int, **changes: Any) -> dict[str, Any]:
    body = payload(n, **changes)
    del body["event_id"]
    return body


def hashed(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_webhooks_without_event_id_are_deduplicated_by_body_hash_which_is_their_insert_id(tmp_path: Path) -> None:
    first = without_id(1)
    blank = payload(2, event_id="  ")
    broken = without_id(3, timestamp="yesterday")              # a payload error, kept as a dead letter
    # a retry may come back spaced and ordered differently: the hash is of the canonical JSON
    retry = json.dumps(dict(reversed(list(first.items()))), indent=2, ensure_ascii=False).encode()
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url).wait_ready()
        try:
            answers = [post(server.url, body).json() for body in (
                json.dumps(first).encode(), retry, json.dumps(blank).encode(), json.dumps(blank).encode(),
                json.dumps(broken).encode(), json.dumps(broken).encode())]
            assert answers == [{"status": "stored"}, {"status": "duplicate"}, {"status": "stored"},
                               {"status": "duplicate"}, {"status": "dead_letter"}, {"status": "duplicate"}]
            wait_for(lambda: len(amplitude.ingested) == 2, 30, "delivery")
            assert metric(httpx.get(server.url + "/metrics").text, "transformer_webhooks_duplicate_total") == 3
        finally:
            server.stop()
    assert set(amplitude.ingested) == {hashed(first), hashed(blank)}
    assert amplitude.ingested[hashed(first)]["user_id"] == "user-00001"
    store = SqliteQueue(tmp_path / "var", create=False)
    (letter,) = store.letters()
    store.close()
    assert (letter.kind, letter.event_id) == ("payload_error", hashed(broken))

    # replay computes the same insert_id from the retry's bytes
    source = tmp_path / "retry.json"
    source.write_bytes(retry)
    replayed = subprocess.run([sys.executable, "-m", "transformer", "replay", str(source), "--mapping",
                               str(MAPPING)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(replayed.stdout)["insert_id"] == hashed(first)
