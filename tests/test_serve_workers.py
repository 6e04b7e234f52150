"""`transformer serve --workers N`: N receiver processes on one port and one queue, the forwarder
in their supervisor. Every webhook is stored once (the dedupe holds across workers) and
delivered once; /metrics shows the whole server from any worker; a worker that dies is started
again; the workers die with their supervisor; SIGTERM stops them all cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue
from transformer.server.queue.sqlite import DB_NAME

from .test_server_harness import KEY, ServeProcess, encode, mapping, metric, payload, signed, wait_for

pytestmark = pytest.mark.slow

HOOK = "/webhooks/customerio"


def _post_all(url: str, numbers: list[int]) -> list[int]:
    """Post the webhooks of `numbers` from 8 threads; their answers' status codes, in order."""
    def post(share: list[int]) -> list[int]:
        with httpx.Client(base_url=url, timeout=30) as client:
            codes = []
            for n in share:
                body = encode(payload(n))
                codes.append(client.post(HOOK, content=body, headers=signed(body)).status_code)
            return codes

    with ThreadPoolExecutor(8) as pool:
        shares = list(pool.map(post, [numbers[i::8] for i in range(8)]))
    return [code for share in shares for code in share]


def _workers(server: ServeProcess) -> list[int]:
    """The pids of the workers started so far, from the supervisor's log."""
    return [int(pid) for pid in re.findall(r'"msg":"worker_started","worker":\d+,"pid":(\d+)', server.stderr())]


def _peers(server: ServeProcess) -> Path:
    """The folder of the server's peers (its `serving` log line)."""
    return Path(json.loads(next(line for line in server.stderr().splitlines()
                                if '"msg":"serving"' in line))["peers"])


def _snapshot_text(server: ServeProcess, index: int) -> str:
    """Worker `index`'s last published counters, as Prometheus text."""
    from transformer.server.metrics import ReceiverMetrics

    snapshot = json.loads((_peers(server) / f"worker-{index}.json").read_bytes())["metrics"]
    return ReceiverMetrics().render([snapshot])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_store_each_webhook_once_and_deliver_it_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(data_dir, amplitude.url, "--workers", "2").wait_ready()
        try:
            numbers = list(range(1, 201))
            codes = _post_all(server.url, numbers + numbers[:40])   # 40 of them twice
            assert codes == [200] * 240
            wait_for(lambda: len(amplitude.ingested) >= 200, 30, "every event at the fake Amplitude")
            assert sorted(amplitude.ingested) == sorted(
                str(event["insert_id"]) for n in numbers for event in _events(n))

            def counted() -> str | None:
                text = httpx.get(f"{server.url}/metrics", timeout=10).text
                return text if metric(text, "transformer_events_delivered_total") == 200 else None

            text = wait_for(counted, 15, "the supervisor's delivered count in a worker's /metrics")
            assert metric(text, "transformer_webhooks_received_total") == 240
            assert metric(text, "transformer_events_stored_total") == 200
            assert metric(text, "transformer_webhooks_duplicate_total") == 40
            assert metric(text, "transformer_webhook_duration_seconds_count") == 240
            assert metric(text, "transformer_queue_depth") == 0
            health = httpx.get(f"{server.url}/healthz", timeout=10).json()
            assert health["status"] == "ok" and health["forwarding"] == "ok"
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
            workers = _workers(server)
            assert len(workers) == 2
            folder = _peers(server)
            assert sorted(p.name for p in folder.glob("*.json")) == [
                "supervisor.json", "worker-0.json", "worker-1.json"]
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(60) == 143
        finally:
            server.stop()
    assert all(_gone(pid) for pid in workers)
    assert not folder.exists()
    logs = server.stderr()
    assert logs.count('"msg":"receiver_stopped"') == 3 and "Traceback" not in logs
    assert KEY not in logs
    with sqlite3.connect(data_dir / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SqliteQueue(data_dir, create=False)
    try:
        assert store.pending(10) == []
    finally:
        store.close()


def _events(n: int) -> list[dict[str, Any]]:
    return mapping("http://127.0.0.1:9").apply(payload(n)).events


def test_a_dead_worker_is_started_again_and_workers_die_with_their_supervisor(tmp_path: Path) -> None:
    from transformer.cli.serve_workers import QUICK_EXIT

    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--workers", "2").wait_ready()
        try:
            started = _workers(server)
            assert _post_all(server.url, list(range(1, 21))) == [200] * 20
            threading.Event().wait(QUICK_EXIT + 0.5)   # past the start: a death is not a failed start
            # the worker that took webhooks in (the connections may all have gone to one)
            counted = [metric(_snapshot_text(server, index), "transformer_webhooks_received_total")
                       for index in (0, 1)]
            victim = 0 if counted[0] else 1
            assert sum(counted) == 20 and counted[victim] > 0
            os.kill(started[victim], signal.SIGKILL)
            wait_for(lambda: len(_workers(server)) == 3, 30, "the killed worker to be started again")
            assert _workers(server)[:2] == started
            assert f'"msg":"worker_exited","worker":{victim}' in server.stderr()
            assert _post_all(server.url, list(range(21, 61))) == [200] * 40
            wait_for(lambda: len(amplitude.ingested) >= 60, 30, "the events at the fake Amplitude")

            def received() -> bool:   # the dead worker's counts stay in the sums
                text = httpx.get(f"{server.url}/metrics", timeout=10).text
                return metric(text, "transformer_webhooks_received_total") == 60

            wait_for(received, 15, "every webhook counted, the dead worker's too")
            assert len(list(_peers(server).glob("retired-worker-*.json"))) == 1
            survivors = [pid for pid in _workers(server) if pid != started[victim]]
            server.process.kill()
            server.process.wait(10)
            wait_for(lambda: all(_gone(pid) for pid in survivors), 30, "the workers to end with it")
        finally:
            server.stop()
