"""Several `transformer serve` processes on one PostgreSQL queue (a throwaway cluster): a kill
mid-load, a stalled forwarder whose lease is taken over, a PostgreSQL restart mid-load; and the
`--queue` command line. `benchmarks/serve_cluster.py` runs the load scenarios bigger."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

from transformer.server.queue.base import Intake, Outcome

from .conftest import ROOT
from .postgres_cluster import Postgres
from .test_server_harness import mapping, metric, payload, wait_for

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("serve_cluster", ROOT / "benchmarks" / "serve_cluster.py")
assert _spec is not None and _spec.loader is not None
cluster = importlib.util.module_from_spec(_spec)
sys.modules["serve_cluster"] = cluster
_spec.loader.exec_module(cluster)


def test_three_receivers_one_queue_one_kill_deliver_every_acknowledged_webhook_once(
        tmp_path: Path, postgres_url: str) -> None:
    result = cluster.run(tmp_path, postgres_url, receivers=3, webhooks=450, rate=120, repeat_every=10,
                         kill=True, restart=True)
    assert result.lost == set() and result.extra == set() and result.twice == set()
    assert (result.pending_at_end, result.letters_at_end) == (0, 0)
    assert result.alive_at_end == [True, True, True]
    # cross-instance repeats: where both copies were answered, one was stored and one a duplicate
    pairs = [sorted(result.first_answers(n)) for n in range(10, 451, 10)]
    answered = [pair for pair in pairs if all(o in ("stored", "duplicate") for o in pair)]
    assert len(answered) >= 20 and all(pair == ["duplicate", "stored"] for pair in answered)
    # the kill landed mid-load, and the faults and copies really happened
    assert any(a.outcome == "failed" for a in result.answers[:result.first_pass])
    assert {"429", "503"} <= set(result.amplitude_statuses)
    assert result.copies_received > len(result.kept)


def test_two_receivers_of_two_workers_each_deliver_every_webhook_once_and_count_them_all(
        tmp_path: Path, postgres_url: str) -> None:
    """`serve --workers 2` on a PostgreSQL queue (tests/test_serve_workers.py kills workers and
    supervisors on SQLite; the queue is the only difference)."""
    result = cluster.run(tmp_path, postgres_url, receivers=2, webhooks=160, rate=160, repeat_every=10,
                         extra=("--workers", "2"))
    assert result.lost == set() and result.extra == set() and result.twice == set()
    assert (result.pending_at_end, result.letters_at_end) == (0, 0)
    assert result.alive_at_end == [True, True]
    for receiver, text in enumerate(result.metrics):   # each counts, over its workers, all it answered
        answered = [a for a in result.answers if a.receiver == receiver and a.outcome != "failed"]
        assert metric(text, "transformer_webhooks_received_total") == len(answered) > 0
        assert metric(text, "transformer_webhooks_duplicate_total") == sum(
            a.outcome == "duplicate" for a in answered)


def test_a_stalled_forwarder_loses_its_lease_to_another_and_its_late_settles_change_nothing(
        tmp_path: Path, postgres_url: str) -> None:
    from transformer.server.queue.postgres import PostgresQueue

    with cluster.FakeAmplitude(api_key=cluster.KEY, faults=cluster.Faults(down=True)) as amplitude:
        extra = ("--lease", "2", "--retry-window", "60", "--log-level", "warning")
        queue = PostgresQueue(postgres_url)     # 20 events waiting, so that one claim takes them all
        compiled = mapping(amplitude.url)
        assert queue.intake([Intake(f"w{n}", [orjson.dumps(event) for event in compiled.apply(payload(n)).events])
                             for n in range(1, 21)]) == [Outcome.STORED] * 20
        queue.close()
        stalled = cluster.Serve(["--queue", postgres_url], cluster.free_port(), amplitude.url,
                                tmp_path / "stalled.log", *extra)
        stalled.start()
        try:
            wait_for(lambda: metric(httpx.get(stalled.url + "/metrics").text, "transformer_forwarding_errors_total",
                                    kind="503") >= 2,
                     what="the first receiver to hold the events, retrying a down Amplitude")
            assert stalled.process is not None
            os.kill(stalled.process.pid, signal.SIGSTOP)     # stalls holding the lease
            amplitude.faults.down = False
            other = cluster.Serve(["--queue", postgres_url], cluster.free_port(), amplitude.url,
                                  tmp_path / "other.log", *extra)
            other.start()
            try:
                wait_for(lambda: len(amplitude.ingested) == 20 and cluster.queue_counts(postgres_url) == (0, 0),
                         60, "the second receiver to deliver the events once the lease expired")
                text = httpx.get(other.url + "/metrics").text
                assert metric(text, "transformer_events_delivered_total") == 20
                os.kill(stalled.process.pid, signal.SIGCONT)  # its retries now succeed: a late ack
                wait_for(lambda: metric(httpx.get(stalled.url + "/metrics").text,
                                        "transformer_events_settle_stale_total") == 20,
                         60, "the stalled receiver's late settle")
                assert cluster.queue_counts(postgres_url) == (0, 0)
                assert len(amplitude.kept) == 20 and amplitude.stats()["received"] > 20   # copies, deduped
            finally:
                other.stop()
        finally:
            if stalled.process is not None and stalled.process.poll() is None:
                os.kill(stalled.process.pid, signal.SIGCONT)
            stalled.stop()


def test_a_postgresql_restart_mid_load_answers_503_then_recovers_without_losing_anything(
        tmp_path: Path, postgres_server: Postgres, postgres_url: str) -> None:
    if postgres_server.folder is None:
        pytest.skip("TRANSFORMER_TEST_POSTGRES_URL names a server these tests cannot restart")
    result = cluster.run(tmp_path, postgres_url, receivers=2, webhooks=300, rate=60, repeat_every=0,
                         db_outage=(postgres_server.stop, postgres_server.start), down_for=3.0,
                         faults=cluster.Faults())
    assert result.lost == set() and result.extra == set() and result.twice == set()
    assert (result.pending_at_end, result.letters_at_end) == (0, 0)
    assert result.alive_at_end == [True, True]                 # no receiver restarted
    load = Counter(a.outcome for a in result.answers[:result.first_pass])
    assert load["503"] > 0 and load["stored"] > 0               # refused while down, stored around it
    assert 503 in result.readyz_while_down
    assert sum(metric(text, "transformer_webhooks_store_errors_total") for text in result.metrics) > 0


# the command line ------------------------------------------------------------------------------

def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSFORMER_", "AMPLITUDE_"))}
    return subprocess.run([sys.executable, "-m", "transformer", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**environment, **(env or {})}, timeout=120, check=False)


def test_queue_migrate_creates_the_tables_once_and_says_so(postgres_url: str) -> None:
    first = _run("queue", "migrate", "--queue", postgres_url)
    assert (first.returncode, first.stderr) == (0, f"{postgres_url}: the queue's tables migrated from schema 0 to 1\n")
    again = _run("queue", "migrate", env={"TRANSFORMER_QUEUE_URL": postgres_url})
    assert (again.returncode, again.stderr) == (0, f"{postgres_url}: the queue's tables are at schema 1; nothing to do\n")


def test_concurrent_migrations_apply_each_version_once(postgres_url: str) -> None:
    from transformer.server.queue.postgres import migrate_database

    results: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate_database(postgres_url))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [(0, 1), (1, 1), (1, 1), (1, 1)]


def test_dead_letters_commands_read_the_postgresql_queue(postgres_url: str) -> None:
    from transformer.server.queue.postgres import PostgresQueue

    queue = PostgresQueue(postgres_url)
    queue.intake([Intake("p1", error="payload error: bad", payload=b'{"event_id":"p1"}')])
    queue.close()
    listed = _run("dead-letters", "list", "--queue", postgres_url)
    assert listed.returncode == 0 and "payload_error" in listed.stdout and "p1" in listed.stdout
    assert listed.stderr == f"1 dead letter in {postgres_url}\n"
    missing = _run("dead-letters", "show", "99", env={"TRANSFORMER_QUEUE_URL": postgres_url})
    assert (missing.returncode, missing.stderr) == (1, f"error: no dead letter 99 in {postgres_url}\n")


def test_a_database_without_the_tables_is_refused_by_dead_letters_and_a_password_is_never_shown(
        postgres_server: Postgres) -> None:
    url = postgres_server.database().replace("postgres@", "postgres:s3cret-pw@")
    result = _run("dead-letters", "list", "--queue", url)
    assert result.returncode == 2 and "no transformer queue in" in result.stderr
    assert "s3cret-pw" not in result.stderr and "postgres:***@" in result.stderr
