"""The pieces of `transformer backfill` without a cluster of processes: partitions of an input
own each line once, tasks run in process, the rate limit, the command's refusals; and one job on
`memory://` inputs and output with an in-process cluster."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from transformer.backfill.inputs import InputKind, PlanError, expand_inputs, input_kind, plan_partitions
from transformer.backfill.job import Backfill
from transformer.backfill.read import PartitionReader
from transformer.backfill.send import WINDOW, RateLimit, Sealed
from transformer.backfill.store import Store
from transformer.backfill.work import PartitionTask, run_partition
from transformer.cli.typer_app import app

from .backfill_data import SETTINGS, payloads
from .conftest import MAPPING

pytest.importorskip("fsspec")

SETTING_VALUES = {"account_id": 1, "workspace_id": 56354}


@pytest.fixture
def memory() -> Iterator[Any]:
    import fsspec

    fs = fsspec.filesystem("memory")
    folder = f"/t{random.randrange(1 << 30)}"
    yield fs, folder
    fs.rm(folder, recursive=True)


def test_byte_range_partitions_own_every_line_once_numbered_as_in_the_file(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = [b"\xef\xbb\xbf" + orjson.dumps({"n": 0}) + b"\n"]
    for n in range(1, 400):
        lines.append(rng.choice([b"\n", b"  \r\n", orjson.dumps({"n": n, "pad": "x" * rng.randrange(80)}) + b"\r\n"]))
    lines.append(b'{"n": "last, no newline"}')
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"".join(lines))
    for size in (1, 7, 50, 333, 4096, 1 << 20):
        number = 0  # lines of the partitions before: how the job locates a partition's lines
        located = []
        for partition in plan_partitions([str(path)], size):
            reader = PartitionReader(partition, 128)
            located += [(number + line, item.payload) for line, item in reader if line is not None]
            number += reader.lines
        assert number == len(lines), size
        expected = [(n + 1, json.loads(text)) for n, text in enumerate(lines)
                    if text.strip(b" \r\n\xef\xbb\xbf")]
        assert located == expected, size


def test_a_store_writes_whole_files_and_clears_what_unfinished_writes_left(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "out"))
    store.write("dead-letters/a.ndjson", b"x\n")
    (tmp_path / "out" / ".part-00001.ndjson.0123.tmp").write_bytes(b"half")
    (tmp_path / "out" / "dead-letters" / ".a.ndjson.4567.tmp").write_bytes(b"half")
    assert store.read("dead-letters/a.ndjson") == b"x\n"
    assert store.read("nothing") is None
    assert store.clean() == 2
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.ndjson", "dead-letters"]


def test_input_kinds_by_name() -> None:
    assert input_kind("s3://b/x.ndjson.gz") == (InputKind.NDJSON, "gzip")
    assert input_kind("a/b.JSONL") == (InputKind.NDJSON, None)
    assert input_kind("b.json.zst") == (InputKind.JSON, "zstd")
    assert input_kind("b.parquet") == (InputKind.PARQUET, None)
    with pytest.raises(PlanError, match=r"x\.csv: cannot tell how to read it"):
        input_kind("x.csv")


def test_a_task_returns_its_part_counts_and_errors_located_in_its_partition(compiled, tmp_path: Path) -> None:
    mapping = compiled(MAPPING, SETTING_VALUES)
    path = tmp_path / "in.ndjson.gz"
    rows = [orjson.dumps(p) + b"\n" for p in payloads(30)]
    rows.insert(10, b"{broken\n")
    path.write_bytes(gzip.compress(b"".join(rows)))
    (partition,) = plan_partitions([str(path)], 10)  # compressed: one partition, whatever the size
    result = run_partition(PartitionTask(partition, mapping, 128))
    assert (result.read, result.written, result.errors, result.lines) == (31, 29, 1, 31)
    assert result.skips == {"no_identity": 1}
    assert result.messages == [(11, ": invalid JSON: unexpected character, expected a string key (column 2)")]
    assert result.data is not None
    assert result.data == b"".join(orjson.dumps(e) + b"\n" for p in payloads(30)
                                   for e in mapping.result(p).events)


@pytest.mark.slow  # a Dask scheduler and worker, in this process
def test_a_job_on_memory_urls_writes_parts_and_a_manifest_and_refuses_another_jobs_folder(
        compiled, memory: Any) -> None:
    distributed = pytest.importorskip("distributed")
    fs, folder = memory
    data = [payloads(500, 0), payloads(300, 500)]
    for n, rows in enumerate(data):
        with fs.open(f"{folder}/in/h{n}.ndjson", "wb") as handle:
            handle.write(b"".join(orjson.dumps(p) + b"\n" for p in rows))
    mapping = compiled(MAPPING, SETTING_VALUES)
    names = expand_inputs([f"memory://{folder}/in/*.ndjson"])
    assert names == [f"memory://{folder}/in/h0.ndjson", f"memory://{folder}/in/h1.ndjson"]
    partitions = plan_partitions(names, 50_000)
    store = Store(f"memory://{folder}/out")
    job = Backfill(mapping, partitions, max_depth=128, store=store)
    # one thread: fsspec's memory filesystem hands every reader of a file the same file object
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") \
            as cluster, distributed.Client(cluster) as client:
        outcome = job.run(client)
    events = [e for rows in data for p in rows for e in mapping.result(p).events]
    assert (outcome.read, outcome.written, outcome.errors) == (800, len(events), 0)
    assert sum(outcome.skips.values()) == 800 - len(events) > 0
    parts = b"".join(store.read(f"part-{p.index:05d}.ndjson") or b"" for p in partitions)
    assert parts == b"".join(orjson.dumps(e) + b"\n" for e in events)
    assert len(partitions) > 2
    assert Backfill(mapping, partitions, max_depth=128, store=store).todo() == []
    other = compiled(MAPPING, {**SETTING_VALUES, "account_id": 2})
    with pytest.raises(ValueError, match=r"manifest\.json is another job's"):
        Backfill(other, partitions, max_depth=128, store=store)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_rate_limit_lets_no_window_hold_more_than_its_share() -> None:
    clock = _Clock()
    limit = RateLimit(100, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(40):
        limit.acquire(30)
        sent.append((clock.now, 30))
        clock.now += 0.01
    for start, _ in sent:
        assert sum(n for t, n in sent if start <= t < start + WINDOW) <= 100
    assert sent[-1][0] - sent[0][0] >= (40 * 30 - 100) / 100  # and it was paced, not stalled
    limit.drain()
    assert clock.now >= sent[-1][0] + WINDOW
    before = clock.now
    limit.acquire(100)  # a drained limit starts empty
    assert clock.now == before


def test_sealed_secrets_never_show() -> None:
    sealed = Sealed({"api_key": "s3cr3t-value"})
    assert "s3cr3t" not in repr(sealed) and "s3cr3t" not in str([sealed])
    import pickle

    assert pickle.loads(pickle.dumps(sealed)).open() == {"api_key": "s3cr3t-value"}


runner = CliRunner()


def test_refusals_exit_2_with_the_reason(tmp_path: Path) -> None:
    data = tmp_path / "in.ndjson"
    data.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads(5)))
    cases = [
        (["--send"], "--send needs --output DIR"),
        (["--by-user"], "--by-user is a way of sending: add --send"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        ([str(tmp_path / "x.csv")], "cannot tell how to read it"),
        ([str(tmp_path / "nothing-*.ndjson")], "no file matches"),
    ]
    for extra, said in cases:
        run = runner.invoke(app, ["backfill", str(data), *extra, *SETTINGS])
        assert run.exit_code == 2, (extra, run.output)
        assert said in run.output, (extra, run.output)


def test_without_dask_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    run = runner.invoke(app, ["backfill", "x.ndjson"])
    assert run.exit_code == 2
    assert "pip install 'transformer[dask]'" in run.output
