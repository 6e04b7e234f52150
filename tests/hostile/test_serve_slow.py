"""Item 4: slow and half-sent requests cannot hold the receiver. Before: they were held forever;
1,100 of them under a 1,024 descriptor limit made every webhook and /healthz time out, and the
log grew 62 MB in 35 s."""

from __future__ import annotations

import resource
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server.queue.sqlite import DB_NAME

from ..test_server_harness import KEY, ServeProcess, encode, metric, payload, signed, wait_for
from .harness import HOOK, head_of, post, read_answer

pytestmark = pytest.mark.slow

SLOW = 1000
WEBHOOKS = 100


def timed_out(seconds: str) -> bytes:
    body = f'{{"error":"request not received within {seconds} s"}}'.encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 32\r\n"
            b'connection: close\r\n\r\n{"error":"too many connections"}')


@contextmanager
def descriptors(wanted: int) -> Iterator[None]:
    """Room for `wanted` open files in this test process (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_slow(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    """`count` connections that each send half a request head and stop there."""
    conns = []
    for _ in range(count):
        conn = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        conn.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        conns.append(conn)
    return conns


def exchange(conn: socket.socket, request: bytes) -> bytes:
    """Send `request` (if any) on a keep-alive connection and read one whole response."""
    conn.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection closed: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def test_with_1000_slow_connections_open_webhooks_and_healthz_are_answered_quickly(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude, descriptors(SLOW + 512), ExitStack() as stack:
        server = ServeProcess(tmp_path / "var", amplitude.url).wait_ready()   # default limits
        stack.callback(server.stop)
        slow = open_slow(server.port, SLOW, stack)
        stop = threading.Event()

        def trickle() -> None:  # half of them are slowloris: a header byte now and then
            while not stop.wait(1.0):
                for conn in slow[::2]:
                    with suppress(OSError):
                        conn.send(b"X")

        trickler = threading.Thread(target=trickle)
        trickler.start()
        stack.callback(trickler.join)
        stack.callback(stop.set)
        webhooks: list[float] = []
        health: list[float] = []
        # a new connection per request, as a client that does not keep connections alive
        with httpx.Client(base_url=server.url, timeout=5,
                          limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for n in range(1, WEBHOOKS + 1):
                body = encode(payload(n))
                began = time.perf_counter()
                answer = client.post(HOOK, content=body, headers=signed(body))
                webhooks.append(time.perf_counter() - began)
                assert answer.json() == {"status": "stored"}
                if n % 10 == 0:
                    began = time.perf_counter()
                    assert client.get("/healthz").status_code == 200
                    health.append(time.perf_counter() - began)
            # the slow connections were all open throughout (they only ever close)
            assert metric(client.get("/metrics").text, "transformer_http_connections") >= SLOW
        assert p99(webhooks) < 1.0 and max(health) < 1.0, (p99(webhooks), max(health))
        wait_for(lambda: set(amplitude.ingested) >= {payload(n)["event_id"] for n in range(1, WEBHOOKS + 1)}, 30,
                 "delivery")
        # (that they are then answered 408 and closed is the next test's business, with shorter limits)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_slow_requests_bodies_and_idle_connections_are_closed_on_time(tmp_path: Path, parser: str) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--request-timeout", "2", "--body-timeout", "1",
                              "--keep-alive-timeout", "1", "--http", parser).wait_ready()
        try:
            body = encode(payload(1))
            with socket.create_connection(("127.0.0.1", server.port)) as silent, \
                    socket.create_connection(("127.0.0.1", server.port)) as half_head, \
                    socket.create_connection(("127.0.0.1", server.port)) as half_body, \
                    socket.create_connection(("127.0.0.1", server.port)) as trickling:
                half_head.sendall(head_of(body)[:60])
                half_body.sendall(head_of(body) + body[:20])
                trickling.sendall(head_of(body))
                for byte in body[:3]:                   # a byte every 0.8 s: each gap is allowed
                    time.sleep(0.8)
                    trickling.sendall(bytes([byte]))
                assert read_answer(half_body) == timed_out("1")            # the body paused > 1 s
                assert read_answer(half_head) == timed_out("2")            # the request took > 2 s
                assert read_answer(trickling) == timed_out("2")
                assert read_answer(silent) == b""                          # nothing asked: just closed
            # a quick request is answered; the connection, kept alive, is closed after 1 s idle
            with socket.create_connection(("127.0.0.1", server.port)) as conn:
                answer = exchange(conn, head_of(body) + body)
                assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'{"status":"stored"}')
                conn.settimeout(4)
                assert conn.recv(1) == b""
            text = httpx.get(server.url + "/metrics").text
            assert metric(text, "transformer_http_refused_total", reason="body_timeout") == 1
            assert metric(text, "transformer_http_refused_total", reason="request_timeout") == 3
        finally:
            server.stop()


def test_at_max_connections_a_newcomer_displaces_the_longest_waiting_and_503_only_when_all_are_busy(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY) as amplitude, ExitStack() as stack:
        server = ServeProcess(data_dir, amplitude.url, "--max-connections", "21").wait_ready()
        stack.callback(server.stop)
        held = open_slow(server.port, 21, stack)     # accepted in order: the backlog is a queue
        # a real webhook still gets in: the connection that has waited longest makes room
        assert post(server.url, encode(payload(1))).json() == {"status": "stored"}
        assert read_answer(held[0]) == TOO_MANY
        for conn in held:
            conn.close()
        wait_for(lambda: metric(httpx.get(server.url + "/metrics").text, "transformer_http_connections") == 1,
                 30, "the closed connections to be gone")          # (1: the /metrics request itself)
        # 20 webhooks whose commits wait (another process holds the store's write lock), and a
        # 21st on the connection that saw them arrive: every connection has a request being
        # answered, so the next one gets 503
        with sqlite3.connect(data_dir / DB_NAME, isolation_level=None, timeout=10) as lock:
            lock.execute("BEGIN IMMEDIATE")
            busy = [stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=30))
                    for _ in range(20)]
            for n, conn in enumerate(busy, start=10):
                body = encode(payload(n))
                conn.sendall(head_of(body) + body)
            watcher = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=30))
            wait_for(lambda: metric(exchange(watcher, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").decode(),
                                    "transformer_webhooks_received_total") == 21, 30, "the 20 webhooks")
            body = encode(payload(30))
            watcher.sendall(head_of(body) + body)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as late:
                late.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert read_answer(late) == TOO_MANY
            lock.execute("ROLLBACK")
        for conn in [*busy, watcher]:
            assert exchange(conn, b"").endswith(b'{"status":"stored"}')
        # they are idle now, so the next request would make room by closing one: count first
        text = exchange(watcher, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").decode()
        assert metric(text, "transformer_http_refused_total", reason="evicted") == 1
        assert metric(text, "transformer_http_refused_total", reason="too_many_connections") == 1
        wait_for(lambda: len(amplitude.ingested) == 22, 30, "delivery")


def test_under_a_low_descriptor_limit_connections_are_capped_not_crashed(tmp_path: Path) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    with FakeAmplitude(api_key=KEY) as amplitude, ExitStack() as stack:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--request-timeout", "4",
                              preexec=low_limit).wait_ready()
        stack.callback(server.stop)
        allowed = 200 - 64 - 4      # the limit, less what the store, logs and Amplitude keep
        conns = [stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))
                 for _ in range(300)]
        for conn in conns:
            with suppress(OSError):   # the first ones may already have made room for later ones
                conn.sendall(b"POST /webhooks/customerio HTTP/1.1\r\n")
        answers = [read_answer(conn, timeout=20) for conn in conns]
        # the newest connections stay (until their request times out); the oldest made room
        assert answers[-allowed:] == [timed_out("4")] * allowed
        assert set(answers[:-allowed]) <= {TOO_MANY, b""}
        assert server.process.poll() is None
        assert post(server.url, encode(payload(1))).json() == {"status": "stored"}
        wait_for(lambda: payload(1)["event_id"] in amplitude.ingested, 30, "delivery")
    logs = server.stderr()
    assert f'"msg":"max_connections_lowered","requested":2048,"allowed":{allowed}' in logs
    # a burst can still use up descriptors before evicted connections close (asyncio accepts many
    # connections at a time): accept() then waits a second and the line is logged, rate-limited
    assert logs.count("socket.accept() out of system resource") <= 10


def test_repeated_warnings_are_rate_limited_so_the_log_stays_small(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url).wait_ready()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                body = encode(payload(1))
                for _ in range(500):
                    assert client.post(HOOK, content=body, headers=signed(body, secret="x" * 24)).status_code == 401
                assert client.post(HOOK, content=body, headers=signed(body)).status_code == 200
        finally:
            server.stop()
    logs = server.stderr()
    assert logs.count('"msg":"signature_rejected"') == 10
    assert len(logs) < 8_000
