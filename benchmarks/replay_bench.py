"""Engine vs hand-written Python, end to end (parse, transform, write), in one run.

Builds a synthetic corpus of Customer.io reporting webhooks (every object type, people with and
without ids, devices, long content), then replays the same NDJSON bytes through
`mappings/amplitude.yaml` on the engine and through `amplitude_handwritten.transform`, each
parsing every line with orjson and writing every event as an NDJSON line. Prints events/s for
each and the ratio engine / hand-written.

    python benchmarks/replay_bench.py [--events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import amplitude_handwritten  # noqa: E402

from transformer import load_mapping  # noqa: E402

SETTINGS: dict[str, Any] = {"account_id": "1", "workspace_id": "56354", "body_content": True}
MAPPING: Any = None
METRICS = {
    "email": ["sent", "delivered", "opened", "clicked", "bounced"],
    "push": ["sent", "delivered", "opened", "clicked"],
    "sms": ["sent", "delivered", "clicked"],
    "in_app": ["sent", "opened", "clicked"],
    "whatsapp": ["sent", "delivered", "opened"],
    "slack": ["sent", "clicked"],
    "webhook": ["sent", "clicked"],
    "customer": ["subscribed", "unsubscribed"],
}


def corpus(count: int, seed: int = 7) -> list[bytes]:
    """NDJSON lines of varied, realistic payloads."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        object_type = rng.choice(list(METRICS))
        metric = rng.choice(METRICS[object_type])
        person = rng.random()
        identifiers: dict[str, Any] = {"id": f"user-{i % 5000:05d}", "email": f"p{i % 5000}@example.com",
                                       "cio_id": f"{i:012x}"}
        if person < 0.03:
            identifiers["id"] = "0"
        elif person < 0.06:
            identifiers["id"] = None
        data: dict[str, Any] = {"action_id": rng.randint(1, 9999), "campaign_id": rng.randint(1, 999),
                                "delivery_id": f"dlv{i:020d}", "identifiers": identifiers,
                                "customer_id": identifiers["id"] or ""}
        if object_type == "push":
            data["recipients"] = [{"device_id": f"{rng.getrandbits(128):032x}",
                                   "device_platform": rng.choice(["ios", "android"])}]
        elif object_type == "customer":
            data = {"customer_id": identifiers["id"] or "", "email_address": identifiers["email"],
                    "identifiers": identifiers}
        else:
            data["recipient"] = identifiers["email"]
        if object_type == "email":
            data["subject"] = "Spring sale — 20% off"
        if metric == "sent":
            data["content"] = "Hello ✨ " * rng.randint(5, 200)
        if metric == "clicked":
            data["href"] = "https://example.com/spring?utm=cio"
            data["link_id"] = rng.randint(1, 99)
        payload = {"event_id": f"01J{i:023d}", "object_type": object_type, "metric": metric,
                   "timestamp": 1_700_000_000 + i, "data": data}
        lines.append(orjson.dumps(payload))
    return lines


def run_engine(lines: list[bytes]) -> int:
    apply, loads, dumps = MAPPING.apply, orjson.loads, orjson.dumps
    sink = io.BytesIO()
    write = sink.write
    written = 0
    for line in lines:
        for event in apply(loads(line)).events:
            write(dumps(event, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
    return written


def run_handwritten(lines: list[bytes]) -> int:
    transform, loads, dumps = amplitude_handwritten.transform, orjson.loads, orjson.dumps
    sink = io.BytesIO()
    write = sink.write
    written = 0
    for line in lines:
        event = transform(loads(line), **SETTINGS)
        if isinstance(event, dict):
            write(dumps(event, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
    return written


def best_rates(fns: list[Callable[[list[bytes]], int]], lines: list[bytes],
               repeat: int) -> list[tuple[float, int]]:
    """Best events/s of each function, the runs interleaved so that drift hits both alike."""
    best = [float("inf")] * len(fns)
    written = [0] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            written[i] = fn(lines)
            best[i] = min(best[i], time.perf_counter() - start)
    return [(len(lines) / b, w) for b, w in zip(best, written, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    global MAPPING
    start = time.perf_counter()
    MAPPING = load_mapping(ROOT / "mappings" / "amplitude.yaml", SETTINGS, environ={})
    print(f"mapping loaded and compiled in {(time.perf_counter() - start) * 1000:.0f} ms (not counted below)")
    lines = corpus(args.events)
    (engine_rate, engine_written), (hand_rate, hand_written) = best_rates(
        [run_engine, run_handwritten], lines, args.repeat)
    if engine_written != hand_written:
        raise SystemExit(f"the two disagree: engine wrote {engine_written}, hand-written {hand_written}")
    print(f"payloads:      {len(lines):>10,}  (events written: {engine_written:,})")
    print(f"engine:        {engine_rate:>10,.0f} events/s")
    print(f"hand-written:  {hand_rate:>10,.0f} events/s")
    print(f"ratio:         {engine_rate / hand_rate:>10.2f}  (engine / hand-written; target >= 0.50)")


if __name__ == "__main__":
    main()
