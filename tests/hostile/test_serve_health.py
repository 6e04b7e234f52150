"""Item 5: health that tells the truth. Before: with transformer.db deleted while running, serve
kept answering 200 into the deleted file (all 100 acknowledged events gone after a restart); a
page-corrupted store started, reported healthy and answered 503 to everything; deleting
serve.lock let a second serve onto the same data dir."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue
from transformer.server.queue.base import Intake
from transformer.server.queue.sqlite import DB_NAME

from ..conftest import MAPPING, ROOT
from ..test_server_harness import (
    KEY,
    SECRET,
    ServeProcess,
    encode,
    free_port,
    metric,
    payload,
    signed,
    wait_for,
)
from .harness import HOOK, post

pytestmark = pytest.mark.slow

NOT_STORED = (503, {"error": "not stored, try again"})


def ids(numbers: range) -> set[str]:
    return {payload(n)["event_id"] for n in numbers}


def ready(url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(url + "/readyz", timeout=10)
    return answer.status_code, answer.json()


def serve_once(data_dir: Path, *extra: str,
               preexec: Callable[[], object] | None = None) -> subprocess.CompletedProcess[str]:
    """`transformer serve` that is expected to refuse to start."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET}
    return subprocess.run([sys.executable, "-m", "transformer", "serve", "--data-dir", str(data_dir),
                           "--port", str(free_port()), "--mapping", str(MAPPING), *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=preexec)


def test_a_store_deleted_while_running_is_not_acknowledged_into_and_what_it_held_is_delivered(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    faults = Faults(down=True)                      # Amplitude is down: events wait in the store
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude:
        server = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            for n in range(1, 6):
                assert post(server.url, encode(payload(n))).json() == {"status": "stored"}
            for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
                (data_dir / name).unlink()
            for n in range(6, 11):
                answer = post(server.url, encode(payload(n)))
                assert (answer.status_code, answer.json()) == NOT_STORED
            status, body = ready(server.url)
            assert (status, body["status"]) == (503, "unready")
            assert body["problems"] == [f"{data_dir / DB_NAME} was deleted while in use"]
            assert httpx.get(server.url + "/healthz").status_code == 200      # alive: it still forwards
            faults.down = False
            wait_for(lambda: set(amplitude.ingested) == ids(range(1, 6)), 30,
                     "the events the deleted file held")
            assert not (data_dir / DB_NAME).exists()    # nothing recreated it behind our back
            text = httpx.get(server.url + "/metrics").text
            assert metric(text, "transformer_webhooks_store_errors_total") == 5
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(30) == 143
        finally:
            server.stop()
        # restarted on a fresh store, Customer.io's retries of the refused five are taken in
        again = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            for n in range(6, 11):
                assert post(again.url, encode(payload(n))).json() == {"status": "stored"}
            wait_for(lambda: set(amplitude.ingested) == ids(range(1, 11)), 30, "every webhook")
        finally:
            again.stop()


def test_a_store_replaced_while_running_makes_serve_unready_and_refuse_webhooks(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            assert post(server.url, encode(payload(1))).json() == {"status": "stored"}
            assert ready(server.url)[0] == 200
            shutil.copy(data_dir / DB_NAME, tmp_path / "restored.db")
            os.replace(tmp_path / "restored.db", data_dir / DB_NAME)     # e.g. a backup restored over it
            answer = post(server.url, encode(payload(2)))
            assert (answer.status_code, answer.json()) == NOT_STORED
            assert ready(server.url)[1]["problems"] == [
                f"{data_dir / DB_NAME} was replaced by another file while in use"]
        finally:
            server.stop()


def test_a_damaged_store_is_refused_at_start_with_what_to_do(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    store = SqliteQueue(data_dir)
    store.intake([Intake(f"id-{i}", [encode({"n": i})]) for i in range(200)])
    store.close()
    damaged = bytearray((data_dir / DB_NAME).read_bytes())
    damaged[4096 * 4:4096 * 4 + 16] = b"\xff" * 16              # the header of page 5
    (data_dir / DB_NAME).write_bytes(bytes(damaged))
    result = serve_once(data_dir)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {data_dir / DB_NAME} is damaged (")
    assert result.stderr.endswith(
        "): stop and keep a copy of the data dir; `sqlite3 transformer.db .recover | sqlite3 "
        "recovered.db` saves what can be read (then move recovered.db to transformer.db); or start "
        "serve on an empty --data-dir (the events waiting in the damaged file are then not forwarded)\n")


def test_a_store_that_takes_no_writes_is_refused_at_start_and_a_full_disk_gets_503(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    SqliteQueue(data_dir).close()
    # no file may grow past the store's size, nor past 16 KiB (the WAL index alone takes 32 KiB): as
    # a full disk would have it, whatever the size of a new store's tables
    size = min((data_dir / DB_NAME).stat().st_size, 16384)

    def no_growth() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    result = serve_once(data_dir, preexec=no_growth)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2, f"error: cannot open {data_dir / DB_NAME}: disk I/O error")

    def little_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    with FakeAmplitude(api_key=KEY, faults=Faults(down=True)) as amplitude:
        server = ServeProcess(data_dir, amplitude.url, preexec=little_room).wait_ready()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                statuses = [client.post(HOOK, content=body, headers=signed(body)).status_code
                            for body in (encode(payload(n)) for n in range(1, 301))]
            first_refused = statuses.index(503)
            assert set(statuses[:first_refused]) == {200} and set(statuses[first_refused:]) == {503}
            # the small probe commit may still fit a little longer than webhooks do; not for long
            wait_for(lambda: ready(server.url)[0] == 503, 30, "serve to turn unready")
            (problem,) = ready(server.url)[1]["problems"]
            assert problem in ("the store does not take commits: database or disk is full",
                               "the store does not take commits: disk I/O error")   # SQLite says either
            assert post(server.url, encode(payload(301))).status_code == 503
        finally:
            server.stop()
    store = SqliteQueue(data_dir, create=False)
    kept = {row.event_id for row in store.pending(1000)}
    store.close()
    assert kept == ids(range(1, first_refused + 1))      # every acknowledged webhook, and only those


def test_deleting_every_other_file_of_the_data_dir_does_not_let_a_second_serve_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with FakeAmplitude(api_key=KEY) as amplitude:
        first = ServeProcess(data_dir, amplitude.url).wait_ready()
        try:
            assert (data_dir / "serve.pid").read_text() == f"pid {first.process.pid}\n"
            for path in data_dir.iterdir():           # serve.pid (serve.lock, before)
                if not path.name.startswith(DB_NAME):
                    path.unlink()
            result = serve_once(data_dir)
            assert result.returncode == 2
            assert result.stderr == (f"error: {data_dir} is in use by another transformer serve (another "
                                     "process); give each instance its own --data-dir\n")
            assert ready(first.url)[0] == 200
        finally:
            first.stop()


def test_stuck_forwarding_makes_serve_unready_but_webhooks_are_still_taken_in(tmp_path: Path) -> None:
    faults = Faults(down=True)
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--stuck-after", "1").wait_ready()
        try:
            assert post(server.url, encode(payload(1))).json() == {"status": "stored"}

            def unready() -> dict[str, Any] | None:
                status, body = ready(server.url)
                return body if status == 503 else None

            body = wait_for(unready, 30, "forwarding to be reported stuck")
            (problem,) = body["problems"]
            assert problem.startswith("forwarding stuck: the oldest event has waited ")
            assert problem.endswith(" (last error: 503 Service Unavailable)")
            assert post(server.url, encode(payload(2))).json() == {"status": "stored"}
            text = httpx.get(server.url + "/metrics").text
            assert metric(text, "transformer_forwarding_errors_total", kind="503") >= 1
            assert metric(text, "transformer_queue_oldest_age_seconds") > 1
            faults.down = False
            wait_for(lambda: set(amplitude.ingested) == ids(range(1, 3)), 30, "delivery")
            wait_for(lambda: ready(server.url)[0] == 200, 30, "readiness")
        finally:
            server.stop()
