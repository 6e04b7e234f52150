"""`transformer serve --workers N`: N receiver processes on one port and one queue, and the
forwarder in the process that started them.

The supervisor (the `serve` process) prepares the queue as one receiver does (SQLite: takes the
lock, checks the file, ends an earlier process's leases), binds the port, and starts N workers
(`python -m transformer.cli.serve_workers`), each handed the listening socket and, on a pipe, what
to serve: the same mapping options, limits and queue. Each worker accepts connections on the
shared socket and commits the webhooks it takes in to the shared queue (SQLite: the workers take
turns to commit their groups, `SqliteQueue.transaction`; a webhook is still answered only once
committed). The supervisor runs
the only forwarder, which looks for new events every `POLL` seconds, since the commits happen in
other processes. So requests use every core and forwarding never delays an answer.

A worker that dies is started again; one that exits within `QUICK_EXIT` seconds of its start
(it cannot load the mapping, open the queue, ...) stops the whole server with exit 1. On SIGTERM
or Ctrl-C the supervisor asks every worker to finish its requests (uvicorn's graceful shutdown,
up to 30 s), then stops forwarding and exits 143 or 130. A worker whose supervisor dies gets
SIGTERM from the kernel (Linux), so none is left serving alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..server.app import Receiver, ReceiverOptions
from ..server.guard import HttpLimits
from ..server.logs import log
from ..server.peers import SUPERVISOR, retire
from ..server.queue.base import Queue
from .basics import fail
from .parent_death import die_with
from .serve_run import Stop, checked_options, open_store, run_receiver

if TYPE_CHECKING:
    from ..destinations.base import Destination
    from ..runtime.mapping import CompiledMapping

__all__ = ["PEERS_NAME", "POLL", "QUICK_EXIT", "Workers", "supervise"]

_logger = logging.getLogger("transformer.server")

POLL = 0.05
"""Seconds between the forwarder's looks at an empty queue (workers commit in other processes)."""
QUICK_EXIT = 5.0
"""A worker that exits this soon after its start is not restarted: the server stops."""
PEERS_NAME = "serve-peers"
"""The peers' folder in an SQLite store's data dir."""
_GRACE = 40.0
"""Seconds a worker is given to finish after SIGTERM (uvicorn's graceful shutdown takes up to 30)."""


@dataclass
class Workers:
    """How many worker processes, and what each needs to build its receiver (JSON on its stdin)."""

    count: int
    mapping: str
    assignments: list[str] | None
    settings_file: str | None
    destination: str | None
    data_dir: str | None
    queue_url: str | None
    sync: str
    log_level: str
    http: str
    loop: str
    limits: HttpLimits = field(default_factory=HttpLimits)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workers:
        return cls(**{**data, "limits": HttpLimits(**data["limits"])})


def supervise(stop: Stop, workers: Workers, compiled: CompiledMapping, options: ReceiverOptions,
              store: Queue, destination: Destination | None, host: str, port: int) -> None:
    """Run `workers.count` workers on `host`:`port` and forward from `store` until a signal."""
    try:
        listener = _bind(host, port)
    except OSError as exc:
        store.close()
        fail(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
    pool = _Pool(workers, options, listener, _peers_folder(workers.data_dir))
    receiver = Receiver(compiled, store, dataclasses.replace(options, poll=POLL), destination=destination,
                        peers=(pool.folder, SUPERVISOR))
    failure = ""
    try:
        receiver.start()
        for index in range(workers.count):
            pool.start(index)
        log(_logger, "info", "serving", host=host, port=port, workers=workers.count, peers=str(pool.folder))
        while stop.signal is None and not failure:
            failure = pool.restart_exited()
            time.sleep(0.2)
    finally:
        pool.stop()
        listener.close()
        receiver.close()
        store.close()
        shutil.rmtree(pool.folder, ignore_errors=True)
    if failure:
        fail(f"error: {failure} (the log above says why)", 1)


def _peers_folder(data_dir: str | None) -> Path:
    """Where the processes share their counters (`server/peers.py`): `PEERS_NAME` in an SQLite
    store's data dir, emptied first (one a killed supervisor left: this one holds the store
    now), else a new temporary folder."""
    if data_dir is None:
        return Path(tempfile.mkdtemp(prefix="transformer-serve-"))
    folder = Path(data_dir) / PEERS_NAME
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _bind(host: str, port: int) -> socket.socket:
    """The port, bound and not listening: connections are refused until a worker is ready (its
    event loop listens), rather than kept waiting while the workers start."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


class _Pool:
    """The worker processes, each with the time it started, by index."""

    def __init__(self, workers: Workers, options: ReceiverOptions, listener: socket.socket,
                 folder: Path) -> None:
        self.workers = workers
        self.options = options
        self.listener = listener
        self.folder = folder   # the peers' (server/peers.py)
        self.running: dict[int, tuple[subprocess.Popen[bytes], float]] = {}

    def start(self, index: int) -> None:
        spec = {"workers": self.workers.to_json(), "options": dataclasses.asdict(self.options),
                "fd": self.listener.fileno(), "peers": [str(self.folder), f"worker-{index}"],
                "parent": os.getpid()}
        process = subprocess.Popen([sys.executable, "-m", "transformer.cli.serve_workers"],
                                   stdin=subprocess.PIPE, pass_fds=(self.listener.fileno(),))
        assert process.stdin is not None
        with process.stdin:   # a pipe, never a file: --set may carry a secret
            process.stdin.write(json.dumps(spec).encode())
        log(_logger, "info", "worker_started", worker=index, pid=process.pid)
        self.running[index] = process, time.monotonic()

    def restart_exited(self) -> str:
        """Start again each worker that exited; a reason to stop when one exited right after its
        start."""
        for index, (process, started) in list(self.running.items()):
            code = process.poll()
            if code is None:
                continue
            lived = time.monotonic() - started
            log(_logger, "error", "worker_exited", worker=index, pid=process.pid, code=code,
                seconds=round(lived, 1))
            if lived < QUICK_EXIT:
                del self.running[index]
                return f"worker {index} exited with {code} {lived:.1f} s after it started"
            retire(self.folder, f"worker-{index}")   # its counters stay in the sums
            self.start(index)
        return ""

    def stop(self) -> None:
        """SIGTERM to each worker; a worker still running after `_GRACE` seconds is killed."""
        processes = [process for process, _ in self.running.values()]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _GRACE
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(_logger, "error", "worker_killed", pid=process.pid, after=_GRACE)
                process.kill()
                process.wait()


# the worker ------------------------------------------------------------------------------

def _worker() -> None:
    """A worker's main: read its spec from stdin, serve on the inherited socket until a signal."""
    spec = json.loads(sys.stdin.buffer.read())
    die_with(spec["parent"], signal.SIGTERM)
    from ..io.checked import use_directory
    from ..server.logs import configure
    from .basics import load_from_options
    from .commands import cache_folder

    use_directory(cache_folder(os.environ))
    workers = Workers.from_json(spec["workers"])
    options = ReceiverOptions(**{**spec["options"], "forward": False})
    stop = Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    compiled = load_from_options(workers.mapping, workers.assignments,
                                 Path(workers.settings_file) if workers.settings_file else None,
                                 destination=workers.destination)
    _, secrets = checked_options(compiled, options, sync=workers.sync, http=workers.http, loop=workers.loop)
    configure(workers.log_level, secrets=secrets)
    listener = socket.socket(fileno=spec["fd"])
    host, port = listener.getsockname()[:2]
    store = open_store(Path(workers.data_dir) if workers.data_dir else None, workers.queue_url,
                       workers.sync, shared=True)
    try:
        folder, name = spec["peers"]
        run_receiver(stop, compiled, options, workers.limits, store, None, host, port,
                     http=workers.http, loop=workers.loop, sockets=[listener], peers=(Path(folder), name))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.signal is not None:
        sys.exit(128 + stop.signal)


if __name__ == "__main__":   # a worker, started by `supervise` only
    _worker()
