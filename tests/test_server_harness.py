"""What the server tests share: signed payloads, a real uvicorn on 127.0.0.1 (in a thread or a
`transformer serve` process), polling, and reading /metrics. The few tests here check the
harness itself, since every server test leans on it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette

from transformer import load_mapping
from transformer.runtime.mapping import CompiledMapping
from transformer.server import SqliteQueue, Verifier, create_app, sign
from transformer.server.app import ReceiverOptions

from .conftest import MAPPING, ROOT, require_slow_mark

SECRET = "test-signing-secret-0001"
KEY = "5d0c8e2a9f1b47c3a6e0d9b8c7f2a1e4"   # shaped like a real key: scrubbed from logs
T = TypeVar("T")


def payload(n: int, **changes: Any) -> dict[str, Any]:
    """A distinct email/delivered webhook; `changes` replace top-level keys."""
    body: dict[str, Any] = {
        "event_id": f"01JTEST{n:019d}", "object_type": "email", "metric": "delivered",
        "timestamp": 1_700_000_000 + n,
        "data": {"action_id": 42, "campaign_id": 7, "delivery_id": f"dlv-{n}",
                 "identifiers": {"cio_id": f"{n:012x}", "email": f"p{n}@example.com", "id": f"user-{n:05d}"},
                 "recipient": f"p{n}@example.com", "subject": "Welcome aboard"}}
    body.update(changes)
    return body


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Customer.io's headers for `body`, signed now (or `at`)."""
    timestamp = str(int(time.time() if at is None else at))
    return {"Content-Type": "application/json", "X-CIO-Timestamp": timestamp,
            "X-CIO-Signature": sign(secret, timestamp, body)}


def encode(data: Any) -> bytes:
    return orjson.dumps(data)


def mapping(endpoint: str, **settings: Any) -> CompiledMapping:
    """The Amplitude mapping with our key and secret, sending to `endpoint`."""
    given = {"endpoint": endpoint, "api_key": KEY, "signing_secret": SECRET, **settings}
    return load_mapping(MAPPING, {k: v for k, v in given.items() if v is not None}, environ={})


def fast_options(**changes: Any) -> ReceiverOptions:
    """Options that keep tests short: quick retries, no lingering."""
    values: dict[str, Any] = {"backoff_max": 0.2, "linger": 0.01, "blocked_pause": 0.2}
    values.update(changes)
    return ReceiverOptions(**values)


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 when the series is absent)."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on 127.0.0.1; yields its base URL."""
    require_slow_mark("the receiver under uvicorn")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 20, "uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@contextlib.contextmanager
def receiver(data_dir: Path, endpoint: str, options: ReceiverOptions | None = None,
             **settings: Any) -> Iterator[tuple[str, SqliteQueue]]:
    """A receiver app on its own store, served in a thread; yields (base URL, store)."""
    store = SqliteQueue(data_dir)
    try:
        app = create_app(mapping(endpoint, **settings), store, options or fast_options())
        with running(app) as url:
            yield url, store
    finally:
        store.close()


class ServeProcess:
    """`python -m transformer serve` in a subprocess, with its stderr in a file."""

    def __init__(self, data_dir: Path, endpoint: str, *extra: str, port: int | None = None,
                 env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None) -> None:
        require_slow_mark("a `transformer serve` process")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}-{time.monotonic_ns()}.log"
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))}
        environment.update({"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET})
        environment.update(env or {})
        self.args = [sys.executable, "-m", "transformer", "serve", "--port", str(self.port),
                     "--data-dir", str(data_dir), "--mapping", str(MAPPING),
                     "--set", f"endpoint={endpoint}", "--retry-max-wait", "0.2", "--linger", "0.01",
                     *extra]
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=preexec)

    def wait_ready(self, timeout: float = 30.0) -> ServeProcess:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}: {self.stderr()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False
        wait_for(ready, timeout, "serve to answer /healthz")
        return self

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def test_signed_headers_are_accepted_by_the_verifier() -> None:
    body = encode(payload(1))
    assert Verifier(SECRET).check(signed(body), body, time.time()) is None
    assert Verifier(SECRET).check(signed(body, secret="other"), body, time.time()) is not None


def test_payloads_are_distinct_and_become_one_event_each() -> None:
    compiled = mapping("http://127.0.0.1:9")
    (first,) = compiled.apply(payload(1)).events
    (second,) = compiled.apply(payload(2)).events
    assert first["insert_id"] != second["insert_id"] and first["user_id"] == "user-00001"


def test_metric_reads_one_sample() -> None:
    text = 'a_total 3\nb_total{reason="x"} 2.5\n'
    assert metric(text, "a_total") == 3 and metric(text, "b_total", reason="x") == 2.5
    assert metric(text, "b_total", reason="y") == 0
