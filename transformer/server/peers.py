"""What the processes of one `transformer serve --workers N` run tell each other.

Each process (the supervisor, which forwards, and each worker, which takes in webhooks) writes a
snapshot of its counters every `EVERY` seconds to `<name>.json` in a folder they share (written
to a temporary name, then renamed, so a reader never sees half of one). A worker answering
/metrics adds the others' last snapshots to its own counters, so every scrape shows the whole
server whichever worker it reaches (up to `EVERY` seconds behind for the others); the queue's
gauges each process reads itself. The supervisor's snapshot also says how its forwarder is
doing, which the workers' /healthz and /readyz report as their own would: a supervisor that
has not written for `STALE` seconds counts as a forwarder that does not run. When a worker dies,
the supervisor renames its last snapshot (`retire`) before it starts the next one under the
same name, so that the sums never go down (a counter's fall reads as a reset in Prometheus);
a retired snapshot's gauges (its open connections) no longer count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .forwarder import Forwarder
from .logs import log
from .metrics import ReceiverMetrics

__all__ = ["EVERY", "RETIRED", "STALE", "SUPERVISOR", "Peers", "RemoteForwarder", "retire"]

_logger = logging.getLogger("transformer.server")

SUPERVISOR = "supervisor"
"""The name of the process that forwards."""
EVERY = 1.0
"""Seconds between a process's snapshots."""
STALE = 10.0
"""A supervisor's snapshot this old: its forwarder is taken as not running."""
RETIRED = "retired-"
"""The start of the name of a dead process's last snapshot."""


def retire(folder: Path, name: str) -> None:
    """Keep the last snapshot of the process `name`, which ended, under a name of its own."""
    with contextlib.suppress(OSError):
        os.replace(folder / f"{name}.json", folder / f"{RETIRED}{name}-{time.time_ns()}.json")


class Peers:
    """One process's side: publishes its snapshot, reads the others'."""

    def __init__(self, folder: Path, name: str, metrics: ReceiverMetrics, *,
                 forwarder: Forwarder | None = None, every: float = EVERY,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.name = name
        self.metrics = metrics
        self.forwarder = forwarder
        self.every = every
        self.clock = clock
        self._gauges = {metric.name for metric in metrics.registry.metrics if metric.kind == "gauge"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peers", daemon=True)

    def start(self) -> Peers:
        """Publish now, then every `every` seconds on a thread."""
        self.publish()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop publishing, after a last snapshot (a worker's counters stay in the sum)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.publish()

    def publish(self) -> None:
        """Write this process's snapshot."""
        data: dict[str, Any] = {"at": self.clock(), "pid": os.getpid(),
                                "metrics": self.metrics.registry.snapshot()}
        if self.forwarder is not None:
            forwarder = self.forwarder
            data["forwarder"] = {"alive": forwarder.alive, "blocked": forwarder.blocked,
                                 "idle": time.monotonic() - forwarder.last_progress,
                                 "last_error": forwarder.last_error}
        path = self.folder / f"{self.name}.json"
        part = path.with_name(f".{self.name}.json.part")
        try:
            part.write_text(json.dumps(data))
            os.replace(part, path)
        except OSError as exc:   # the supervisor removed the folder at its end, or the disk is full
            log(_logger, "warning", "peers_not_written", error=exc.strerror or str(exc))

    def others(self) -> list[dict[str, Any]]:
        """The other processes' last metric snapshots (a retired one without its gauges)."""
        found = []
        for name, data in self._read().items():
            if name == self.name:
                continue
            snapshot = data["metrics"]
            if name.startswith(RETIRED):
                snapshot = {metric: values for metric, values in snapshot.items()
                            if metric not in self._gauges}
            found.append(snapshot)
        return found

    def _read(self) -> dict[str, dict[str, Any]]:
        found = {}
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                found[path.stem] = json.loads(path.read_bytes())
        return found

    def remote_forwarder(self) -> RemoteForwarder:
        """The supervisor's forwarder, as this process's health checks see one."""
        return RemoteForwarder(self.folder / f"{SUPERVISOR}.json", self.clock)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.publish()


class RemoteForwarder:
    """The supervisor's forwarder from its last snapshot: what `Health` and /healthz ask a
    `Forwarder` (`alive`, `blocked`, `last_progress`, `last_error`)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._read: tuple[int, dict[str, Any]] | None = None   # the file's mtime, and what it held

    def _state(self) -> dict[str, Any] | None:
        try:
            stamp = os.stat(self.path).st_mtime_ns
            if self._read is None or self._read[0] != stamp:   # parsed once per snapshot written
                self._read = stamp, json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        data = self._read[1]
        if self.clock() - data["at"] > STALE:
            return None
        state: dict[str, Any] = data.get("forwarder") or {}
        return state | {"age": self.clock() - data["at"]} if state else None

    @property
    def alive(self) -> bool:
        state = self._state()
        return bool(state and state["alive"])

    @property
    def blocked(self) -> bool:
        state = self._state()
        return bool(state and state["blocked"])

    @property
    def last_progress(self) -> float:
        state = self._state()
        return time.monotonic() - (state["idle"] + state["age"] if state else STALE)

    @property
    def last_error(self) -> str:
        state = self._state()
        return str(state["last_error"]) if state else "the supervisor has not reported for a while"
