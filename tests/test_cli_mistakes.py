"""Ordinary mistakes get a clear message and the documented exit code, never a traceback,
and are caught before any work starts where they can be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations.amplitude.fake import FakeAmplitude

from .conftest import MAPPING, ROOT, SAMPLES

runner = CliRunner()
KEY = "mistakes-key-0001"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": "a-signing-secret-of-24ch"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def test_dead_letters_pointing_at_a_directory_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with FakeAmplitude() as amplitude:
        code, err = run("send", str(SAMPLES / "events.ndjson"), "--set", f"endpoint={amplitude.url}",
                        "--dead-letters", str(tmp_path))
        assert amplitude.stats()["requests"] == 0
    assert (code, err) == (2, f"error: --dead-letters {tmp_path} is a directory; give a file path "
                              f"(such as {tmp_path / 'dead-letters.ndjson'})\n")


def test_dead_letters_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with FakeAmplitude() as amplitude:
        code, err = run("send", str(SAMPLES / "sms_sent.json"), "--set", f"endpoint={amplitude.url}",
                        "--dead-letters", str(tmp_path / "no" / "dl.ndjson"))
        assert amplitude.stats()["requests"] == 0
    assert (code, err) == (2, f"error: --dead-letters {tmp_path / 'no' / 'dl.ndjson'}: no such folder {tmp_path / 'no'}\n")


@pytest.mark.parametrize("command", [["fake-amplitude"], ["serve", "--data-dir", "var"]])
def test_a_port_out_of_range_is_a_usage_error(command: list[str], tmp_path: Path) -> None:
    code, err = run(*command, "--port", "70000")
    assert (code, err) == (2, "error: --port must be between 1 and 65535, got 70000\n")


@pytest.mark.parametrize("command", [["fake-amplitude"], ["serve"]])
def test_a_port_in_use_exits_1_before_anything_starts(command: list[str], taken_port: int, tmp_path: Path) -> None:
    extra = ["--data-dir", str(tmp_path / "var")] if command == ["serve"] else []
    code, err = run(*command, *extra, "--port", str(taken_port))
    assert (code, err) == (1, f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use\n")
    assert not (tmp_path / "var").exists()


def test_serve_with_an_unknown_http_parser_is_a_usage_error(tmp_path: Path) -> None:
    code, err = run("serve", "--data-dir", str(tmp_path / "var"), "--http", "h3")
    assert (code, err) == (2, "error: --http must be one of auto, h11, httptools, got 'h3'\n")
    assert not (tmp_path / "var").exists()


def test_fake_amplitude_refuses_a_rate_outside_0_to_1() -> None:
    code, err = run("fake-amplitude", "--error-rate", "5")
    assert (code, err) == (2, "error: --error-rate is a share of requests, from 0 to 1; got 5\n")


def test_replay_to_a_full_disk_says_so_and_exits_1() -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "transformer", "replay", str(SAMPLES / "events.ndjson"),
                               "--mapping", str(MAPPING)], stdout=full, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "default"}, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write to standard output: No space left on device\n"
