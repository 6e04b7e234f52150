"""One table: transformer against its peers, measured in interleaved rounds on this machine.

    python benchmarks/run.py [--payloads 200000] [--rounds 3] [--root PATH]

Rows, each a separate process reading the same generated NDJSON file (Customer.io-like payloads,
`replay_bench.corpus`) and writing to a file: `transformer replay` (one process, then
`--workers 2` when the checkout has it), the hand-written transform
(`handwritten_replay.py`) with orjson and with the standard library's json, the parse + dump
floor with orjson, and `jq -c .` when jq is installed (parse and print only: jq runs no
transform here). Then start-up (`python -c pass`, `transformer --help`, `transformer replay
one.json`), `apply` in this process against the hand-written `transform` on pre-parsed payloads,
and the rows of other benchmarks' `table_row` hooks (`send_bench`, `serve_load`), "not measured"
while a hook is missing. Each process row is its best wall time over the rounds, with its CPU
time and peak RSS from that run. `--root` measures another checkout (such as the commit before a
change) with this script.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import importlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SETS = ["--set", "account_id=1", "--set", "workspace_id=56354", "--set", "body_content=true"]


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    digest: str


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_process(argv: list[str], out: Path, env: dict[str, str], cwd: Path) -> Run:
    """Run to completion, stdout to `out`; wall, CPU (user + system, its processes together) and
    the peak RSS of its largest process. The peak comes from GNU time, which starts the command
    from a small process: a child forked from this (large) one would count this one's pages."""
    rss_file = out.with_suffix(".rss")
    wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *argv] if TIME else argv
    start = time.perf_counter()
    with out.open("wb") as sink:
        child = subprocess.Popen(wrapped, stdout=sink, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    rss_kb = float(rss_file.read_text().split()[-1]) if TIME else usage.ru_maxrss
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12]
    return Run(wall, usage.ru_utime + usage.ru_stime, rss_kb / 1024, digest)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}), Python "
            f"{platform.python_version()}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path[:0] = [str(HERE), str(root)]
    replay_bench = importlib.import_module("replay_bench")
    tmp = Path(tempfile.mkdtemp(prefix="transformer-bench-"))
    env = {**os.environ, "PYTHONPATH": str(root), "TRANSFORMER_CACHE_DIR": str(tmp / "cache")}
    print(f"# transformer benchmarks, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}; load average at start: {load()}")
    print(f"checkout: {root} ({_commit(root)}); {args.payloads:,} payloads, {args.rounds} rounds")
    try:
        _tables(args, root, env, tmp, replay_bench)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end: {load()}")


def _commit(root: Path) -> str:
    found = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %cd", "--date=short"],
                           capture_output=True, text=True)
    return found.stdout.strip() or "not a git checkout"


def _tables(args: argparse.Namespace, root: Path, env: dict[str, str], tmp: Path,
            replay_bench: Any) -> None:
    source = tmp / "payloads.ndjson"
    lines = replay_bench.corpus(args.payloads)
    source.write_bytes(b"\n".join(lines) + b"\n")
    py = sys.executable
    transformer = [py, "-m", "transformer"]
    has_workers = "--workers" in subprocess.run([*transformer, "replay", "-h"], capture_output=True,
                                                text=True, env=env, cwd=root).stdout
    rows: list[tuple[str, list[str]]] = [
        ("transformer replay (1 process)", [*transformer, "replay", str(source), *SETS,
                                            *(["--workers", "1"] if has_workers else [])])]
    if has_workers:
        rows.append(("transformer replay --workers 2", [*transformer, "replay", str(source), *SETS,
                                                        "--workers", "2"]))
    hand = [py, str(HERE / "handwritten_replay.py"), str(source)]
    rows += [("hand-written, orjson", [*hand, "--parser", "orjson"]),
             ("hand-written, json", [*hand, "--parser", "json"]),
             ("parse + dump floor, orjson", [*hand, "--floor"])]
    jq = shutil.which("jq")
    if jq:
        version = subprocess.run([jq, "--version"], capture_output=True, text=True).stdout.strip()
        rows.append((f"{version} -c . (parse + print, no transform)", [jq, "-c", ".", str(source)]))
    subprocess.run([*transformer, "replay", str(root / "samples" / "email_sent.json"), *SETS],
                   capture_output=True, env=env, cwd=root)   # fills the cache of checked schemas
    best: dict[str, Run] = {}
    for _ in range(args.rounds):
        for name, argv in rows:
            found = run_process(argv, tmp / "out.ndjson", env, root)
            if name not in best or found.wall < best[name].wall:
                best[name] = found
    reference = best["hand-written, orjson"]
    n = args.payloads
    print()
    print("| row | payloads/s (wall) | payloads/s (CPU) | vs hand-written orjson (wall) "
          "| peak RSS (largest process) | output |")
    print("|---|---:|---:|---:|---:|---|")
    for name, _ in rows:
        run = best[name]
        same = ("same as hand-written" if run.digest == reference.digest else f"sha256 {run.digest}…")
        if "floor" in name or "jq" in name:
            same = "(not the events)"
        print(f"| {name} | {n / run.wall:,.0f} | {n / run.cpu:,.0f} | {reference.wall / run.wall:.2f}x "
              f"| {run.rss_mb:,.0f} MB | {same} |")
    _startup(args, root, env, transformer)
    _in_process(replay_bench, lines[: min(n, 50_000)], args.rounds)
    _hooks(args)


def _startup(args: argparse.Namespace, root: Path, env: dict[str, str], transformer: list[str]) -> None:
    one = str(root / "samples" / "email_sent.json")
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("transformer --help", [*transformer, "--help"]),
            ("transformer replay one.json", [*transformer, "replay", one, *SETS])]
    walls: dict[str, list[float]] = {name: [] for name, _ in rows}
    cpus: dict[str, list[float]] = {name: [] for name, _ in rows}
    out = Path(tempfile.mkdtemp()) / "out"
    for _ in range(args.startup_runs):
        for name, argv in rows:
            found = run_process(argv, out, env, root)
            walls[name].append(found.wall)
            cpus[name].append(found.cpu)
    base = statistics.median(walls["python -c pass"])
    print()
    print(f"| start-up ({args.startup_runs} runs, interleaved) | median wall | median CPU "
          "| vs python -c pass |")
    print("|---|---:|---:|---:|")
    for name, _ in rows:
        wall = statistics.median(walls[name])
        print(f"| {name} | {wall * 1000:.0f} ms | {statistics.median(cpus[name]) * 1000:.0f} ms "
              f"| {wall / base:.1f}x |")


def _in_process(replay_bench: Any, lines: list[bytes], rounds: int) -> None:
    import amplitude_handwritten
    import orjson

    from transformer import load_mapping

    settings = dict(replay_bench.SETTINGS)
    mapping = load_mapping(Path(replay_bench.ROOT) / "mappings" / "amplitude.yaml", settings, environ={})
    payloads = [orjson.loads(line) for line in lines]
    transform = amplitude_handwritten.transform
    gc.collect()
    gc.freeze()   # the payloads are not garbage: no collection walks them while either side runs

    def engine() -> None:
        apply = mapping.apply
        for payload in payloads:
            apply(payload)

    def hand() -> None:
        for payload in payloads:
            transform(payload, **settings)

    times = _interleaved([engine, hand], rounds * 2)
    print()
    print(f"| in process, {len(payloads):,} pre-parsed payloads (best of {rounds * 2}) "
          "| µs per payload |")
    print("|---|---:|")
    print(f"| `mapping.apply` | {times[0] / len(payloads) * 1e6:.2f} |")
    print(f"| hand-written `transform` | {times[1] / len(payloads) * 1e6:.2f} |")
    print(f"| ratio (hand-written time / apply time; 1.0 or more: the engine is as fast) "
          f"| {times[1] / times[0]:.2f} |")


def _interleaved(fns: list[Callable[[], None]], rounds: int) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


HOOKS = [("send → its fake Amplitude (loopback)", "send_bench"),
         ("serve: the knee (p99 < 50 ms)", "serve_load")]


def _hooks(args: argparse.Namespace) -> None:
    """Rows other benchmarks give: `table_row(payloads) -> (figure, notes)` in their module."""
    print()
    print("| delivery and receiving | figure | notes |")
    print("|---|---:|---|")
    for title, module_name in HOOKS:
        hook = getattr(importlib.import_module(module_name), "table_row", None)
        if hook is None:
            print(f"| {title} | not measured | `{module_name}.table_row` is not written yet |")
            continue
        figure, notes = hook(args.payloads)
        print(f"| {title} | {figure} | {notes} |")


if __name__ == "__main__":
    main()
