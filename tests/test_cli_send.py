"""`transformer send` and `transformer test-connection`, against a fake Amplitude on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations.amplitude.fake import FakeAmplitude, Faults

from .conftest import MAPPING, SAMPLES
from .test_server_harness import free_port

runner = CliRunner()
KEY = "cli-key-00042"


@pytest.fixture
def amplitude() -> Iterator[FakeAmplitude]:
    with FakeAmplitude(api_key=KEY) as server:
        yield server


def run(*args: str, key: str | None = KEY) -> tuple[int, str, str]:
    env = {"AMPLITUDE_API_KEY": key} if key else {}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_send_delivers_and_summarises(amplitude: FakeAmplitude, tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    code, _, err = run("send", str(SAMPLES / "events.ndjson"), "--set", f"endpoint={amplitude.url}",
                       "--dead-letters", str(dead))
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines[0] == "read 40 payloads: 39 events, 1 skipped (no_identity: 1), 0 payload errors"
    assert lines[1:] == [f"sent to {amplitude.url}/batch: 39 accepted, 0 set aside, 0 undelivered; "
                         "1 request (0 retries, 0 events resent)"]
    assert len(amplitude.ingested) == 39
    assert "42" in {e.get("user_id") for e in amplitude.ingested.values()}  # short ids are sent
    assert KEY not in err
    assert not dead.exists()


def test_an_explicit_larger_min_id_length_sets_short_ids_aside(amplitude: FakeAmplitude,
                                                               tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    code, _, err = run("send", str(SAMPLES / "events.ndjson"), "--set", f"endpoint={amplitude.url}",
                       "--set", "min_id_length=5", "--dead-letters", str(dead))
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines[1] == (f"sent to {amplitude.url}/batch: 38 accepted, 1 set aside (id shorter than "
                        "min_id_length: 1), 0 undelivered; 1 request (0 retries, 0 events resent)")
    assert lines[2] == f"dead letters: 1 written to {dead} (after a fix, resend them with: transformer send {dead})"


def test_dead_letters_can_be_resent_after_a_fix(amplitude: FakeAmplitude, tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    run("send", str(SAMPLES / "events.ndjson"), "--set", f"endpoint={amplitude.url}", "--set", "min_id_length=5",
        "--dead-letters", str(dead))
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letter["event"]["user_id"] == "42" and letter["event_id"] == letter["event"]["insert_id"]
    code, _, err = run("send", str(dead), "--set", f"endpoint={amplitude.url}", "--dead-letters", str(dead))
    assert code == 0, err
    assert "resending" in err and "1 accepted" in err
    assert not dead.exists() and not list(tmp_path.glob("dead.ndjson.resending-*"))
    assert "42" in {e.get("user_id") for e in amplitude.ingested.values()}


def test_payload_errors_are_dead_lettered_with_the_payload_and_exit_1(amplitude: FakeAmplitude,
                                                                      tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    payload = json.loads((SAMPLES / "sms_sent.json").read_text())
    source.write_text(json.dumps(payload | {"timestamp": "yesterday"}) + "\n" + json.dumps(payload) + "\n")
    dead = tmp_path / "dead.ndjson"
    code, _, err = run("send", str(source), "--set", f"endpoint={amplitude.url}", "--dead-letters", str(dead))
    assert code == 1
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letter["dead_letter"]["kind"] == "payload_error"
    assert letter["payload"]["timestamp"] == "yesterday"
    assert "1 accepted" in err


def test_invalid_key_exits_1_keeps_everything_and_never_prints_the_key(amplitude: FakeAmplitude,
                                                                       tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    code, out, err = run("send", str(SAMPLES / "events.ndjson"), "--set", f"endpoint={amplitude.url}",
                         "--dead-letters", str(dead), key="wrong-key-77777")
    assert code == 1
    assert "error: stopped: Amplitude answered 400 Invalid API key" in err
    assert "wrong-key-77777" not in err + out + dead.read_text()
    assert len(dead.read_text().splitlines()) == 39
    assert amplitude.ingested == {}


def test_outage_past_the_deadline_is_undelivered_and_exit_1(tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    with FakeAmplitude(api_key=KEY, faults=Faults(down=True)) as server:
        code, _, err = run("send", str(SAMPLES / "sms_sent.json"), "--set", f"endpoint={server.url}",
                           "--dead-letters", str(dead), "--deadline", "0.5")
    assert code == 1
    assert "1 undelivered (deadline passed: 1)" in err
    assert json.loads(dead.read_text())["dead_letter"]["reason"].endswith("last error: 503 Service Unavailable")


def test_send_without_a_key_is_a_usage_error() -> None:
    code, _, err = run("send", str(SAMPLES / "sms_sent.json"), key=None)
    assert code == 2 and "no Amplitude API key" in err


def test_test_connection_reports_host_and_outcome(amplitude: FakeAmplitude) -> None:
    code, _, err = run("test-connection", "--set", f"endpoint={amplitude.url}")
    assert code == 0, err
    assert err.startswith(f"host: {amplitude.url} (custom endpoint)")
    (event,) = amplitude.ingested.values()
    assert event["event_type"] == "Email Sent"
    code, _, err = run("test-connection", "--set", f"endpoint={amplitude.url}", key="bad-key-5555")
    assert code == 1 and "failed: " in err and "Invalid API key" in err and "bad-key-5555" not in err


def test_test_connection_sends_groups_when_account_and_workspace_are_set(amplitude: FakeAmplitude) -> None:
    code, _, err = run("test-connection", "--set", f"endpoint={amplitude.url}", "--set", "account_id=1",
                       "--set", "workspace_id=56354")
    assert code == 0, err
    (event,) = amplitude.ingested.values()
    assert event["groups"] == {"account_id": ["1"], "workspace": ["56354"]}
    assert (event["event_type"], event["user_id"]) == ("Email Sent", "transformer-test-connection")
    assert "with groups" in err


def test_test_connection_to_a_closed_port_fails_fast_with_the_reason() -> None:
    port = free_port()
    started = time.monotonic()
    code, _, err = run("test-connection", "--set", f"endpoint=http://127.0.0.1:{port}")
    assert code == 1
    assert time.monotonic() - started < 10
    assert err.splitlines()[0] == f"host: http://127.0.0.1:{port} (custom endpoint), http://127.0.0.1:{port}/batch"
    assert err.splitlines()[1].startswith(f"failed: cannot connect to http://127.0.0.1:{port}/batch: ConnectError")
    assert "refused" in err


@pytest.mark.parametrize("command", ["test-connection", "send"])
def test_an_endpoint_without_a_scheme_is_refused_when_settings_load(command: str) -> None:
    args = [command, "--set", "endpoint=127.0.0.1:8787"] + ([str(SAMPLES / "sms_sent.json")] if command == "send" else [])
    code, _, err = run(*args)
    assert code == 2
    assert err == ("error: setting 'endpoint' (given): \"127.0.0.1:8787\" is not an http:// or https:// URL "
                   "with a host (for example http://127.0.0.1:8787)\n")


def test_send_to_a_refused_endpoint_says_so_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "AMPLITUDE_API_KEY": KEY}
    with subprocess.Popen(
            [sys.executable, "-m", "transformer", "send", str(SAMPLES / "sms_sent.json"), "--mapping",
             str(MAPPING), "--set", f"endpoint=http://127.0.0.1:{port}", "--deadline", "3", "--dead-letters",
             str(tmp_path / "dead.ndjson")], env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith(f"warning: cannot connect to http://127.0.0.1:{port}/batch: ConnectError")
        assert "nothing has been accepted yet" in first and "deadline (3 s)" in first
        rest = process.stderr.read()
        assert process.wait(60) == 1
    assert "1 undelivered (deadline passed: 1)" in rest


def test_quickstart_style_default_mapping_is_found_outside_the_repo(amplitude: FakeAmplitude,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SAMPLES / "sms_sent.json", tmp_path / "one.json")
    monkeypatch.chdir(tmp_path)
    code, _, err = run("send", "one.json", "--set", f"endpoint={amplitude.url}")
    assert code == 0, err
    assert not (tmp_path / "dead-letters.ndjson").exists()
