"""Item 3: request headers are bounded before anything else runs. Before: httptools accepted a
16 MiB header, and 8 connections streaming 64 MB of headers took serve from 58 to 553 MB."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude

from ..test_server_harness import KEY, ServeProcess, encode, metric, payload, signed
from .harness import HOOK, read_answer, rss_kib

pytestmark = pytest.mark.slow

REFUSED = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
           b"content-length: 51\r\nconnection: close\r\n\r\n"
           b'{"error":"request headers larger than 32768 bytes"}')
FLOOD = 8 * 1024 * 1024        # bytes of header each connection tries to send
CONNECTIONS = 8


def flood(port: int) -> bytes:
    """Stream one endless header; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ".encode())
        chunk = b"a" * 65536
        try:
            for _ in range(FLOOD // len(chunk)):
                conn.sendall(chunk)
        except OSError:  # the server closed the connection after answering
            pass
        return read_answer(conn)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_header_floods_get_431_and_do_not_grow_the_server(tmp_path: Path, parser: str) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--http", parser).wait_ready()
        try:
            before = rss_kib(server.process.pid)
            peak = [before]
            done = threading.Event()

            def watch() -> None:
                while not done.is_set():
                    peak.append(rss_kib(server.process.pid))
                    done.wait(0.01)

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                with ThreadPoolExecutor(CONNECTIONS) as pool:
                    answers = list(pool.map(flood, [server.port] * CONNECTIONS))
            finally:
                done.set()
                watcher.join()
            assert answers == [REFUSED] * CONNECTIONS
            assert max(peak) - before < 4096, f"RSS grew from {before} KiB to {max(peak)} KiB"
            text = httpx.get(server.url + "/metrics").text
            assert metric(text, "transformer_http_refused_total", reason="headers_too_large") == CONNECTIONS
            # the server is fine afterwards, and headers under the limit are welcome
            body = encode(payload(1))
            big = httpx.post(server.url + HOOK, content=body,
                             headers={**signed(body), "X-Padding": "p" * 30_000}, timeout=10)
            assert (big.status_code, big.json()) == (200, {"status": "stored"})
        finally:
            server.stop()


def test_the_header_limit_is_configurable(tmp_path: Path) -> None:
    body = encode(payload(1))
    headers = {**signed(body), "X-Padding": "p" * 40_000}
    with FakeAmplitude(api_key=KEY) as amplitude:
        strict = ServeProcess(tmp_path / "a", amplitude.url).wait_ready()
        loose = ServeProcess(tmp_path / "b", amplitude.url, "--max-header-bytes", "65536").wait_ready()
        try:
            refused = httpx.post(strict.url + HOOK, content=body, headers=headers, timeout=10)
            assert (refused.status_code, refused.json()) == (
                431, {"error": "request headers larger than 32768 bytes"})
            accepted = httpx.post(loose.url + HOOK, content=body, headers=headers, timeout=10)
            assert (accepted.status_code, accepted.json()) == (200, {"status": "stored"})
        finally:
            strict.stop()
            loose.stop()
