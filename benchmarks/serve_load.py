"""Load `transformer serve` with signed webhooks at a fixed rate; report throughput and latency.

Starts a fake Amplitude (`transformer fake-amplitude`) and `transformer serve` as subprocesses
on 127.0.0.1, then fires distinct, pre-signed webhooks (the replay benchmark's varied corpus) at
a fixed rate over keep-alive connections, open loop: each request starts at its scheduled time
whether or not earlier ones have been answered. Latency is measured from when the request was
sent to when its answer was read. Afterwards it waits for the store to drain into the fake
Amplitude and checks that every stored event arrived.

    python benchmarks/serve_load.py [--rate 1000] [--seconds 20] [--serve-arg=--http=httptools ...]
    python benchmarks/serve_load.py --queue postgresql://USER@HOST:PORT/DB --receivers 3
    python benchmarks/serve_load.py --knee [--seconds 6] [--serve-arg=--workers=2]

With `--queue`, every receiver shares that PostgreSQL queue (use an empty database); with
`--receivers N`, webhooks go round-robin over N receivers, as a load balancer sends them.
`--knee` runs one server through rising rates (KNEE_RATES) and reports the highest with p99
under 50 ms and no errors; `table_row` (the serve row of `benchmarks/run.py`) finds it for
`serve --workers 2` and for one process. Serve's CPU counts its worker processes too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import ROOT, corpus
from send_bench import free_port

from transformer.server import sign
from transformer.server.peers import EVERY as PEERS_EVERY

SECRET = "bench-signing-secret"
KEY = "bench-key-123"
KNEE_RATES = (1000, 1500, 2000, 2500, 3000)
"""The rates (webhooks/s) `table_row` tries, in order, until one misses the target."""
KNEE_P99 = 0.050
"""The latency target: p99 under 50 ms (issue 11)."""
KNEE_SECONDS = 6.0
"""Seconds of load at each of those rates."""
WARM_UP = 1000
"""Webhooks sent at 500/s before any measured load, not counted (every receiver process, each
of `serve --workers`, has started and taken requests by then)."""


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its live children (`serve --workers`), Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:   # it ended
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.body = b""   # the last answer's body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"content-length:")
        length = int(head[start + 15:head.find(b"\r\n", start) if head.find(b"\r\n", start) > 0
                          else len(head)]) if start >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, raw: bytes) -> int:
        if self.closed or self.transport is None:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def fire(ports: list[int], requests: list[bytes],
               rate: float) -> tuple[list[float], list[float], int, float]:
    """Send every request at `rate` per second, open loop, over a pool of keep-alive
    connections (round-robin over `ports`); returns (latencies, start lags, errors, elapsed).

    A small asyncio protocol instead of httpx: httpx's async client costs about 1.8 ms of CPU
    per request here, more than the server itself, so on two cores it cannot offer 1,000/s.
    """
    loop = asyncio.get_running_loop()
    idles: dict[int, list[_Connection]] = {port: [] for port in ports}
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0

    async def one(port: int, raw: bytes, due: float) -> None:
        nonlocal errors
        idle = idles[port]
        started = time.perf_counter()
        lags.append(started - due)
        while idle and idle[-1].closed:   # the server closed it while idle (keep-alive timeout)
            idle.pop()
        try:
            conn = idle.pop() if idle else (await loop.create_connection(_Connection, "127.0.0.1", port))[1]
            status = await asyncio.wait_for(conn.request(raw), 10)
        except (ConnectionError, OSError, TimeoutError):
            errors += 1
            return
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors += 1
        if not conn.closed:
            idle.append(conn)

    tasks = []
    begin = time.perf_counter()
    for i, raw in enumerate(requests):
        due = begin + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(ports[i % len(ports)], raw, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    for conn in (conn for idle in idles.values() for conn in idle):
        if conn.transport is not None:
            conn.transport.close()
    return latencies, lags, errors, elapsed


def signed_requests(count: int, seed: int = 11) -> list[bytes]:
    """`count` distinct webhooks as raw HTTP/1.1 requests, signed now."""
    timestamp = str(int(time.time()))
    return [(f"POST /webhooks/customerio HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
             f"X-CIO-Timestamp: {timestamp}\r\nX-CIO-Signature: {sign(SECRET, timestamp, body)}\r\n"
             f"\r\n").encode() + body for body in corpus(count, seed=seed)]


class Servers:
    """A fake Amplitude and `transformer serve` receivers, as processes on 127.0.0.1."""

    def __init__(self, receivers: int, queue: str | None, serve_args: list[str], data_dir: str,
                 log: IO[str]) -> None:
        self.queue = queue
        env = {**os.environ, "AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET}
        fake_port, self.ports = free_port(), [free_port() for _ in range(receivers)]
        self.fake_url = f"http://127.0.0.1:{fake_port}"
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.log = log
        self.log_text = ""   # the receivers' log, once stopped
        self.fake = subprocess.Popen([sys.executable, "-m", "transformer", "fake-amplitude",
                                      "--port", str(fake_port), "--api-key", KEY],
                                     stderr=subprocess.DEVNULL, cwd=ROOT)
        self.serves = [subprocess.Popen(
            [sys.executable, "-m", "transformer", "serve", "--port", str(port),
             *(["--queue", queue] if queue else ["--data-dir", f"{data_dir}/{port}"]),
             "--set", f"endpoint={self.fake_url}", "--set", "account_id=1", "--set", "workspace_id=56354",
             *serve_args], env=env, cwd=ROOT, stderr=self.log) for port in self.ports]

    def wait_until_up(self) -> None:
        wait_until_up(f"{self.fake_url}/stats")
        for url in self.urls:
            wait_until_up(f"{url}/healthz")

    def cpu(self) -> float:
        return sum(cpu_seconds(s.pid) for s in self.serves)

    def metrics(self) -> list[str]:
        return [httpx.get(f"{url}/metrics").text for url in self.urls]

    def depth(self) -> float:   # one shared queue: each receiver reports all of it
        texts, name = self.metrics(), "transformer_queue_depth"
        return metric(texts[0], name) if self.queue else sum(metric(text, name) for text in texts)

    def stop(self) -> None:
        """Stop every process and keep the receivers' log in `log_text`."""
        for process in [*self.serves, self.fake]:
            process.terminate()
        for process in [*self.serves, self.fake]:
            process.wait(30)
        self.log.seek(0)
        self.log_text = self.log.read()


@contextlib.contextmanager
def servers(receivers: int = 1, queue: str | None = None,
            serve_args: list[str] | None = None) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryFile("w+") as log:
        running = Servers(receivers, queue, serve_args or [], data_dir, log)
        try:
            running.wait_until_up()
            yield running
        finally:
            running.stop()


@dataclass
class Load:
    """One run of `fire` against running servers."""

    rate: float
    latencies: list[float]
    lags: list[float]
    errors: int
    elapsed: float
    serve_cpu: float
    client_cpu: float

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) if self.latencies else float("inf")

    @property
    def answered_rate(self) -> float:
        return len(self.latencies) / self.elapsed

    @property
    def meets_target(self) -> bool:
        return self.errors == 0 and self.p99 < KNEE_P99


def warm_up(running: Servers, requests: list[bytes]) -> None:
    """Send `requests` at 500/s, not measured, and wait for the queue to empty."""
    load(running, requests, 500.0)
    drain(running)


def load(running: Servers, requests: list[bytes], rate: float) -> Load:
    """Fire `requests` at `rate` per second at the receivers, measuring their CPU and ours."""
    serve_cpu, client_cpu = running.cpu(), time.process_time()
    gc.disable()   # a collection over thousands of tasks would stall the client, not the server
    try:
        latencies, lags, errors, elapsed = asyncio.run(fire(running.ports, requests, rate))
    finally:
        gc.enable()
    return Load(rate, latencies, lags, errors, elapsed, running.cpu() - serve_cpu,
                time.process_time() - client_cpu)


def drain(running: Servers, timeout: float = 120.0) -> tuple[float, float]:
    """Wait for the queue to empty; (its depth when called, seconds it took)."""
    start = time.perf_counter()
    at_start = depth = running.depth()
    while depth > 0 and time.perf_counter() - start < timeout:
        time.sleep(0.1)
        depth = running.depth()
    return at_start, time.perf_counter() - start


def knee(seconds: float = KNEE_SECONDS, rates: tuple[int, ...] = KNEE_RATES,
         serve_args: list[str] | None = None) -> tuple[Load | None, list[Load]]:
    """Run one receiver (`transformer serve` with `serve_args`) through `rates` for `seconds` each
    (distinct webhooks, the queue drained between steps), stopping at the first that misses the
    target; (the last step that met it, every step run)."""
    requests = signed_requests(WARM_UP + int(sum(rates) * seconds))
    steps: list[Load] = []
    with servers(serve_args=serve_args) as running:
        warm_up(running, requests[:WARM_UP])
        used = WARM_UP
        for rate in rates:
            count = int(rate * seconds)
            steps.append(load(running, requests[used:used + count], rate))
            used += count
            drain(running)
            if not steps[-1].meets_target:
                break
    passed = [step for step in steps if step.meets_target]
    return (passed[-1] if passed else None), steps


def _step(step: Load) -> str:
    return (f"{step.rate:,.0f}/s: p99 {step.p99 * 1000:,.0f} ms"
            + (f", {step.errors:,} errors" if step.errors else ""))


TABLE_WORKERS = 2
"""`serve --workers` in the table's first knee (one per core here); the second is one process."""


def table_row(payloads: int) -> tuple[str, str]:
    """The serve row of `benchmarks/run.py`: the knee of `serve --workers 2`, then of one process
    (`payloads` is not used: the steps are timed). About two minutes."""
    found = [(label, *knee(serve_args=args)) for label, args in (
        (f"--workers {TABLE_WORKERS}", [f"--workers={TABLE_WORKERS}"]), ("one process", []))]
    figure = "; ".join(f"{label}: {f'{best.rate:,.0f}/s' if best else 'below 1,000/s'}"
                       for label, best, _ in found)
    tried = f"{', '.join(f'{rate:,}' for rate in KNEE_RATES)}/s, {KNEE_SECONDS:g} s each"
    return figure, "; ".join(f"{label}: {_knee_notes(best, steps)}" for label, best, steps in found) + (
        f" (steps {tried})")


def _knee_notes(best: Load | None, steps: list[Load]) -> str:
    if best is None:
        return _step(steps[0])
    missed = steps[-1] if not steps[-1].meets_target else None
    return (f"p99 {best.p99 * 1000:.1f} ms, serve {best.serve_cpu / best.elapsed:.0%} of a core "
            f"({best.serve_cpu / len(best.latencies) * 1e6:.0f} µs per webhook), load client "
            f"{best.client_cpu / best.elapsed:.0%}, "
            + (f"next step {_step(missed)}" if missed else "every step met the target"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, help="seconds of load (20; with --knee, each step: 6)")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra option for serve")
    parser.add_argument("--queue", help="a PostgreSQL queue shared by the receivers (postgresql://…)")
    parser.add_argument("--receivers", type=int, default=1)
    parser.add_argument("--knee", action="store_true", help="the highest rate that meets the target")
    args = parser.parse_args()
    if args.knee:
        best, steps = knee(args.seconds or KNEE_SECONDS, serve_args=args.serve_arg)
        for step in steps:
            print(f"{_step(step)}, {step.answered_rate:,.0f} answered/s, serve "
                  f"{step.serve_cpu / step.elapsed:.0%} of a core")
        print(f"knee: {f'{best.rate:,.0f}/s' if best else 'below the first step'}")
        return
    args.seconds = args.seconds or 20.0
    count = int(args.rate * args.seconds)
    requests = signed_requests(WARM_UP + count)
    with servers(args.receivers, args.queue, args.serve_arg) as running:
        warm_up(running, requests[:WARM_UP])
        time.sleep(PEERS_EVERY + 0.2)   # serve --workers: every worker's counters in /metrics
        before, stats_before = running.metrics(), httpx.get(f"{running.fake_url}/stats").json()
        run = load(running, requests[WARM_UP:], args.rate)
        depth_at_end, drained = drain(running)
        time.sleep(PEERS_EVERY + 0.2)
        texts = running.metrics()
        stats = httpx.get(f"{running.fake_url}/stats").json()
    stats = {key: stats[key] - stats_before[key] for key in ("ingested", "requests")}
    latencies, lags, errors, elapsed = run.latencies, run.lags, run.errors, run.elapsed
    serve_cpu, client_cpu = run.serve_cpu, run.client_cpu

    def total(name: str) -> float:   # during the measured load
        return sum(metric(text, name) for text in texts) - sum(metric(text, name) for text in before)

    stored = total("transformer_events_stored_total")
    commits = total("transformer_store_commits_total")
    ms = [x * 1000 for x in latencies]
    print(f"webhooks:    {count:>9,} sent at {args.rate:,.0f}/s for {args.seconds:g} s to {args.receivers} "
          f"receiver(s) on {'PostgreSQL' if args.queue else 'SQLite'} "
          f"(serve options: {' '.join(args.serve_arg) or 'defaults'})")
    print(f"throughput:  {len(latencies) / elapsed:>9,.0f} answered/s  ({elapsed:.2f} s; client start lag "
          f"p99 {percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms)")
    print(f"latency:     p50 {statistics.median(ms):.2f} ms   p99 {percentile(ms, 0.99):.2f} ms   "
          f"max {max(ms):.2f} ms   (target p99 < 50 ms)")
    print(f"errors:      {errors:>9,}")
    print(f"cpu:         serve {serve_cpu / elapsed:.0%} of a core "
          f"({serve_cpu / max(len(latencies), 1) * 1e6:.0f} µs per webhook answered), "
          f"this client {client_cpu / elapsed:.0%}")
    skipped = total('transformer_webhooks_skipped_total{rule="no_identity"}')
    print(f"server:      {stored:,.0f} events stored, {skipped:,.0f} skipped, "
          f"{commits:,.0f} commits ({(count - errors) / max(commits, 1):.1f} webhooks per commit)")
    print(f"drain:       queue {depth_at_end:,.0f} when the load ended, empty {drained:.2f} s later; "
          f"fake Amplitude ingested {stats['ingested']:,} in {stats['requests']:,} requests")
    if errors or stats["ingested"] != stored:
        sys.stderr.write(running.log_text[-3000:])
        raise SystemExit("errors, or not every stored event reached Amplitude")


if __name__ == "__main__":
    main()
