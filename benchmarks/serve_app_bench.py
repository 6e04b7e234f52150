"""CPU per webhook through the receiver's ASGI app in process: no HTTP, no forwarding.

Signed webhooks (the replay benchmark's corpus) are handed to `create_app(...)` as ASGI calls,
50 at a time (so that commits carry several, as under load), with the store on
`synchronous=normal` so that the figure is CPU rather than disk. What it measures: the app's
entry, the body, the signature check, parsing, the transform, the commit (on the writer
thread: the process's CPU time counts every thread). Best of the rounds.

    python benchmarks/serve_app_bench.py [--webhooks 3000] [--rounds 5] [--root ../other-checkout]

`--root` measures another checkout's app (and mapping) with the same corpus, for before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECRET = "bench-signing-secret"
BATCH = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=3000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path[:0] = [str(HERE), str(root)]
    corpus = importlib.import_module("replay_bench").corpus
    transformer = importlib.import_module("transformer")
    server = importlib.import_module("transformer.server")
    options = importlib.import_module("transformer.server.app").ReceiverOptions(forward=False)
    mapping = transformer.load_mapping(root / "mappings" / "amplitude.yaml", {
        "endpoint": "http://127.0.0.1:9", "api_key": "bench-key-123", "signing_secret": SECRET,
        "account_id": 1, "workspace_id": 56354}, environ={})
    timestamp = str(int(time.time()))
    requests = [(body, [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-cio-timestamp", timestamp.encode()),
                        (b"x-cio-signature", server.sign(SECRET, timestamp, body).encode())])
                for body in corpus(args.webhooks * args.rounds, seed=3)]
    with tempfile.TemporaryDirectory() as data_dir:
        store = server.SqliteQueue(data_dir, synchronous="normal")
        app = server.create_app(mapping, store, options)
        app.state.receiver.start()
        gc.collect()
        gc.freeze()
        try:
            best = min(_round(app, requests[r * args.webhooks:(r + 1) * args.webhooks])
                       for r in range(args.rounds))
        finally:
            app.state.receiver.close()
            store.close()
    print(f"{root}: {best * 1e6:.0f} µs of CPU per webhook through the app "
          f"(best of {args.rounds} rounds of {args.webhooks:,})")


def _round(app: Any, requests: list[tuple[bytes, list[tuple[bytes, bytes]]]]) -> float:
    """CPU seconds per webhook for one round; every answer must be 200."""
    statuses: list[int] = []

    async def one(body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/webhooks/customerio", "raw_path": b"/webhooks/customerio",
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    async def run() -> None:
        for start in range(0, len(requests), BATCH):
            await asyncio.gather(*(one(body, headers) for body, headers in requests[start:start + BATCH]))

    started = time.process_time()
    asyncio.run(run())
    spent = time.process_time() - started
    if set(statuses) != {200}:
        raise SystemExit(f"answers other than 200: {sorted(set(statuses))}")
    return spent / len(requests)


if __name__ == "__main__":
    main()
