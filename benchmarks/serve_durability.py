"""Durability of `transformer serve`: signed webhooks at a fixed rate against a faulty Amplitude,
the receiver SIGKILLed several times mid-load, one webhook too deep to encode in the middle.

A fake Amplitude (in this process) answers with 5xx, 429, 5xx after ingesting (so a retry
sends a copy) and dropped connections at random. `transformer serve --max-depth 512` runs as a
subprocess on a fixed port; webhooks are sent open loop at `--rate` per second, and the process
is killed with SIGKILL each time another share of the webhooks has been acknowledged, then
started again on the same data dir. Webhooks that were not acknowledged (refused connections
while it was down, answers lost to the kill) are sent again afterwards, as Customer.io retries
them. At the end every acknowledged webhook must have reached Amplitude once after `insert_id`
dedupe, and the deep one (300 levels: it passes intake, orjson cannot encode it) must be a dead
letter while everything after it was delivered.

    python benchmarks/serve_durability.py [--webhooks 20000] [--rate 400] [--kills 3]
    python benchmarks/serve_durability.py --serve-arg=--workers=2   # serve with two workers

`tests/hostile/test_serve_durability.py` runs it small.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import _Connection

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue, sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "durability-signing-secret-0001"
KEY = "0b7e3f9c1a5d4e8f2c6a9b0d3e7f1a4c"
DEEP_LEVELS = 300


def webhook(n: int) -> dict[str, Any]:
    return {"event_id": f"01JDUR{n:020d}", "object_type": "email", "metric": "delivered",
            "timestamp": 1_700_000_000 + n,
            "data": {"delivery_id": f"dlv-{n}", "identifiers": {"id": f"user-{n % 97:05d}"},
                     "recipient": f"p{n}@example.com"}}


def body_of(n: int, deep_at: int | None) -> bytes:
    data = webhook(n)
    if n == deep_at:
        nest: Any = []
        for _ in range(DEEP_LEVELS - 3):
            nest = [nest]
        data["data"]["nest"] = nest
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass
class Result:
    """What a run did and what Amplitude ended up with."""

    webhooks: int
    seconds: float = 0.0
    offered_rate: float = 0.0
    acked_first_time: int = 0
    resent: int = 0
    kills: int = 0
    expected: set[str] = field(default_factory=set)
    ingested: set[str] = field(default_factory=set)
    copies_received: int = 0
    amplitude_requests: int = 0
    amplitude_statuses: dict[str, int] = field(default_factory=dict)
    letters: list[tuple[str, str | None, str]] = field(default_factory=list)
    pending_at_end: int = -1
    deep_id: str | None = None

    @property
    def lost(self) -> set[str]:
        return self.expected - self.ingested

    @property
    def extra(self) -> set[str]:
        return self.ingested - self.expected


class Serve:
    """`transformer serve` as a subprocess that can be killed and started again."""

    def __init__(self, store: list[str], port: int, endpoint: str, log: Path, *extra: str) -> None:
        self.args = [sys.executable, "-m", "transformer", "serve", "--port", str(port),
                     *store, "--mapping", str(ROOT / "mappings" / "amplitude.yaml"),
                     "--set", f"endpoint={endpoint}", "--retry-max-wait", "0.2", "--linger", "0.01",
                     "--throttle-pause", "1", "--max-depth", "512", *extra]
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))},
                    "AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET}
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("serve did not come up")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


async def _send(port: int, requests: dict[int, bytes], rate: float, acked: set[int]) -> float:
    """Send `requests` (webhook number → raw HTTP) at `rate`/s, open loop; add to `acked` the
    numbers answered 200. Returns the seconds it took."""
    loop = asyncio.get_running_loop()
    idle: list[_Connection] = []

    async def one(n: int, raw: bytes) -> None:
        while idle and idle[-1].closed:
            idle.pop()
        try:
            conn = idle.pop() if idle else (await loop.create_connection(_Connection, "127.0.0.1", port))[1]
            status = await asyncio.wait_for(conn.request(raw), 10)
        except (ConnectionError, OSError, TimeoutError):
            return
        if status == 200:
            acked.add(n)
        if not conn.closed:
            idle.append(conn)

    begin = time.perf_counter()
    tasks = []
    for i, (n, raw) in enumerate(requests.items()):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, raw)))
    await asyncio.gather(*tasks)
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return time.perf_counter() - begin


def _raw(n: int, body: bytes, port: int) -> bytes:
    timestamp = str(int(time.time()))
    return (f"POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-CIO-Timestamp: {timestamp}\r\nX-CIO-Signature: {sign(SECRET, timestamp, body)}\r\n"
            f"\r\n").encode() + body


def run(work: Path, *, webhooks: int, rate: float, kills: int, deep_at: int | None,
        faults: Faults | None = None, timeout: float = 180.0, retry_rate: float | None = None,
        serve_args: tuple[str, ...] = ()) -> Result:
    """One run in the folder `work`; see the module docstring. Webhooks not acknowledged are sent
    again at `retry_rate` per second (default: `rate`); `serve_args`: more options for serve."""
    from send_bench import free_port

    faults = faults or Faults(error=0.15, error_after_ingest=0.1, throttle=0.1, drop=0.15, seed=8)
    result = Result(webhooks)
    bodies = {n: body_of(n, deep_at) for n in range(1, webhooks + 1)}
    result.deep_id = webhook(deep_at)["event_id"] if deep_at else None
    result.expected = {webhook(n)["event_id"] for n in bodies} - {result.deep_id}
    port = free_port()
    data_dir = work / "var"
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude:
        serve = Serve(["--data-dir", str(data_dir)], port, amplitude.url, work / "serve.log", *serve_args)
        serve.start()
        acked: set[int] = set()
        began = time.monotonic()

        def killer() -> None:
            # kills spread evenly over the time the load takes; on a slow machine a restart can
            # take longer than the gap, and the next kill then comes as soon as serve is up again
            # (after the first pass of sending, if it has ended: forwarding is still going on)
            for k in range(1, kills + 1):
                time.sleep(max(0.0, began + webhooks / rate * k / (kills + 1) - time.monotonic()))
                serve.kill()
                result.kills += 1
                serve.start()

        thread = threading.Thread(target=killer)
        thread.start()
        try:
            result.seconds = asyncio.run(_send(port, {n: _raw(n, b, port) for n, b in bodies.items()},
                                               rate, acked))
        finally:
            thread.join()
        result.offered_rate = webhooks / result.seconds
        result.acked_first_time = len(acked)
        deadline = time.monotonic() + timeout
        while len(acked) < webhooks and time.monotonic() < deadline:   # Customer.io's retries
            missing = {n: _raw(n, bodies[n], port) for n in bodies if n not in acked}
            result.resent += len(missing)
            asyncio.run(_send(port, missing, retry_rate or rate, acked))
        while (not result.expected <= set(amplitude.ingested)) and time.monotonic() < deadline:
            time.sleep(0.1)
        while time.monotonic() < deadline:   # until the deep one is set aside too
            text = httpx.get(serve.url + "/metrics", timeout=10).text
            if "\ntransformer_queue_depth 0\n" in text:
                break
            time.sleep(0.1)
        code = serve.stop()
        assert code == 128 + signal.SIGTERM, code
        stats = amplitude.stats()
        result.ingested = set(amplitude.ingested)
        result.copies_received = stats["received"]
        result.amplitude_requests = stats["requests"]
        result.amplitude_statuses = stats["statuses"]
    store = SqliteQueue(data_dir, create=False)
    result.letters = [(str(row.kind), row.event_id, row.reason) for row in store.letters()]
    result.pending_at_end = store.stats().depth
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=400.0, help="webhooks per second")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--serve-arg", action="append", default=[], help="extra option for serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        began = time.monotonic()
        result = run(Path(work), webhooks=args.webhooks, rate=args.rate, kills=args.kills,
                     deep_at=args.webhooks // 2, timeout=600, serve_args=tuple(args.serve_arg))
        total = time.monotonic() - began
    print(f"{result.webhooks:,} webhooks offered at {args.rate:g}/s: sent in {result.seconds:.1f} s "
          f"({result.offered_rate:,.0f}/s), {result.acked_first_time:,} acknowledged on first try, "
          f"{result.resent:,} sent again; {result.kills} SIGKILLs survived")
    print(f"Amplitude: {result.amplitude_requests:,} requests {result.amplitude_statuses}, "
          f"{result.copies_received:,} events received, {len(result.ingested):,} distinct insert_ids")
    print(f"lost: {len(result.lost)}, unexpected: {len(result.extra)}, pending at the end: "
          f"{result.pending_at_end}, dead letters: {result.letters}")
    print(f"whole run {total:.1f} s")


if __name__ == "__main__":
    main()
