"""`transformer send --workers N`: NDJSON files transformed in chunks, by worker processes,
give exactly what one process gives: the events in input order, the summary, the messages, the
dead letters, the exit status; a signal leaves no process and no file behind."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from transformer.cli.replay_batch import Tally, ndjson_chunks
from transformer.cli.send_batch import Failure, Payloads, Record
from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.io.jsonio import read_items

from .conftest import ROOT, SAMPLES
from .test_replay_workers import CLI, corpus

KEY = "workers-key-0001"
SETTINGS = ["--set", "account_id=1", "--set", "workspace_id=56354", "--set", "min_id_length=5"]


def letters() -> list[bytes]:
    """Dead-letter records as `send` writes them: an event, a payload, a payload's text that
    parses now, one that still does not."""
    sample = json.loads((SAMPLES / "sms_sent.json").read_text())
    event = {"event_type": "Email Sent", "user_id": "person-00042", "insert_id": "resent-event-1",
             "time": 1_700_000_000_000}
    info = {"reason": "deadline passed", "kind": "undelivered", "at": "2026-11-30T10:00:00+00:00"}
    records = [{"dead_letter": info, "event_id": "e-1", "event": event},
               {"dead_letter": info | {"kind": "payload_error"}, "event_id": "p-1",
                "payload": sample | {"event_id": "01JWRESENTPAYLOAD000000001"}},
               {"dead_letter": info | {"kind": "payload_error"}, "event_id": None,
                "payload_text": json.dumps(sample | {"event_id": "01JWRESENTTEXT000000000001"})},
               {"dead_letter": info | {"kind": "payload_error"}, "event_id": None,
                "payload_text": '{"still": broken'}]
    return [json.dumps(record).encode() for record in records]


def mixed(count: int, seed: int = 5) -> bytes:
    """`replay`'s corpus (payload errors, skips, blank lines, bad JSON, too deep, CRLF, a last
    line without a newline), with dead letters, short user ids that the sender sets aside
    (min_id_length=5) and a byte order mark spread through it."""
    rng = random.Random(seed)
    lines = corpus(count, seed).split(b"\n")
    extra = [*letters(), b"\xef\xbb\xbf" + lines[1]]
    for n in range(3):
        short = json.loads((SAMPLES / "sms_sent.json").read_text())
        short["data"]["identifiers"] = {"id": "42"}
        short["event_id"] = f"01JWSHORTID{n:015d}"
        extra.append(json.dumps(short).encode())
    for line in extra:
        lines.insert(rng.randrange(1, len(lines) - 1), line)
    return b"\n".join(lines)


def test_chunks_give_the_records_of_the_generic_reader(tmp_path: Path, compiled: Any) -> None:
    # chunks of about 300 bytes: most lines are a chunk of their own, and the unusual ones
    # fall at the start, in the middle and at the end of chunks
    source = tmp_path / "in.ndjson"
    source.write_bytes(mixed(150))
    payloads = Payloads(compiled(settings={"account_id": "1", "workspace_id": "56354"}), 128)
    one: list[tuple[str | None, Record]] = []
    one_tally = Tally()
    for item in read_items(str(source), 128):
        one_tally.read += 1
        out: list[Record] = []
        if item.error is not None:
            payloads.unreadable(0, item.error, item.raw, str(source), one_tally, out)
        else:
            payloads.payload(item.payload, 0, one_tally, out)
        one.extend((item.where, r._replace(number=0)) if type(r) is Failure else (None, r) for r in out)
    chunks = ndjson_chunks(source, str(source), 300)
    assert chunks is not None
    two: list[tuple[str | None, Record]] = []
    two_tally, first, count = Tally(), 1, 0
    for chunk in chunks:
        count += 1
        sent = payloads.run(chunk)
        two_tally.add(sent.tally)
        two.extend((f"{source}:{first + r.number - 1}", r._replace(number=0)) if type(r) is Failure
                   else (None, r) for r in sent.records)
        first += sent.lines
    assert count > 100
    assert two == one
    assert two_tally == one_tally
    kinds = {type(r).__name__ for _, r in one}
    assert kinds == {"Outgoing", "Failure"}
    assert one_tally.errors > 5 and one_tally.skips and one_tally.events > 100


def _send(source: Path, folder: Path, workers: int, **faults: Any) -> dict[str, Any]:
    folder.mkdir()
    with FakeAmplitude(api_key=KEY, faults=Faults(**faults) if faults else None) as amplitude:
        run = subprocess.run([*CLI, "send", str(source), "--workers", str(workers), "--concurrency", "1",
                              "--set", f"endpoint={amplitude.url}", *SETTINGS, "--dead-letters", "dead.ndjson"],
                             capture_output=True, cwd=folder, timeout=600,
                             env={**os.environ, "AMPLITUDE_API_KEY": KEY, "TRANSFORMER_CACHE_DIR": ""})
        received = list(amplitude.ingested.values())
        url = amplitude.url
    dead = folder / "dead.ndjson"
    return {"code": run.returncode, "received": received,
            "stderr": run.stderr.decode().replace(url, "URL"),
            "dead": re.sub(rb'"at":"[^"]*"', b'"at":"AT"', dead.read_bytes()) if dead.exists() else b""}


@pytest.mark.slow
def test_two_workers_send_what_one_process_sends(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(mixed(4000))       # about 8 MB: 8 chunks
    one = _send(source, tmp_path / "one", 1)
    two = _send(source, tmp_path / "two", 2)
    assert [e["insert_id"] for e in two["received"]] == [e["insert_id"] for e in one["received"]]
    assert two["received"] == one["received"]
    assert two["dead"] == one["dead"]
    assert two["stderr"] == one["stderr"]
    assert two["code"] == one["code"] == 1
    lines = one["stderr"].splitlines()
    summary = next(line for line in lines if line.startswith("read "))
    assert re.fullmatch(r"read [\d,]+ payloads: [\d,]+ events, \d+ skipped \(no_identity: \d+\), "
                        r"\d+ payload errors", summary), summary
    assert any(re.match(rf"{source}:\d+: invalid JSON", line) for line in lines)
    assert any(re.match(rf"{source}:\d+ \(01JW\d+\): fields.time.filters\[0\]: .*, at \$.timestamp$", line)
               for line in lines)
    assert "set aside (id shorter than min_id_length: 3)" in one["stderr"]
    dead = [json.loads(line) for line in one["dead"].splitlines()]
    assert {d["dead_letter"]["kind"] for d in dead} == {"payload_error", "set_aside"}
    assert any(d.get("payload_text") == '{"still": broken' for d in dead)
    ids = {e["insert_id"] for e in one["received"]}
    assert {"resent-event-1", "01JWRESENTPAYLOAD000000001", "01JWRESENTTEXT000000000001"} <= ids


def _left_behind(marker: str) -> list[int]:
    """Processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_keeps_every_event_not_accepted_and_leaves_no_process_or_file(
        tmp_path: Path, signum: int) -> None:
    source = tmp_path / f"signal-{signum}.ndjson"
    source.write_bytes(corpus(6000, seed=3))
    spill = tmp_path / "tmp"
    spill.mkdir()
    letters = tmp_path / "dead.ndjson"
    # a flaky Amplitude keeps the run going: retries, throttled users, resent batches
    faults = Faults(error=0.3, throttle=0.1, seed=signum)
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude:
        args = [*CLI, "send", str(source), "--workers", "2", "--set", f"endpoint={amplitude.url}",
                *SETTINGS, "--dead-letters", str(letters), "--throttle-pause", "0.5"]
        with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "AMPLITUDE_API_KEY": KEY, "TMPDIR": str(spill),
                                   "TRANSFORMER_CACHE_DIR": ""}) as process:
            deadline = time.monotonic() + 120
            while amplitude.stats()["ingested"] < 500 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(_left_behind(str(source))) == 3, "the run ended before the signal, or has no workers"
            process.send_signal(signum)
            _, err = process.communicate(timeout=300)
        ingested = set(amplitude.ingested)
    lines = err.decode().splitlines()
    assert process.returncode == 128 + signum, lines
    summary = next(line for line in lines if line.startswith("read "))
    events = int(re.search(r": ([\d,]+) events", summary)[1].replace(",", ""))  # type: ignore[index]
    accepted = int(re.search(r": ([\d,]+) accepted", err.decode())[1].replace(",", ""))  # type: ignore[index]
    kept = [json.loads(line) for line in letters.read_text().splitlines()]
    sent_kept = [k["event"]["insert_id"] for k in kept if "event" in k]
    assert 0 < accepted < events
    assert accepted + len(sent_kept) == events              # every event accepted or kept, once
    assert len(set(sent_kept)) == len(sent_kept) and not ingested & set(sent_kept)
    assert "interrupted: every event not yet accepted is in the dead letters" in lines
    assert _left_behind(str(source)) == []
    assert list(spill.iterdir()) == []


@pytest.mark.slow
def test_a_worker_killed_ends_its_input_with_an_error_not_a_traceback(tmp_path: Path) -> None:
    # more than the sender holds (4,000 events with one request at a time) and the chunks
    # read ahead (5 of about 550 payloads): most of the input is not read at the kill
    source = tmp_path / "killed.ndjson"
    source.write_bytes(corpus(20_000, seed=4))
    letters = tmp_path / "dead.ndjson"
    with FakeAmplitude(api_key=KEY, faults=Faults(error=0.3, seed=4)) as amplitude:
        args = [*CLI, "send", str(source), "--workers", "2", "--concurrency", "1",
                "--set", f"endpoint={amplitude.url}", *SETTINGS, "--dead-letters", str(letters)]
        with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "AMPLITUDE_API_KEY": KEY, "TRANSFORMER_CACHE_DIR": ""}) as process:
            deadline = time.monotonic() + 120
            while amplitude.stats()["ingested"] < 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            workers = [pid for pid in _left_behind(str(source)) if pid != process.pid]
            assert len(workers) == 2, "the run ended before the kill, or has no workers"
            os.kill(workers[0], signal.SIGKILL)
            _, err = process.communicate(timeout=300)
        accepted = len(amplitude.ingested)
    lines = err.decode().splitlines()
    assert process.returncode == 1, lines
    assert "Traceback" not in err.decode()
    (message,) = [line for line in lines if "worker process ended abruptly" in line]
    assert re.fullmatch(rf"error: {source}: a worker process ended abruptly after line \d+; "
                        "the rest of this input was not read", message)
    summary = next(line for line in lines if line.startswith("read "))
    events = int(re.search(r": ([\d,]+) events", summary)[1].replace(",", ""))  # type: ignore[index]
    assert 0 < accepted == events < 15_000        # what was read before is delivered
    assert _left_behind(str(source)) == []


@pytest.mark.slow
def test_spawned_workers_and_other_inputs_give_what_one_process_gives(tmp_path: Path) -> None:
    # run in this process, which has threads (the fake's): the pool spawns its workers, which
    # get the mapping pickled, without the destination, and send the events as they are; the
    # .json file is read by this process either way
    from typer.testing import CliRunner

    from transformer.cli import app

    found = []
    for workers in ("1", "2"):
        with FakeAmplitude(api_key=KEY) as amplitude:
            result = CliRunner().invoke(app, [
                "send", str(SAMPLES / "events.ndjson"), str(SAMPLES / "sms_sent.json"), "--workers", workers,
                "--concurrency", "1", "--set", f"endpoint={amplitude.url}", *SETTINGS,
                "--dead-letters", str(tmp_path / f"dead-{workers}.ndjson")], env={"AMPLITUDE_API_KEY": KEY})
            found.append((result.exit_code, result.stderr.replace(amplitude.url, "URL").replace(f"dead-{workers}", "dead"),
                          list(amplitude.ingested.values())))
    assert found[1] == found[0]
    code, err, received = found[0]
    assert code == 0, err
    assert err.splitlines()[0] == "read 41 payloads: 40 events, 1 skipped (no_identity: 1), 0 payload errors"
    assert len(received) == 39       # one set aside: user "42" is shorter than min_id_length
