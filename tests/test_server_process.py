"""`transformer serve` as a real process: killed with SIGKILL mid-load and restarted, stopped
with SIGTERM mid-request; its logs never carry a secret or a message body."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue
from transformer.server.queue.sqlite import DB_NAME

from .test_server_harness import KEY, SECRET, ServeProcess, encode, metric, payload, signed, wait_for

pytestmark = pytest.mark.slow

HOOK = "/webhooks/customerio"
TOTAL = 800
WAVE = 100            # sent first; then the kill once
KILL_AFTER = 150      # more webhooks are acknowledged
DELIVERED_FIRST = 20  # events that reached Amplitude before the second wave


def fire(url: str, numbers: list[int], acked: set[str], lock: threading.Lock, pause: float = 0.0) -> None:
    """Post webhooks one after another; remember those answered 2xx."""
    with httpx.Client(timeout=10) as client:
        for n in numbers:
            time.sleep(pause)
            body = encode(payload(n))
            try:
                response = client.post(url + HOOK, content=body, headers=signed(body))
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                with lock:
                    acked.add(payload(n)["event_id"])


def test_every_acknowledged_webhook_reaches_amplitude_exactly_once_after_a_sigkill(tmp_path: Path) -> None:
    # retries and resends in flight: 503s, and 502s after ingesting (the second request surely)
    faults = Faults(error=0.25, error_after_ingest=0.25, seed=3, script=("", "error_after_ingest"))
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude:
        first = ServeProcess(data_dir, amplitude.url).wait_ready()
        acked: set[str] = set()
        lock = threading.Lock()
        numbers = list(range(1, TOTAL + 1))
        try:
            # a first wave, until forwarding is under way
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda i: fire(first.url, numbers[i:WAVE:4], acked, lock), range(4)))
            wait_for(lambda: len(amplitude.ingested) >= DELIVERED_FIRST, 60, "first deliveries")
            # then the rest from 8 clients, and the kill once KILL_AFTER more are acknowledged
            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(fire, first.url, numbers[WAVE + i::8], acked, lock, 0.005)
                           for i in range(8)]
                wait_for(lambda: len(acked) >= WAVE + KILL_AFTER or all(f.done() for f in futures), 60,
                         "acknowledgements")
                os.kill(first.process.pid, signal.SIGKILL)
                for future in futures:
                    future.result()
            assert first.process.wait(10) == -signal.SIGKILL
        finally:
            first.stop()
        acked_before_kill = set(acked)
        assert WAVE + KILL_AFTER <= len(acked_before_kill) < TOTAL, "the kill did not land mid-load"
        with sqlite3.connect(data_dir / DB_NAME) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        store = SqliteQueue(data_dir)
        pending_at_kill = store.stats().depth
        store.close()
        delivered_before_restart = set(amplitude.ingested)
        assert pending_at_kill > 0, "nothing was waiting for Amplitude when the server died"

        second = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            # every acknowledged webhook reaches Amplitude, with no help from Customer.io
            wait_for(lambda: acked_before_kill <= set(amplitude.ingested), 60,
                     "every acknowledged event to reach Amplitude")
            # then Customer.io retries what it never saw acknowledged: those committed just
            # before the kill are recognised as duplicates, the others are stored now
            fire(second.url, [n for n in numbers if payload(n)["event_id"] not in acked], acked, lock)
            assert len(acked) == TOTAL
            wait_for(lambda: len(amplitude.ingested) == TOTAL, 60, "every event to reach Amplitude")

            def drained() -> str | None:
                text = httpx.get(second.url + "/metrics").text
                return text if metric(text, "transformer_queue_depth") == 0 else None

            text = wait_for(drained, 30, "the store to drain")
        finally:
            second.stop()
    everything = {payload(n)["event_id"] for n in numbers}
    assert set(amplitude.ingested) == everything            # nothing lost, nothing invented
    assert all(event["insert_id"] in everything for event in amplitude.ingested.values())
    # a restart resends what was in flight when the server died: Amplitude keeps one copy each
    assert all(amplitude.received[event_id] >= 1 for event_id in everything)
    assert DELIVERED_FIRST <= len(delivered_before_restart) < TOTAL
    assert metric(text, "transformer_webhooks_duplicate_total") == \
        TOTAL - len(acked_before_kill) - metric(text, "transformer_events_stored_total")


def test_sigterm_stops_accepting_finishes_the_request_in_flight_and_exits_cleanly(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url).wait_ready()
        try:
            body = encode(payload(1))
            head = (f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n" +
                    "".join(f"{k}: {v}\r\n" for k, v in signed(body).items() if k != "Content-Type") +
                    "\r\n").encode()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                conn.sendall(head + body[:50])
                time.sleep(0.2)                          # the request is being read
                server.process.send_signal(signal.SIGTERM)
                wait_for(lambda: _refused(server.port), 10, "the port to stop accepting")
                conn.sendall(body[50:])
                answer = _read_response(conn)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert answer.endswith(b'{"status":"stored"}')
            assert server.process.wait(20) == 128 + signal.SIGTERM
        finally:
            server.stop()
        logs = server.stderr()
        assert '"msg":"receiver_stopped"' in logs
        store = SqliteQueue(tmp_path / "var")
        assert store.stats().depth + len(amplitude.ingested) == 1     # committed: pending or delivered
        store.close()
    for secret_or_body in (SECRET, KEY, "Welcome aboard", "p1@example.com"):
        assert secret_or_body not in logs


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _read_response(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest
