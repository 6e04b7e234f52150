"""What the processes of `serve --workers` tell each other (`server/peers.py`), and how the
supervisor treats a worker that exits (`cli/serve_workers.py`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from transformer.cli import serve_workers
from transformer.server.metrics import ReceiverMetrics
from transformer.server.peers import STALE, SUPERVISOR, Peers, RemoteForwarder, retire


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_process_publishes_its_counters_and_reads_the_others(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    worker, other = ReceiverMetrics(), ReceiverMetrics()
    worker.received.inc(3)
    other.received.inc(4)
    mine = Peers(tmp_path, "worker-0", worker, clock=clock)
    theirs = Peers(tmp_path, "worker-1", other, clock=clock)
    mine.publish()
    theirs.publish()
    (tmp_path / "broken.json").write_text("{")   # a file being written by an older version, say
    others = mine.others()
    assert [snapshot["transformer_webhooks_received_total"] for snapshot in others] == [[[[], 4.0]]]
    assert "transformer_webhooks_received_total 7" in worker.render(others).splitlines()
    assert not list(tmp_path.glob(".*.part"))


def test_a_dead_workers_counters_stay_in_the_sums_and_its_gauges_leave_them(tmp_path: Path) -> None:
    dead, reader = ReceiverMetrics(), ReceiverMetrics()
    dead.received.inc(1000)
    dead.connections.set(7)
    Peers(tmp_path, "worker-0", dead).publish()
    retire(tmp_path, "worker-0")
    again = ReceiverMetrics()   # the worker started again under the same name
    again.received.inc(5)
    again.connections.set(2)
    Peers(tmp_path, "worker-0", again).publish()
    lines = reader.render(Peers(tmp_path, "worker-1", reader).others()).splitlines()
    assert "transformer_webhooks_received_total 1005" in lines
    assert "transformer_http_connections 2" in lines
    retire(tmp_path, "worker-9")   # nothing to keep: nothing happens
    assert len(list(tmp_path.glob("retired-worker-0-*.json"))) == 1


def test_workers_see_the_supervisors_forwarder_and_a_silent_supervisor_as_not_running(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    forwarder = SimpleNamespace(alive=True, blocked=True, last_progress=time.monotonic() - 30.0,
                                last_error="401 Invalid API key")
    supervisor = Peers(tmp_path, SUPERVISOR, ReceiverMetrics(), forwarder=forwarder, clock=clock)  # type: ignore[arg-type]
    supervisor.publish()
    remote = Peers(tmp_path, "worker-0", ReceiverMetrics(), clock=clock).remote_forwarder()
    assert isinstance(remote, RemoteForwarder)
    clock.now += 2.0
    assert remote.alive and remote.blocked and remote.last_error == "401 Invalid API key"
    assert time.monotonic() - remote.last_progress == pytest.approx(32.0, abs=1.0)
    clock.now += STALE
    assert not remote.alive and not remote.blocked
    assert "has not reported" in remote.last_error


def test_publishing_never_raises_when_the_folder_is_gone(tmp_path: Path) -> None:
    peers = Peers(tmp_path / "gone", "worker-0", ReceiverMetrics())
    peers.publish()
    assert peers.others() == []


class _Exited:
    def __init__(self, code: int | None) -> None:
        self.code = code
        self.pid = 4242

    def poll(self) -> int | None:
        return self.code


def test_a_worker_that_dies_is_started_again_and_one_that_cannot_start_stops_the_server(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pool = serve_workers._Pool(None, None, None, tmp_path)  # type: ignore[arg-type]
    started: list[int] = []

    def start(index: int) -> None:
        started.append(index)
        pool.running[index] = _Exited(None), time.monotonic()  # type: ignore[assignment]

    monkeypatch.setattr(pool, "start", start)
    long_ago = time.monotonic() - serve_workers.QUICK_EXIT - 1
    pool.running = {0: (_Exited(None), long_ago), 1: (_Exited(-9), long_ago)}  # type: ignore[dict-item]
    assert pool.restart_exited() == ""
    assert started == [1] and pool.running[1][0].poll() is None
    pool.running[0] = (_Exited(1), time.monotonic())  # type: ignore[assignment]
    failure = pool.restart_exited()
    assert failure.startswith("worker 0 exited with 1 0.") and 0 not in pool.running and started == [1]


def test_a_workers_spec_goes_through_json(tmp_path: Path) -> None:
    from transformer.server.guard import HttpLimits

    workers = serve_workers.Workers(2, "m.yaml", ["a=1"], None, None, str(tmp_path), None, "full", "info",
                                    "auto", "auto", HttpLimits(max_connections=7))
    assert serve_workers.Workers.from_json(json.loads(json.dumps(workers.to_json()))) == workers


def test_the_peers_folder_of_an_sqlite_store_is_in_its_data_dir_emptied_of_a_killed_servers(
        tmp_path: Path) -> None:
    left = tmp_path / serve_workers.PEERS_NAME
    left.mkdir()
    (left / "worker-0.json").write_text("{}")
    folder = serve_workers._peers_folder(str(tmp_path))
    assert folder == left and list(folder.iterdir()) == []
    elsewhere = serve_workers._peers_folder(None)   # a PostgreSQL queue: a temporary folder
    try:
        assert elsewhere.name.startswith("transformer-serve-") and list(elsewhere.iterdir()) == []
    finally:
        elsewhere.rmdir()
