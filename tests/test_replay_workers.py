"""`replay` of NDJSON files in chunks, with one process or several: the output and the messages
are byte for byte what the generic reader gives (standard input takes that path), and
`--workers 2` gives exactly what one worker gives, in input order."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transformer.cli import replay_batch
from transformer.cli.replay_batch import ChunkReplay, copy_file, ndjson_chunks

ROOT = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "transformer"]
SETS = ["--set", "account_id=1", "--set", "workspace_id=56354", "--include-skips"]


def payload(n: int, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {"identifiers": {"id": f"person-{n % 997:05d}"}, "delivery_id": f"dlv-{n}",
                            "recipient": f"p{n}@example.com", "content": "Hi ✨ " * rng.randint(1, 400)}
    body: dict[str, Any] = {"event_id": f"01JW{n:022d}", "object_type": "email",
                            "metric": rng.choice(["sent", "delivered", "opened", "clicked"]),
                            "timestamp": 1_700_000_000 + n, "data": data}
    roll = rng.random()
    if roll < 0.02:
        body["timestamp"] = "yesterday"          # a payload error
    elif roll < 0.04:
        data["identifiers"] = {}                 # a skip (no_identity)
    elif roll < 0.05:
        del body["event_id"]                     # insert_id from the body's hash
    return body


def corpus(count: int, seed: int = 11) -> bytes:
    """NDJSON with the unusual lines too: blank ones, bad JSON, too deep, CRLF, a last line
    without a newline."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.005:
            lines.append(b"   ")
        elif roll < 0.01:
            lines.append(b'{"event_id": "x", oops}')
        elif roll < 0.012:
            lines.append(b"[" * 200 + b"]" * 200)
        else:
            text = json.dumps(payload(n, rng), ensure_ascii=rng.random() < 0.5).encode()
            lines.append(text + b"\r" if roll > 0.99 else text)
    return b"\n".join(lines)


def replay(*args: str, stdin: bytes | None = None) -> tuple[bytes, str, int]:
    run = subprocess.run([*CLI, "replay", *args, *SETS], input=stdin, capture_output=True, cwd=ROOT,
                         env={**os.environ, "TRANSFORMER_CACHE_DIR": ""}, timeout=600)
    return run.stdout, run.stderr.decode(), run.returncode


@pytest.mark.slow
def test_two_workers_write_exactly_what_one_does_and_what_the_generic_reader_does(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    source.write_bytes(corpus(12_000))          # about 12 chunks of 1 MiB
    one = replay(str(source), "--workers", "1")
    two = replay(str(source), "--workers", "2")
    assert two == one
    out, err, code = one
    assert code == 1                             # payload errors were reported
    lines = err.splitlines()
    assert lines[-1].startswith("read ") and "skipped" in lines[-1] and "payload errors" in lines[-1]
    assert any("nested deeper than 128" in line for line in lines)
    assert any("invalid JSON" in line for line in lines)
    assert any("fields.time.filters[0]" in line for line in lines)
    assert out.count(b'{"skip":') > 100
    generic = replay("-", stdin=source.read_bytes())   # standard input: the reader of every other input
    assert generic[0] == out
    assert generic[1] == err.replace(f"{source}:", "<stdin>:")


def test_chunks_are_whole_lines_that_cover_the_file(tmp_path: Path) -> None:
    text = b'{"a":1}\n\n' + b'{"long":"' + b"x" * 50 + b'"}\r\n{"b":2}'
    path = tmp_path / "in.ndjson"
    path.write_bytes(text)
    chunks = ndjson_chunks(path, "in.ndjson", block=7)
    assert chunks is not None
    found = list(chunks)
    assert [(c.start, c.end) for c in found] == list(zip([0, *(c.end for c in found[:-1])],
                                                         [c.end for c in found], strict=True))
    assert found[-1].end == len(text)
    assert all(text[c.end - 1:c.end] == b"\n" for c in found[:-1])          # each ends a line
    read = [c.read() for c in found]
    assert [line for lines, _ in read for line in lines] == text.split(b"\n")
    assert [ends for _, ends in read] == [True] * (len(found) - 1) + [False]  # the last line has none


def test_a_pipe_is_not_chunked(tmp_path: Path) -> None:
    fifo = tmp_path / "in.ndjson"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)   # so that opening it to read does not wait
    try:
        assert ndjson_chunks(fifo, "in.ndjson") is None
    finally:
        os.close(writer)


def test_a_signal_while_a_chunk_waits_for_a_slow_reader_loses_no_byte(tmp_path: Path) -> None:
    # nobody reads standard output until the signal: the first chunk's write blocks on the full
    # pipe when SIGINT comes (one large write lost all but 128 KiB of it then)
    source = tmp_path / "events.ndjson"
    source.write_bytes(corpus(6_000))
    with subprocess.Popen([*CLI, "replay", str(source), *SETS], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=ROOT) as process:
        deadline = time.monotonic() + 60
        while not _blocked_on_a_pipe(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130
    found = re.search(r"wrote (\d+) events, skipped (\d+)", err.decode())
    assert found is not None and int(found[1]) > 100
    assert out.endswith(b"\n") and out.count(b"\n") == int(found[1]) + int(found[2])  # --include-skips


def _blocked_on_a_pipe(pid: int) -> bool:
    """Whether the process sleeps in a write to a full pipe (Linux: where it sleeps is
    `anon_pipe_write`, or `pipe_wait_writable` on newer kernels)."""
    try:
        where = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return True   # no /proc: send the signal at once
    return "pipe_write" in where or "pipe_wait_writable" in where


@pytest.mark.slow
def test_two_workers_stopped_by_a_signal_write_whole_lines_and_leave_no_temporary_file(tmp_path: Path) -> None:
    # the workers' output goes through files in $TMPDIR: gone after the run, whether it ends or
    # is stopped, while the parent is blocked on a reader that does not read
    source = tmp_path / "events.ndjson"
    source.write_bytes(corpus(12_000))
    spill = tmp_path / "tmp"
    spill.mkdir()
    env = {**os.environ, "TRANSFORMER_CACHE_DIR": "", "TMPDIR": str(spill)}
    with subprocess.Popen([*CLI, "replay", str(source), *SETS, "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=ROOT, env=env) as process:
        deadline = time.monotonic() + 60
        while not _blocked_on_a_pipe(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(spill.iterdir()) != []   # the run's folder, while it runs
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    found = re.search(r"wrote (\d+) events, skipped (\d+)", err.decode())
    assert found is not None and int(found[1]) > 100
    assert out.endswith(b"\n") and out.count(b"\n") == int(found[1]) + int(found[2])  # --include-skips
    assert list(spill.iterdir()) == []
    complete = subprocess.run([*CLI, "replay", str(source), *SETS, "--workers", "2", "-o", str(tmp_path / "o")],
                              capture_output=True, cwd=ROOT, env=env, timeout=600)
    assert complete.returncode == 1 and (tmp_path / "o").stat().st_size > 1 << 20   # payload errors in it
    assert list(spill.iterdir()) == []


@contextlib.contextmanager
def _two_workers_ahead(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[int]]]:
    """`replay --workers 2` of 12,000 payloads, once it is blocked on standard output that nobody
    reads (the workers have done their chunks ahead; most of the file is unread): the process,
    its input and its two workers' pids."""
    source = tmp_path / "events.ndjson"
    source.write_bytes(corpus(12_000))
    with subprocess.Popen([*CLI, "replay", str(source), *SETS, "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "TRANSFORMER_CACHE_DIR": ""},
                          ) as process:
        deadline = time.monotonic() + 60
        while not _blocked_on_a_pipe(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        children = [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        assert len(children) == 2
        yield process, source, children


@pytest.mark.slow
def test_a_worker_killed_ends_its_input_with_an_error_not_a_traceback(tmp_path: Path) -> None:
    with _two_workers_ahead(tmp_path) as (process, source, children):
        os.kill(children[0], signal.SIGKILL)
        out, err = process.communicate(timeout=120)
    lines = err.decode().splitlines()
    assert process.returncode == 1, lines
    assert "Traceback" not in err.decode()
    (message,) = [line for line in lines if "worker process ended abruptly" in line]
    assert re.fullmatch(rf"error: {source}: a worker process ended abruptly after line \d+; "
                        "the rest of this input was not read", message)
    found = re.fullmatch(r"read (\d+) payloads, wrote (\d+) events, skipped (\d+) .*", lines[-1])
    assert found is not None and 0 < int(found[1]) < 12_000, lines[-1]
    assert out.endswith(b"\n") and out.count(b"\n") == int(found[2]) + int(found[3])   # whole lines


@pytest.mark.slow
def test_the_workers_end_with_a_parent_killed(tmp_path: Path) -> None:
    with _two_workers_ahead(tmp_path) as (process, _, children):
        process.kill()
        process.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_chunks_file_is_appended_after_what_the_sink_holds(tmp_path: Path) -> None:
    part = tmp_path / "part"
    part.write_bytes(b'{"b":2}\n' * 3000)
    target = tmp_path / "out"
    with target.open("wb") as sink:      # a file: copied by the kernel, after the buffered bytes
        sink.write(b'{"a":1}\n')
        copy_file(str(part), sink)
        sink.write(b'{"c":3}\n')
    assert target.read_bytes() == b'{"a":1}\n' + part.read_bytes() + b'{"c":3}\n'
    memory = io.BytesIO(b"x")            # no file descriptor (a test's runner): written
    memory.seek(1)
    copy_file(str(part), memory)
    assert memory.getvalue() == b"x" + part.read_bytes()


def test_a_chunks_output_comes_back_in_its_result_when_it_cannot_be_put_in_a_file(
        tmp_path: Path, compiled: Any) -> None:
    source = tmp_path / "events.ndjson"
    source.write_bytes(corpus(300))
    chunks = ndjson_chunks(source, "events.ndjson")
    assert chunks is not None
    (chunk,) = list(chunks)
    replay = ChunkReplay(compiled(settings={"account_id": "1", "workspace_id": "56354"}), True, False, 128)
    expected = replay.run(chunk).out
    assert expected.count(b"\n") > 250
    spill = tmp_path / "spill"
    spill.mkdir()
    try:
        for folder, in_file in ((str(spill), True), (str(tmp_path / "gone"), False), (None, False)):
            replay_batch._WORKER[:] = [(replay, folder)]
            result, path = replay_batch._run_in_worker(chunk)
            assert (path is not None) is in_file
            assert (Path(path).read_bytes() if path is not None else result.out) == expected
    finally:
        replay_batch._WORKER.clear()
