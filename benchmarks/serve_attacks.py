"""Attack `transformer serve` the way tests/hostile/ does, and print the figures.

- headers: 8 connections each stream 8 MiB of one header; the server's RSS before, at its peak
  and after, and what each connection was answered.
- slow: N connections that send half a request head (half of them then a byte a second), then
  signed webhooks on new connections while they are open: latency p50/p99/max, failures, and
  /healthz latency.

`--source DIR` runs the serve of another checkout (e.g. the commit before these limits existed,
extracted with `git archive`) to compare; `--nofile N` starts serve with that open-files limit.

    python benchmarks/serve_attacks.py headers
    python benchmarks/serve_attacks.py slow --connections 1000 [--nofile 1024] [--source DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_bench import free_port

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "attack-signing-secret-0001"
KEY = "7f2a9c4e1b8d3f6a0c5e9b2d7f4a1c8e"
HOOK = "/webhooks/customerio"


def body(n: int) -> bytes:
    return (f'{{"event_id":"01JATTACK{n:017d}","object_type":"email","metric":"delivered",'
            f'"timestamp":{1_700_000_000 + n},"data":{{"identifiers":{{"id":"user-{n:05d}"}}}}}}').encode()


def signed(data: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/json", "X-CIO-Timestamp": timestamp,
            "X-CIO-Signature": sign(SECRET, timestamp, data)}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Serve:
    def __init__(self, work: Path, endpoint: str, source: Path, nofile: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))}
        env.update({"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET, "PYTHONPATH": str(source)})

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log = (work / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transformer", "serve", "--port", str(self.port), "--data-dir",
             str(work / "var"), "--mapping", str(source / "mappings" / "amplitude.yaml"),
             "--set", f"endpoint={endpoint}"], cwd=source, env=env, stdout=subprocess.DEVNULL,
            stderr=self.log, preexec_fn=limit)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("serve did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(30)
        self.log.close()


def flood(port: int, size: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ".encode())
        with suppress(OSError):
            for _ in range(size // 65536):
                conn.sendall(b"a" * 65536)
        answer = b""
        with suppress(OSError):
            conn.settimeout(5)
            while chunk := conn.recv(65536):
                answer += chunk
        return answer


def headers(serve: Serve, connections: int = 8, size: int = 8 << 20) -> None:
    before = rss_kib(serve.process.pid)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.01):
            peak.append(rss_kib(serve.process.pid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    began = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        answers = list(pool.map(lambda _: flood(serve.port, size), range(connections)))
    done.set()
    watcher.join()
    after = rss_kib(serve.process.pid)
    firsts = {a.split(b"\r\n", 1)[0].decode() or "(closed, no answer)" for a in answers}
    print(f"headers: {connections} x {size >> 20} MiB in {time.monotonic() - began:.1f} s; serve RSS "
          f"{before / 1024:.1f} MiB before, peak {max(peak) / 1024:.1f} MiB, after {after / 1024:.1f} MiB; "
          f"answers: {sorted(firsts)}")


def slow(serve: Serve, connections: int, webhooks: int = 200) -> None:
    with ExitStack() as stack:
        conns = []
        began = time.monotonic()
        for _ in range(connections):
            try:
                conn = stack.enter_context(socket.create_connection(("127.0.0.1", serve.port), timeout=10))
                conn.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
                conns.append(conn)
            except OSError:
                break
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(1.0):
                for conn in conns[::2]:
                    with suppress(OSError):
                        conn.send(b"X")

        threading.Thread(target=trickle, daemon=True).start()
        opened = time.monotonic() - began
        latencies, failures, health = [], 0, []
        fresh = httpx.Limits(max_keepalive_connections=0)   # a new connection per request
        with httpx.Client(base_url=serve.url, timeout=5, limits=fresh) as client:
            for n in range(1, webhooks + 1):
                data = body(n)
                started = time.perf_counter()
                try:
                    answer = client.post(HOOK, content=data, headers=signed(data))
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                failures += not ok
                if n % 10 == 0:
                    started = time.perf_counter()
                    with suppress(httpx.HTTPError):
                        client.get("/healthz")
                    health.append(time.perf_counter() - started)
        stop.set()
    ordered = [1000 * x for x in sorted(latencies)]
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
    print(f"slow: {len(conns)} slow connections opened in {opened:.1f} s; {webhooks} webhooks: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms, {failures} not answered 200; "
          f"/healthz max {max(health) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attack", choices=["headers", "slow"])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--nofile", type=int)
    parser.add_argument("--source", type=Path, default=ROOT)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 512)), hard))
    with tempfile.TemporaryDirectory() as work, FakeAmplitude(api_key=KEY) as amplitude:
        serve = Serve(Path(work), amplitude.url, args.source.resolve(), args.nofile)
        try:
            if args.attack == "headers":
                headers(serve)
            else:
                slow(serve, args.connections)
        finally:
            serve.stop()


if __name__ == "__main__":
    main()
