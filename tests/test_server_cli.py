"""`transformer serve` on the command line: what it refuses before starting, and running unsigned."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue

from .conftest import MAPPING
from .test_server_harness import KEY, SECRET, ServeProcess, encode, payload, wait_for

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """serve configures the root logger for its process; put the test process's back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "var"), "--port", "9", *args],
                           env=env if env is not None else {"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET})
    return result.exit_code, result.stderr


def test_without_a_signing_secret_serve_refuses_to_start_and_names_the_flag(tmp_path: Path) -> None:
    code, err = serve(tmp_path, env={"AMPLITUDE_API_KEY": KEY})
    assert code == 2
    assert err.startswith("error: no signing secret: export CIO_SIGNING_SECRET=…")
    assert "--allow-unsigned-INSECURE" in err
    assert not (tmp_path / "var").exists()


def test_without_an_api_key_serve_refuses_to_start(tmp_path: Path) -> None:
    code, err = serve(tmp_path, env={"CIO_SIGNING_SECRET": SECRET})
    assert (code, err) == (2, "error: no Amplitude API key: export AMPLITUDE_API_KEY=… "
                              "(or set api_key in a settings file)\n")


def test_settings_are_read_like_send_does(tmp_path: Path) -> None:
    code, err = serve(tmp_path, "--set", "sigining_secret=x")
    assert code == 2 and "unknown setting 'sigining_secret' (did you mean 'signing_secret'?)" in err
    settings = tmp_path / "settings.yaml"
    settings.write_text("signing_secret: [5]\n")
    code, err = serve(tmp_path, "--settings", str(settings))
    assert (code, err) == (2, "error: setting 'signing_secret' (settings file): invalid value\n")  # no echo


def test_a_bad_sync_mode_is_a_usage_error(tmp_path: Path) -> None:
    code, err = serve(tmp_path, "--sync", "off")
    assert (code, err) == (2, "error: --sync must be one of full, normal, got 'off'\n")


@pytest.mark.slow
def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        first = ServeProcess(tmp_path / "var", amplitude.url).wait_ready()
        try:
            code, err = serve(tmp_path)
        finally:
            first.stop()
    assert code == 2
    assert err == (f"error: {tmp_path / 'var'} is in use by another transformer serve "
                   f"(pid {first.process.pid}); give each instance its own --data-dir\n")


@pytest.mark.slow
def test_the_insecure_flag_accepts_unsigned_webhooks_and_says_so_loudly(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude:
        server = ServeProcess(tmp_path / "var", amplitude.url, "--allow-unsigned-INSECURE",
                              env={"CIO_SIGNING_SECRET": ""}).wait_ready()
        try:
            response = httpx.post(server.url + "/webhooks/customerio", content=encode(payload(1)))
            assert (response.status_code, response.json()) == (200, {"status": "stored"})
            wait_for(lambda: "01JTEST0000000000000000001" in amplitude.ingested, what="delivery")
        finally:
            server.stop()
    logs = server.stderr()
    assert '"signatures":"NOT VERIFIED (--allow-unsigned-INSECURE)"' in logs
    assert '"level":"warning","logger":"transformer.server","msg":"signatures_not_verified"' in logs


@pytest.mark.slow
def test_a_port_already_taken_is_reported_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with FakeAmplitude(api_key=KEY) as amplitude:
            code, err = serve(tmp_path, "--port", str(port), "--set", f"endpoint={amplitude.url}")
    assert (code, err) == (1, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    store = SqliteQueue(tmp_path / "var")
    store.lock()            # the data dir is free again for the next attempt
    store.close()


def test_every_serve_option_also_reads_an_environment_variable_shown_in_help() -> None:
    import typer.main

    from transformer import load_mapping
    from transformer.spec.settings import env_names

    group = typer.main.get_command(app)
    command = group.get_command(typer.Context(group), "serve")  # type: ignore[attr-defined]
    assert command is not None
    options = [p for p in command.params if p.name != "help"]
    assert len(options) == 32
    names = {p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0]: p.envvar for p in options}
    assert all(env == "TRANSFORMER_" + flag[2:].upper().replace("-", "_") for flag, env in names.items()
               if flag != "--queue"), names
    assert names["--queue"] == "TRANSFORMER_QUEUE_URL" and names["--port"] == "TRANSFORMER_PORT"
    assert all(p.show_envvar for p in options)
    settings = load_mapping(MAPPING, {}, environ={}).settings.decls.values()
    assert not set(names.values()) & {name for decl in settings for name in env_names(decl)}
    shown = runner.invoke(app, ["serve", "--help"]).output
    assert "[env var: TRANSFORMER_RETRY_MAX_WAIT;" in " ".join(shown.split())


def test_serve_takes_its_options_from_the_environment(tmp_path: Path) -> None:
    code, err = serve(tmp_path, env={"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET,
                                     "TRANSFORMER_SYNC": "sometimes"})
    assert (code, err) == (2, "error: --sync must be one of full, normal, got 'sometimes'\n")


def test_serve_wants_one_queue_data_dir_or_url(tmp_path: Path) -> None:
    env = {"AMPLITUDE_API_KEY": KEY, "CIO_SIGNING_SECRET": SECRET}
    neither = runner.invoke(app, ["serve", "--port", "9"], env=env)
    assert (neither.exit_code, neither.stderr) == (2, "error: give --data-dir DIR (an SQLite queue, one receiver) "
                                                      "or --queue postgresql://… (a PostgreSQL queue, several receivers)\n")
    both = runner.invoke(app, ["serve", "--port", "9", "--data-dir", str(tmp_path), "--queue", "postgresql://x@h/d"],
                         env=env)
    assert both.exit_code == 2 and both.stderr.endswith(", not both\n")
    other = runner.invoke(app, ["serve", "--port", "9", "--queue", "mysql://x@h/d"], env=env)
    assert (other.exit_code, other.stderr) == (
        2, "error: --queue takes a postgresql://USER@HOST:PORT/DB URL, got 'mysql'://…\n")


def test_without_the_postgres_extra_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "transformer.server.queue.postgres", raising=False)
    result = runner.invoke(app, ["dead-letters", "list", "--queue", "postgresql://x@127.0.0.1:9/d"])
    assert (result.exit_code, result.stderr) == (
        2, "error: --queue needs the PostgreSQL driver, which is not installed (psycopg): "
           "pip install 'transformer[postgres]'\n")


def test_before_serving_the_start_up_heap_is_frozen_and_the_gil_switches_sooner() -> None:
    import gc
    import sys

    from transformer.cli.serve_run import SWITCH_INTERVAL, _settle_heap

    interval = sys.getswitchinterval()
    try:
        _settle_heap()
        assert gc.get_freeze_count() > 1000   # what is loaded: this test run's modules at least
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert interval > SWITCH_INTERVAL
    finally:
        gc.unfreeze()
        sys.setswitchinterval(interval)
