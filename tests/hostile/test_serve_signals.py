"""Signals for serve: SIGTERM and Ctrl-C at random moments under load finish cleanly every time:
requests in flight are answered, what was acknowledged is committed, the store is closed, and
the exit code says which signal it was (143, 130). A second Ctrl-C forces the exit (requests in
flight are dropped unanswered, so Customer.io retries them) and still loses nothing that was
acknowledged. Before: exit 0, whatever the signal."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue
from transformer.server.queue.sqlite import DB_NAME

from ..test_server_harness import KEY, ServeProcess, encode, payload, signed
from .harness import HOOK

pytestmark = pytest.mark.slow


def load(url: str, first: int, acked: set[str], stop: threading.Event) -> None:
    """Post webhooks one after another until the server is gone; remember what was acknowledged."""
    with httpx.Client(base_url=url, timeout=10) as client:
        n = first
        while not stop.is_set():
            body = encode(payload(n))
            try:
                answer = client.post(HOOK, content=body, headers=signed(body))
            except httpx.TransportError:
                return
            if answer.status_code == 200:
                acked.add(payload(n)["event_id"])
            n += 4


@pytest.mark.parametrize(("signals", "code"), [
    ([signal.SIGTERM], 143), ([signal.SIGINT], 130), ([signal.SIGINT, signal.SIGINT], 130)],
    ids=["sigterm", "ctrl-c", "ctrl-c-twice"])
def test_a_signal_at_a_random_moment_under_load_stops_cleanly(tmp_path: Path, signals: list[int],
                                                              code: int) -> None:
    rng = random.Random(f"{signals}")
    for round_ in range(3 - len(signals)):
        data_dir = tmp_path / f"var{round_}"
        with FakeAmplitude(api_key=KEY, faults=Faults(error=0.3, seed=round_)) as amplitude:
            server = ServeProcess(data_dir, amplitude.url).wait_ready()
            acked: set[str] = set()
            stop = threading.Event()
            clients = [threading.Thread(target=load, args=(server.url, i * 100_000 + 1, acked, stop))
                       for i in range(4)]
            try:
                for client in clients:
                    client.start()
                time.sleep(rng.uniform(0.1, 1.0))
                for sig in signals:
                    server.process.send_signal(sig)
                    time.sleep(rng.uniform(0.0, 0.05))
                assert server.process.wait(30) == code
            finally:
                stop.set()
                for client in clients:
                    client.join(30)
                server.stop()
            delivered = set(amplitude.ingested)
        logs = server.stderr()
        assert logs.count('"msg":"receiver_stopped"') == 1
        if len(signals) == 1:  # a second Ctrl-C forces the exit: uvicorn cancels its lifespan, noisily
            assert "Traceback" not in logs
        with sqlite3.connect(data_dir / DB_NAME) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        store = SqliteQueue(data_dir, create=False)
        pending = {row.event_id for row in store.pending(100_000)}
        store.close()
        assert acked, "nothing was acknowledged before the signal"
        assert acked <= pending | delivered, "an acknowledged webhook was lost"
