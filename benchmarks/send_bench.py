"""Send events to a fake Amplitude on loopback: events/s, CPU per event, peak memory.

The fake Amplitude runs in its own process (`transformer fake-amplitude`), so that sender and
server do not share one interpreter; its CPU is measured too, to show it is not the limit.
Two measurements, each against a fresh fake:

- *sender*: `AmplitudeSender.send` in this process on a stream of events (the Amplitude events
  of the replay benchmark's synthetic corpus, each copied with a fresh `insert_id`, made as the
  sender asks for them): preflight, batching, serialising, HTTP, reading responses. CPU is this
  process's, all threads, during `send` (making each event, a dict copy, included).
- *transformer send*: the command on an NDJSON file of Customer.io payloads, as a user runs it:
  reading, parsing and transforming included; CPU and peak RSS of that process. With
  `--workers N` (N > 1) it is run once per N given (`--workers 1 2`: one process, then two
  workers): the CPU of the command's own process (the sender's) apart from its workers', the
  peak RSS of each (read from /proc while it runs), and the whole tree's peak as the largest
  sum of their PSS (pages shared after the fork counted once) sampled every 0.1 s.

Before them, the preflight alone (the quick check, then fastjsonschema alone) in µs per event on
the 5,000 events. The fake's count confirms delivery.

    python benchmarks/send_bench.py [--events 100000] [--concurrency 4] [--workers 1 2]
                                    [--skip-cli | --skip-sender]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import itertools
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import ROOT, SETTINGS, corpus

import transformer
from transformer import load_mapping
from transformer.data import data_file
from transformer.destinations import AmplitudeSender, Outgoing
from transformer.destinations.amplitude.destination import Amplitude
from transformer.destinations.amplitude.preflight import Preflight

KEY = "bench-key-123"
TICKS = os.sysconf("SC_CLK_TCK")
TEMPLATES = 5_000   # distinct events the sender stream copies (one per user of the corpus)


@dataclass
class Measured:
    what: str
    events: int
    accepted: int
    requests: int
    wall: float
    cpu: float       # seconds of the measured process, all threads
    fake_cpu: float  # seconds of the fake Amplitude process
    rss_mb: float    # peak RSS of the measured process
    rss_before_mb: float = 0.0  # its peak before sending (in process: the events to copy, the mapping)
    workers: int = 1             # transformer send --workers
    workers_cpu: float = 0.0     # seconds of its worker processes
    worker_rss_mb: float = 0.0   # the largest worker's peak RSS
    tree_rss_mb: float = 0.0     # the whole tree's peak (the largest sum of PSS sampled)

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.events * 1e6

    @property
    def fake_us(self) -> float:
        return self.fake_cpu / self.events * 1e6

    def lines(self) -> list[str]:
        return [f"{self.what}:",
                f"  events        {self.events:>12,}  "
                f"(accepted {self.accepted:,} in {self.requests:,} requests)",
                f"  elapsed       {self.wall:>12.2f} s",
                f"  throughput    {self.rate:>12,.0f} events/s",
                f"  CPU           {self.cpu_us:>12.1f} µs per event",
                f"  peak RSS      {self.rss_mb:>12,.0f} MB"
                + (f"  ({self.rss_before_mb:,.0f} MB before sending)" if self.rss_before_mb else ""),
                f"  fake's CPU    {self.fake_us:>12.1f} µs per event",
                *([f"  workers' CPU  {self.workers_cpu / self.events * 1e6:>12.1f} µs per event  "
                   f"({self.workers} processes; total with the sender's "
                   f"{(self.cpu + self.workers_cpu) / self.events * 1e6:.1f})",
                   f"  worker RSS    {self.worker_rss_mb:>12,.0f} MB  (the largest worker's peak)",
                   f"  tree's memory {self.tree_rss_mb:>12,.0f} MB  (the largest sum of every process's "
                   f"PSS, sampled)"] if self.workers > 1 else [])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User + system seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def fake_amplitude() -> Iterator[tuple[str, int]]:
    """A fake Amplitude process on a free port: its URL and process id."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "transformer", "fake-amplitude", "--port", str(port),
                               "--api-key", KEY], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(f"{url}/stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait()


def ingested(url: str) -> int:
    return int(httpx.get(f"{url}/stats", timeout=30).json()["ingested"])


def templates(mapping_events: int) -> list[dict[str, object]]:
    mapping = load_mapping(ROOT / "mappings" / "amplitude.yaml", SETTINGS, environ={})
    found: list[dict[str, object]] = []
    for line in corpus(mapping_events * 11 // 10):
        found.extend(mapping.apply(orjson.loads(line)).events)
    return found[:mapping_events]


def stream(events: list[dict[str, object]], count: int) -> Iterator[Outgoing]:
    """`count` events, copies of `events` in turn, each with its own insert_id."""
    for i, event in zip(range(count), itertools.cycle(events)):
        yield Outgoing({**event, "insert_id": f"bench-{i:020d}"}, f"payload-{i}")


def measure_preflight(rounds: int = 5) -> tuple[float, float]:
    """µs per event of Amplitude's preflight, and of the same check by fastjsonschema alone
    (without the quick check), best of interleaved rounds on the templates."""
    events = templates(TEMPLATES)
    destination = Amplitude("bench-key-123", min_id_length=1)
    quick = destination.preflight
    full = Preflight(data_file("schemas", "amplitude-event.schema.json"), 1)
    full._quick = None   # fastjsonschema decides every event
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, check in enumerate((quick, full.reason)):
            start = time.process_time()
            for event in events:
                check(event)
            best[i] = min(best[i], (time.process_time() - start) / len(events) * 1e6)
    return best[0], best[1]


def measure_sender(count: int, concurrency: int) -> Measured:
    """`AmplitudeSender.send` in this process against a fake Amplitude process."""
    events = templates(min(count, TEMPLATES))
    gc.collect()
    gc.freeze()   # the templates and the mapping live to the end: no collection walks them
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with fake_amplitude() as (url, pid):
        with AmplitudeSender(KEY, endpoint=url, concurrency=concurrency) as sender:
            fake_before = process_cpu(pid)
            cpu_before, start = time.process_time(), time.perf_counter()
            report = sender.send(stream(events, count))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_before
            fake_cpu = process_cpu(pid) - fake_before
        kept = ingested(url)
    gc.unfreeze()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not report.ok or kept != report.accepted or report.accepted != count:
        raise SystemExit(f"delivery was incomplete: {report}")
    return Measured("AmplitudeSender.send (in process)", count, report.accepted, report.requests, wall, cpu,
                    fake_cpu, rss, rss_before)


class _PeakRSS:
    """The peak RSS (VmHWM) of a process and of each of its children, and the largest sum of
    their proportional set sizes (PSS: pages shared after a fork counted once, split between
    the processes), read from /proc every 0.1 s in a thread while it runs (a child's last
    0.1 s may be missed)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self.pss = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _field(path: str, name: str) -> int:
        text = Path(path).read_text()
        return int(next(ln for ln in text.splitlines() if ln.startswith(name)).split()[1])

    def _run(self) -> None:
        while not self.done.wait(0.1):
            try:
                children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            except OSError:
                children = []
            pss = 0
            for pid in (self.pid, *map(int, children)):
                with contextlib.suppress(OSError, ValueError, StopIteration):
                    peak = self._field(f"/proc/{pid}/status", "VmHWM:")
                    self.peaks[pid] = max(self.peaks.get(pid, 0), peak)
                    pss += self._field(f"/proc/{pid}/smaps_rollup", "Pss:")
            self.pss = max(self.pss, pss)

    def stop(self) -> tuple[float, float, float]:
        """MB: the process's own peak, its largest child's, and the tree's (sampled PSS)."""
        self.done.set()
        self.thread.join()
        children = [kb for pid, kb in self.peaks.items() if pid != self.pid]
        return self.peaks.get(self.pid, 0) / 1024, max(children, default=0) / 1024, self.pss / 1024


def measure_cli(payloads: int, concurrency: int, workdir: Path, workers: int = 1) -> Measured:
    """`transformer send FILE` as a process against a fake Amplitude process. Its CPU is its
    own (read from /proc when it has exited, before it is reaped), its workers' apart."""
    source = workdir / "payloads.ndjson"
    if not source.exists():
        lines = corpus(payloads)
        source.write_bytes(b"\n".join(lines) + b"\n")
        del lines
    with fake_amplitude() as (url, pid):
        argv = [sys.executable, "-m", "transformer", "send", str(source), "--concurrency", str(concurrency),
                "--dead-letters", str(workdir / "dead.ndjson"), "--set", f"endpoint={url}",
                "--workers", str(workers),
                *[f"--set={name}={str(value).lower() if isinstance(value, bool) else value}"
                  for name, value in SETTINGS.items()]]
        fake_before = process_cpu(pid)
        start = time.perf_counter()
        child = subprocess.Popen(argv, stderr=subprocess.PIPE, cwd=ROOT,
                                 env={**os.environ, "AMPLITUDE_API_KEY": KEY})
        peaks = _PeakRSS(child.pid)
        assert child.stderr is not None
        summary = child.stderr.read().decode()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)   # exited, not reaped: /proc has its times
        wall = time.perf_counter() - start
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        own, reaped = ((int(fields[i]) + int(fields[i + 1])) / TICKS for i in (11, 13))
        _, status, _ = os.wait4(child.pid, 0)
        # not wait4's ru_maxrss: a child forked from this process counts this one's pages until it
        # executes the command, and that figure takes its children's in too
        rss, worker_rss, tree_rss = peaks.stop()
        fake_cpu = process_cpu(pid) - fake_before
        kept = ingested(url)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"transformer send failed:\n{summary}")
    words = summary.split("accepted")[0].split()
    accepted = int(words[-1].replace(",", ""))
    requests = int(summary.split(" request")[0].split()[-1].replace(",", ""))
    if accepted != kept:
        raise SystemExit(f"the fake kept {kept:,} events, send says {accepted:,}:\n{summary}")
    label = f", --workers {workers}" if workers > 1 else ""
    return Measured(f"transformer send ({payloads:,} payloads, parsing and transform included{label})",
                    accepted, accepted, requests, wall, own, fake_cpu,
                    rss, workers=workers,
                    workers_cpu=reaped, worker_rss_mb=worker_rss, tree_rss_mb=tree_rss)


def table_row(payloads: int) -> tuple[str, str]:
    """The row of `benchmarks/run.py`'s table, measured by this script in a process of its own
    (so that its peak RSS is the sender's) with the `transformer` package imported here (the
    checkout run.py measures): `AmplitudeSender.send` against the fake Amplitude process on
    `payloads` events, and `transformer send` on as many payloads, in one process and with
    `--workers 2`."""
    package = Path(transformer.__file__).resolve().parent.parent  # run.py --root: that checkout
    found = subprocess.run([sys.executable, __file__, "--events", str(payloads), "--json",
                            "--workers", "1", "2"],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(package)})
    measured = json.loads(found.stdout.splitlines()[-1])
    sender, cli, two = (Measured(**row) for row in measured["runs"])
    quick, full = measured["preflight"]
    figure = (f"{sender.rate:,.0f} events/s, {sender.cpu_us:.1f} µs CPU/event, peak RSS "
              f"{sender.rss_mb:,.0f} MB")
    notes = (f"`AmplitudeSender.send` in a process of its own, {payloads:,} events, to the fake "
             f"Amplitude process (its CPU: {sender.fake_us:.1f} µs/event); {sender.rss_before_mb:,.0f} MB "
             f"of the peak were there before sending (the mapping, the events copied); preflight "
             f"{quick:.2f} µs/event (fastjsonschema alone: {full:.2f}). `transformer send` on "
             f"{payloads:,} payloads ({cli.events:,} events), parsing and transform included: "
             f"{cli.rate:,.0f} events/s, {cli.cpu_us:.1f} µs CPU/event, peak RSS {cli.rss_mb:,.0f} MB; "
             f"with `--workers 2`: {two.rate:,.0f} events/s ({two.rate / cli.rate:.2f}x), "
             f"{two.cpu_us:.1f} µs of the sending process's CPU per event, its peak RSS "
             f"{two.rss_mb:,.0f} MB (the whole tree's {two.tree_rss_mb:,.0f} MB)")
    return figure, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000,
                        help="events for the sender, payloads for transformer send")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], metavar="N",
                        help="transformer send --workers N, once per N given (e.g. 1 2)")
    parser.add_argument("--skip-cli", action="store_true", help="measure the in-process sender only")
    parser.add_argument("--skip-sender", action="store_true", help="measure transformer send only")
    parser.add_argument("--json", action="store_true", help="one JSON line of the measurements (for run.py)")
    args = parser.parse_args()
    say = (lambda text: None) if args.json else print
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    found: list[Measured] = []
    quick = full = math.nan
    if not args.skip_sender:
        quick, full = measure_preflight()
        say(f"preflight:      {quick:.2f} µs per event (fastjsonschema alone: {full:.2f})")
        found.append(measure_sender(args.events, args.concurrency))
        say("\n".join(found[-1].lines()))
    if not args.skip_cli:
        with tempfile.TemporaryDirectory(prefix="send-bench-") as tmp:
            for workers in args.workers:
                found.append(measure_cli(args.events, args.concurrency, Path(tmp), workers))
                say("\n".join(found[-1].lines()))
    say(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps({"preflight": [quick, full], "runs": [dataclasses.asdict(m) for m in found]}))


if __name__ == "__main__":
    main()
