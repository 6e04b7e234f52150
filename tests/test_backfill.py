"""`transformer backfill` on a real Dask cluster: a LocalCluster of 2 worker processes, shared by
the tests of this module, each backfill a `transformer` process given `--scheduler`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults

from .backfill_data import SETTINGS, Inputs, payloads, write_inputs
from .conftest import ROOT
from .test_server_harness import wait_for

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

KEY = "backfill-test-key-0123456789"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                                  silence_logs=logging.ERROR) as local, distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return write_inputs(tmp_path_factory.mktemp("backfill-in"), files=20, per_file=10_000)


@pytest.fixture(scope="module")
def expected(inputs: Inputs) -> tuple[bytes, list[str]]:
    """What `replay` writes for the same payloads (on the twins of gzip and Parquet inputs):
    stdout, and stderr's lines."""
    run = subprocess.run([sys.executable, "-m", "transformer", "replay", *map(str, inputs.twins), *SETTINGS],
                         cwd=ROOT, capture_output=True, timeout=600)
    assert run.returncode == 1, run.stderr  # the two broken payloads of the first file
    return run.stdout, run.stderr.decode().splitlines()


def backfill(cluster: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "transformer", "backfill", *args, "--scheduler",
            cluster.scheduler.address, *SETTINGS]


def parts(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("part-*.ndjson")))


def wait_for_workers(cluster: Any) -> None:
    cluster.wait_for_workers(2, timeout=120)


def _compiled_here() -> int:
    from transformer.runtime import mapping

    return len(mapping._COMPILED)


def kill_a_worker_once(cluster: Any, folder: Path) -> int:
    """SIGKILL one worker process as soon as the job has written its first part."""
    wait_for(lambda: next(folder.glob("part-*.ndjson"), None), timeout=300, what="a first part")
    pids = cluster.run(os.getpid)
    victim: int = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    return victim


def test_parts_concatenated_are_replay_byte_for_byte_and_a_rerun_does_nothing(
        cluster: Any, inputs: Inputs, expected: tuple[bytes, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(backfill(cluster, *inputs.names, "-o", str(out), "--partition-size", "1000000"),
                         cwd=ROOT, capture_output=True, timeout=900)
    stdout, errors = expected
    lines = run.stderr.decode().splitlines()
    assert run.returncode == 1, run.stderr
    assert parts(out) == stdout
    assert len(stdout) > 50_000_000
    # the same error lines (located in their file across partitions) and the same summary
    assert [line for line in lines if not line.startswith(("dask:", "output:"))] == errors
    assert errors[-1] == ("read 200002 payloads, wrote 196078 events, skipped 3922 (no_identity: 3922), "
                          "2 payload errors")
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    statuses = {record["status"] for record in manifest["partitions"].values()}
    assert statuses == {"written"}
    assert len(manifest["partitions"]) == len(list(out.glob("part-*.ndjson"))) > 20
    kinds = {record["kind"] for record in manifest["partitions"].values()}
    assert kinds == {"ndjson", "json", "parquet"}
    # each worker process ran many tasks and compiled the mapping once (the first job on this cluster)
    compiled = cluster.run(_compiled_here)
    assert sorted(compiled.values()) == [1, 1], compiled

    again = subprocess.run(backfill(cluster, *inputs.names, "-o", str(out), "--partition-size", "1000000"),
                           cwd=ROOT, capture_output=True, timeout=600)
    said = again.stderr.decode()
    assert f"; 0 of {len(manifest['partitions'])} partitions to do" in said
    assert [line for line in said.splitlines() if not line.startswith(("dask:", "output:"))] == errors
    assert parts(out) == stdout


def test_a_worker_killed_mid_run_loses_no_partition(cluster: Any, inputs: Inputs,
                                                    expected: tuple[bytes, list[str]], tmp_path: Path) -> None:
    wait_for_workers(cluster)
    out = tmp_path / "out"
    job = subprocess.Popen(backfill(cluster, *inputs.names, "-o", str(out), "--partition-size", "500000"),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        killed = kill_a_worker_once(cluster, out)
        _, stderr = job.communicate(timeout=900)
    finally:
        job.kill()
    assert job.returncode == 1, stderr
    assert stderr.decode().splitlines()[-2] == expected[1][-1]
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert {record["status"] for record in manifest["partitions"].values()} == {"written"}
    assert parts(out) == expected[0]
    assert not list(out.glob(".*.tmp"))  # what the killed worker was writing is cleared away
    wait_for_workers(cluster)
    assert killed not in cluster.run(os.getpid).values()  # it was a worker, and it died


class _Timed(FakeAmplitude):
    """A fake Amplitude that notes when each accepted request arrived and how many events it held."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, int]] = []
        self.order: list[tuple[str, str]] = []  # (user_id, insert_id) of each event accepted, as it came
        self._lock = threading.Lock()

    def answer(self, path: str, headers: Any, body: bytes) -> Any:
        arrived = time.monotonic()
        found = super().answer(path, headers, body)
        if found is not None and found.status == 200:
            events = orjson.loads(body)["events"]
            with self._lock:
                self.arrivals.append((arrived, int(found.body["events_ingested"])))
                self.order.extend((str(e.get("user_id")), str(e["insert_id"])) for e in events)
        return found


def _ids(data: bytes) -> list[str]:
    return [orjson.loads(line)["insert_id"] for line in data.splitlines()]


def test_send_with_faults_and_a_killed_worker_delivers_every_event_once_and_a_rerun_sends_nothing(
        cluster: Any, tmp_path: Path) -> None:
    wait_for_workers(cluster)
    source = tmp_path / "history.ndjson"
    source.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads(40_000, 500_000)))
    out = tmp_path / "out"
    faults = Faults(error=0.05, error_after_ingest=0.05, drop=0.02, seed=13)
    with FakeAmplitude(api_key=KEY, faults=faults) as fake:
        command = backfill(cluster, str(source), "-o", str(out), "--partition-size", "600000", "--send",
                           "--rate", "50000", "--senders", "2", "--set", f"endpoint={fake.url}")
        env = {**os.environ, "AMPLITUDE_API_KEY": KEY}
        job = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            kill_a_worker_once(cluster, out)
            _, stderr = job.communicate(timeout=900)
        finally:
            job.kill()
        said = stderr.decode()
        assert job.returncode == 0, said
        assert KEY not in said
        expected = _ids(parts(out))
        assert len(expected) == len(set(expected)) > 30_000
        kept = [str(event["insert_id"]) for event in fake.kept.values()]
        assert sorted(kept) == sorted(expected)       # every event, and each kept once
        assert set(fake.received) == set(expected)    # nothing else arrived
        assert fake.stats()["duplicates"] > 0         # faults after ingesting made resends
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert {record["status"] for record in manifest["partitions"].values()} == {"sent"}
        requests = fake.stats()["requests"]

        again = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600, env=env)
        assert again.returncode == 0, again.stderr
        assert f"; 0 of {len(manifest['partitions'])} partitions to do" in again.stderr.decode()
        assert fake.stats()["requests"] == requests


def test_the_events_per_second_budget_holds_for_all_workers_together(cluster: Any, tmp_path: Path) -> None:
    wait_for_workers(cluster)
    source = tmp_path / "history.ndjson"
    source.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads(12_000, 900_000)))
    with _Timed(api_key=KEY) as fake:
        run = subprocess.run(backfill(cluster, str(source), "-o", str(tmp_path / "out"), "--send",
                                      "--partition-size", "400000", "--rate", "2000", "--senders", "2",
                                      "--set", f"endpoint={fake.url}"),
                             cwd=ROOT, capture_output=True, timeout=600, env={**os.environ, "AMPLITUDE_API_KEY": KEY})
        assert run.returncode == 0, run.stderr
        arrivals = sorted(fake.arrivals)
    total = sum(n for _, n in arrivals)
    assert total > 11_000
    busiest = max(sum(n for t, n in arrivals if start <= t < start + 1.0) for start, _ in arrivals)
    print(f"busiest second: {busiest} events")
    assert busiest <= 2000 * 1.05, busiest
    assert arrivals[-1][0] - arrivals[0][0] >= total / 2000 - 1.5  # it was the budget that paced it


def test_by_user_sends_each_users_events_through_one_sender_in_input_order(cluster: Any, tmp_path: Path) -> None:
    wait_for_workers(cluster)
    source = tmp_path / "history.ndjson"
    made = payloads(16_000, 2_000_000)
    for n, payload in enumerate(made):  # 40 users, each with events in every partition
        payload["data"] = {**payload.get("data", {}), "customer_id": f"user-{n % 40:04d}",
                           "identifiers": {"id": f"user-{n % 40:04d}"}}
    source.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in made))
    out = tmp_path / "out"
    env = {**os.environ, "AMPLITUDE_API_KEY": KEY}
    with _Timed(api_key=KEY) as fake:
        command = backfill(cluster, str(source), "-o", str(out), "--send", "--by-user", "--senders", "2",
                           "--partition-size", "700000", "--rate", "50000", "--set", f"endpoint={fake.url}")
        run = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600, env=env)
        assert run.returncode == 0, run.stderr
        written = [orjson.loads(line) for line in parts(out).splitlines()]
        users = {str(e["user_id"]) for e in written}
        assert len(users) == 40
        assert sorted(i for _, i in fake.order) == sorted(str(e["insert_id"]) for e in written)
        for user in users:  # each user's events arrived in the order of the input
            arrived = [i for u, i in fake.order if u == user]
            assert arrived == [str(e["insert_id"]) for e in written if str(e["user_id"]) == user], user
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert len(manifest["partitions"]) > 5
        assert len(manifest["groups"]) == 2 * len(manifest["partitions"])
        requests = fake.stats()["requests"]
        again = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600, env=env)
        assert again.returncode == 0, again.stderr
        assert fake.stats()["requests"] == requests


def test_an_invalid_key_stops_the_job_without_showing_the_key_and_a_rerun_sends_it_all(
        cluster: Any, tmp_path: Path) -> None:
    wait_for_workers(cluster)
    source = tmp_path / "history.ndjson"
    source.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads(6_000, 3_000_000)))
    out = tmp_path / "out"
    with FakeAmplitude(api_key=KEY) as fake:
        command = backfill(cluster, str(source), "-o", str(out), "--send", "--partition-size", "500000",
                           "--rate", "50000", "--senders", "1", "--set", f"endpoint={fake.url}")
        wrong = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600,
                               env={**os.environ, "AMPLITUDE_API_KEY": "wrong-key-0123456789"})
        said = wrong.stderr.decode()
        assert wrong.returncode == 1, said
        assert "error: stopped sending: Amplitude answered 400 Invalid API key" in said, said
        assert "partitions left for a re-run" in said
        assert "wrong-key-0123456789" not in said and "Traceback" not in said
        assert fake.stats()["ingested"] == 0
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        assert "sent" not in {record["status"] for record in manifest["partitions"].values()}
        letters = list((out / "dead-letters").glob("part-*.ndjson"))  # per partition, the key nowhere
        assert letters and all(b"wrong-key" not in path.read_bytes() for path in letters)
        assert b"wrong-key" not in (out / "manifest.json").read_bytes()
        assert all(b'"kind":"undelivered"' in path.read_bytes() for path in letters)
        right = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600,
                               env={**os.environ, "AMPLITUDE_API_KEY": KEY})
        assert right.returncode == 0, right.stderr
        assert fake.stats()["ingested"] == len(parts(out).splitlines()) > 5_000
        assert not list((out / "dead-letters").glob("part-*.ndjson"))  # delivered now: none kept


def test_without_output_the_events_go_to_stdout_in_order(cluster: Any, inputs: Inputs) -> None:
    names = inputs.names[:2]  # the first file holds the broken lines
    replayed = subprocess.run([sys.executable, "-m", "transformer", "replay", *names, *SETTINGS], cwd=ROOT,
                              capture_output=True, timeout=600)
    run = subprocess.run(backfill(cluster, *names, "--partition-size", "700000"), cwd=ROOT, capture_output=True,
                         timeout=600)
    assert run.returncode == replayed.returncode == 1
    assert run.stdout == replayed.stdout
    assert len(run.stdout) > 5_000_000
    assert run.stderr.decode().splitlines()[1:] == replayed.stderr.decode().splitlines()
