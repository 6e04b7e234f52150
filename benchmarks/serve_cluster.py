"""Several `transformer serve` processes on one PostgreSQL queue, under faults.

A fake Amplitude (in this process) fails at random (5xx, 5xx after ingesting, 429, dropped
connections). Signed webhooks go at a fixed rate, round-robin over the receivers, as a load
balancer would send them; every `repeat_every`-th webhook is also sent to the next receiver at
once, as a Customer.io retry landing elsewhere would be. Mid-load one receiver is SIGKILLed
(`kill`), and started again or not (`restart`); or PostgreSQL itself is stopped for a few
seconds and started again (`db_outage`, with the callables that do it). Webhooks not
acknowledged (refused, 503, lost to the kill) are sent again afterwards to a live receiver, as
Customer.io retries them. At the end every webhook must have reached Amplitude once after its
`insert_id` dedupe, and the queue must be empty.

    python benchmarks/serve_cluster.py --queue postgresql://USER@127.0.0.1:PORT/DB [--receivers 3]
        [--webhooks 3000] [--rate 300]

`tests/test_serve_postgres.py` runs it small against a throwaway cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_bench import free_port
from serve_durability import KEY, Serve, _raw, body_of, webhook
from serve_load import _Connection

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults

FAULTS = Faults(error=0.1, error_after_ingest=0.05, throttle=0.1, drop=0.1, seed=12)


@dataclass
class Answer:
    n: int
    receiver: int
    outcome: str          # stored, duplicate, dead_letter, an HTTP status, or "failed" (no answer)


@dataclass
class Result:
    webhooks: int
    answers: list[Answer] = field(default_factory=list)
    resent: int = 0
    seconds: float = 0.0
    expected: set[str] = field(default_factory=set)
    kept: Counter[str] = field(default_factory=Counter)     # insert_id → copies kept after dedupe
    copies_received: int = 0
    amplitude_statuses: dict[str, int] = field(default_factory=dict)
    pending_at_end: int = -1
    letters_at_end: int = -1
    readyz_while_down: list[int] = field(default_factory=list)
    alive_at_end: list[bool] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    first_pass: int = 0      # answers[:first_pass] came from the load, the rest from resending

    @property
    def lost(self) -> set[str]:
        return self.expected - set(self.kept)

    @property
    def extra(self) -> set[str]:
        return set(self.kept) - self.expected

    @property
    def twice(self) -> set[str]:
        return {insert_id for insert_id, copies in self.kept.items() if copies > 1}

    def first_answers(self, n: int) -> list[str]:
        """What the load's sends of webhook `n` were answered (repeats: two)."""
        return [a.outcome for a in self.answers[:self.first_pass] if a.n == n]


class Cluster:
    """`receivers` serve processes on the queue `url`, each on its own port."""

    def __init__(self, work: Path, url: str, endpoint: str, receivers: int, *extra: str) -> None:
        self.serves = [Serve(["--queue", url], free_port(), endpoint, work / f"serve-{i}.log",
                             "--log-level", "warning", *extra) for i in range(receivers)]

    @property
    def ports(self) -> list[int]:
        return [int(s.url.rsplit(":", 1)[1]) for s in self.serves]

    def start(self) -> None:
        for serve in self.serves:
            serve.start()

    def alive(self) -> list[int]:
        return [i for i, s in enumerate(self.serves) if s.process is not None and s.process.poll() is None]

    def stop(self) -> None:
        for serve in self.serves:
            serve.stop()


async def send(ports: list[int], plan: list[tuple[int, int, bytes]], rate: float, into: list[Answer]) -> None:
    """Send `plan` ((webhook, receiver, body) in order) at `rate` per second, open loop, over
    keep-alive connections per receiver; append each answer to `into`."""
    loop = asyncio.get_running_loop()
    idle: defaultdict[int, list[_Connection]] = defaultdict(list)

    async def one(n: int, receiver: int, body: bytes) -> None:
        port, pool = ports[receiver], idle[receiver]
        while pool and pool[-1].closed:
            pool.pop()
        try:
            conn = pool.pop() if pool else (await loop.create_connection(_Connection, "127.0.0.1", port))[1]
            status = await asyncio.wait_for(conn.request(_raw(n, body, port)), 15)
        except (ConnectionError, OSError, TimeoutError):
            into.append(Answer(n, receiver, "failed"))
            return
        outcome = str(orjson.loads(conn.body).get("status")) if status == 200 else str(status)
        into.append(Answer(n, receiver, outcome))
        if not conn.closed:
            pool.append(conn)

    begin = time.perf_counter()
    tasks = []
    for i, (n, receiver, body) in enumerate(plan):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, receiver, body)))
    await asyncio.gather(*tasks)
    for pool in idle.values():
        for conn in pool:
            if conn.transport is not None:
                conn.transport.close()


def queue_counts(url: str) -> tuple[int, int]:
    """(events pending, dead letters) in the queue at `url`."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM transformer.pending), "
                           "(SELECT count(*) FROM transformer.dead_letters)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run(work: Path, url: str, *, receivers: int = 3, webhooks: int = 600, rate: float = 150.0,
        repeat_every: int = 10, kill: bool = False, restart: bool = True,
        db_outage: tuple[Callable[[], None], Callable[[], None]] | None = None, down_for: float = 3.0,
        faults: Faults | None = None, timeout: float = 240.0, lease: float = 10.0,
        extra: tuple[str, ...] = ()) -> Result:
    """One run in the folder `work`; see the module docstring. `extra`: more options for each
    receiver (e.g. `--workers 2`)."""
    result = Result(webhooks)
    bodies = {n: body_of(n, None) for n in range(1, webhooks + 1)}
    result.expected = {webhook(n)["event_id"] for n in bodies}
    plan: list[tuple[int, int, bytes]] = []
    for n, body in bodies.items():
        plan.append((n, n % receivers, body))
        if repeat_every and n % repeat_every == 0:
            plan.append((n, (n + 1) % receivers, body))
    with FakeAmplitude(api_key=KEY, faults=faults or FAULTS) as amplitude:
        # a short lease: what a killed receiver held is claimed by the others within seconds
        # (the default, twice the retry window and 30 s, is for production)
        cluster = Cluster(work, url, amplitude.url, receivers, "--throttle-pause", "1",
                          "--retry-window", "3", "--lease", str(lease), *extra)
        cluster.start()
        done = threading.Event()
        seconds = len(plan) / rate

        def fault() -> None:   # a third of the way into the load
            if done.wait(seconds / 3):
                return
            if kill:
                cluster.serves[0].kill()
                if restart and not done.wait(1.0):
                    cluster.serves[0].start()
            if db_outage is not None:
                stop_db, start_db = db_outage
                stop_db()
                until = time.monotonic() + down_for
                while time.monotonic() < until:
                    try:
                        result.readyz_while_down.append(
                            httpx.get(cluster.serves[1 % receivers].url + "/readyz", timeout=15).status_code)
                    except httpx.TransportError:
                        result.readyz_while_down.append(0)
                    time.sleep(0.3)
                start_db()

        thread = threading.Thread(target=fault)
        thread.start()
        began = time.monotonic()
        try:
            asyncio.run(send(cluster.ports, plan, rate, result.answers))
        finally:
            done.set()
            thread.join()
        result.first_pass = len(result.answers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:   # Customer.io's retries, through the load balancer
            acked = {a.n for a in result.answers if a.outcome in ("stored", "duplicate")}
            missing = [n for n in bodies if n not in acked]
            if not missing:
                break
            live = cluster.alive()
            result.resent += len(missing)
            asyncio.run(send(cluster.ports, [(n, live[i % len(live)], bodies[n])
                                             for i, n in enumerate(missing)], rate, result.answers))
            time.sleep(0.5)
        while time.monotonic() < deadline:
            if result.expected <= set(amplitude.ingested) and queue_counts(url)[0] == 0:
                break
            time.sleep(0.2)
        result.seconds = time.monotonic() - began
        result.alive_at_end = [s.process is not None and s.process.poll() is None for s in cluster.serves]
        for i in cluster.alive():
            result.metrics.append(httpx.get(cluster.serves[i].url + "/metrics", timeout=10).text)
        codes = [s.stop() for s in cluster.serves if s.process is not None and s.process.poll() is None]
        assert all(code == 128 + signal.SIGTERM for code in codes), codes
        result.kept = Counter(insert_id for insert_id, _ in amplitude.kept)
        stats = amplitude.stats()
        result.copies_received = stats["received"]
        result.amplitude_statuses = stats["statuses"]
    result.pending_at_end, result.letters_at_end = queue_counts(url)
    return result


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", required=True, help="postgresql://… (an empty database is best)")
    parser.add_argument("--receivers", type=int, default=3)
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = run(Path(work), args.queue, receivers=args.receivers, webhooks=args.webhooks,
                     rate=args.rate, kill=True, restart=True, timeout=600)
    outcomes = Counter(a.outcome for a in result.answers)
    print(f"{result.webhooks:,} webhooks, {args.receivers} receivers, one SIGKILLed and restarted; "
          f"answers {dict(outcomes)}, {result.resent:,} sent again")
    print(f"Amplitude: {result.amplitude_statuses}, {result.copies_received:,} events received, "
          f"{len(result.kept):,} kept after dedupe; lost {len(result.lost)}, twice {len(result.twice)}, "
          f"unexpected {len(result.extra)}; pending at the end {result.pending_at_end}; "
          f"whole run {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
