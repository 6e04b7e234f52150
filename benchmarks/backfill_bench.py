"""`transformer backfill` against plain `replay` on the same generated input: wall time of
`replay -o`, and of `backfill --workers 1` and `--workers 2` (a local Dask cluster, its start
included), the speed-up of two workers over one, and the overhead of one worker over replay.
Each command runs as a process, as a user runs it; every output is checked to be the same bytes.

    python benchmarks/backfill_bench.py --events 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ["--set", "account_id=1", "--set", "workspace_id=56354"]


def generate(path: Path, count: int) -> None:
    """`count` payloads from the samples, each with a fresh event id, as NDJSON."""
    lines = (ROOT / "samples" / "events.ndjson").read_text().splitlines()
    shapes = [json.loads(line) for line in lines]
    with path.open("w") as out:
        for n in range(count):
            payload = dict(shapes[n % len(shapes)])
            payload["event_id"] = f"01BENCH{n:019d}"
            out.write(json.dumps(payload, separators=(",", ":")) + "\n")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, capture_output=True)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {run.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best of each is shown")
    parser.add_argument("--partition-size", type=int, default=16 << 20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    try:
        source = work / "history.ndjson"
        generate(source, args.events)
        size = source.stat().st_size
        tool = [sys.executable, "-m", "transformer"]
        runs: dict[str, list[float]] = {"replay": [], "backfill --workers 1": [], "backfill --workers 2": []}
        for round_ in range(args.rounds):
            runs["replay"].append(timed([*tool, "replay", str(source), "-o", str(work / "replay.ndjson"),
                                         *SETTINGS]))
            for workers in (1, 2):
                out = work / f"out{workers}-{round_}"
                runs[f"backfill --workers {workers}"].append(timed(
                    [*tool, "backfill", str(source), "-o", str(out), "--workers", str(workers),
                     "--partition-size", str(args.partition_size), *SETTINGS]))
                parts = b"".join(p.read_bytes() for p in sorted(out.glob("part-*.ndjson")))
                if parts != (work / "replay.ndjson").read_bytes():
                    sys.exit(f"backfill --workers {workers}: parts differ from replay's output")
                shutil.rmtree(out)
        best = {name: min(times) for name, times in runs.items()}
        print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d')}; {args.events:,} payloads, {size / 1e6:.0f} MB, "
              f"partitions of {args.partition_size / 1e6:.0f} MB")
        for name, seconds in best.items():
            print(f"  {name:22} {seconds:7.1f} s  {args.events / seconds:9,.0f} payloads/s")
        one, two = best["backfill --workers 1"], best["backfill --workers 2"]
        print(f"  --workers 2 vs --workers 1: {one / two:.2f}x; --workers 1 vs replay: "
              f"{one / best['replay']:.2f}x the time")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
