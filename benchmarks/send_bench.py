"""Send ≥ 100,000 events to a fake Amplitude on loopback and print events/s.

The fake server runs in its own process (`transformer fake-amplitude`), so that the sender and
the server do not share one interpreter. The events are the Amplitude events of the replay
benchmark's synthetic corpus; the timed part is `AmplitudeSender.send`: preflight, batching,
serialising, HTTP, reading responses. The server's own count confirms delivery.

    python benchmarks/send_bench.py [--events 100000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import ROOT, SETTINGS, corpus

from transformer import load_mapping
from transformer.destinations import AmplitudeSender, Outgoing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    mapping = load_mapping(ROOT / "mappings" / "amplitude.yaml", SETTINGS, environ={})
    outgoing: list[Outgoing] = []
    for line in corpus(args.events * 11 // 10):
        result = mapping.apply(orjson.loads(line))
        outgoing.extend(Outgoing(event, result.id) for event in result.events)
    outgoing = outgoing[:args.events]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "transformer", "fake-amplitude", "--port", str(port),
                               "--api-key", "bench-key-123"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with AmplitudeSender("bench-key-123", endpoint=url, concurrency=args.concurrency) as sender:
            start = time.perf_counter()
            report = sender.send(outgoing)
            elapsed = time.perf_counter() - start
        stats = httpx.get(f"{url}/stats").json()
    finally:
        server.terminate()
        server.wait()
    print(f"events:     {len(outgoing):>10,}  (accepted {report.accepted:,}, set aside "
          f"{sum(report.set_aside.values()):,}, undelivered {sum(report.undelivered.values()):,})")
    print(f"requests:   {report.requests:>10,}  (server ingested {stats['ingested']:,})")
    print(f"elapsed:    {elapsed:>10.2f} s")
    print(f"throughput: {len(outgoing) / elapsed:>10,.0f} events/s  (target >= 20,000)")
    if not report.ok or stats["ingested"] != report.accepted:
        raise SystemExit("delivery was incomplete")


if __name__ == "__main__":
    main()
