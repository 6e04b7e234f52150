"""The commands that deliver take the mapping's destination, or `--destination NAME`; `transformer
fake NAME` serves any destination's fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations.fake import Faults
from transformer.destinations.http.fake import FakeHttp

from .conftest import MAPPING, ROOT, SAMPLES
from .test_server_harness import free_port, wait_for

runner = CliRunner()
TOKEN = "Bearer cli-token-0123456789"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env or {})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def test_send_to_the_http_destination_delivers_every_event(tmp_path: Path) -> None:
    dead = tmp_path / "dead.ndjson"
    with FakeHttp(token=TOKEN, faults=Faults(script=("error", "drop"))) as fake:
        code, err = run("send", str(SAMPLES / "events.ndjson"), "--destination", "http",
                        "--set", f"url={fake.url}/ingest", "--set", "body_format=ndjson", "--set", "gzip=true",
                        "--dead-letters", str(dead), env={"TRANSFORMER_AUTH_TOKEN": TOKEN})
        kept = list(fake.kept.values())
    assert code == 0, err
    assert err.splitlines()[1] == (f"sent to {fake.url}/ingest: 39 accepted, 0 set aside, 0 undelivered; "
                                   "3 requests (2 retries, 78 events resent)")
    assert len(kept) == 39 and {e["event_type"] for e in kept} >= {"Email Sent", "Push Opened"}
    assert TOKEN not in err and not dead.exists()


def test_the_destinations_own_settings_are_required_and_checked(tmp_path: Path) -> None:
    code, err = run("send", str(SAMPLES / "sms_sent.json"), "--destination", "http")
    assert (code, err) == (2, "error: no URL for the http destination: --set url=https://… (or set url in a "
                              "settings file, or TRANSFORMER_URL)\n")
    code, err = run("send", str(SAMPLES / "sms_sent.json"), "--destination", "http", "--set", "api_key=k")
    assert (code, err) == (2, "error: unknown setting 'api_key' (known: account_id, auth_header, auth_token, "
                              "batch_bytes, batch_size, body_content, body_format, events, gzip, on_rejection, "
                              "order_by, signing_secret, url, workspace_id)\n")
    code, err = run("test-connection", "--destination", "htp")
    assert (code, err) == (2, "error: --destination: unknown destination 'htp' (did you mean 'http'?) "
                              "(known: amplitude, http)\n")


def test_a_mapping_that_names_no_destination_cannot_be_sent(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(MAPPING.read_text().replace("destination: amplitude\n", "")
                     .replace("../schemas/", str(ROOT / "schemas") + "/").replace("amplitude.cases", "."))
    code, err = run("send", str(SAMPLES / "sms_sent.json"), "--mapping", str(plain))
    assert (code, err) == (2, "error: the mapping names no destination: add `destination: NAME` to it "
                              "(amplitude, http), or pass --destination NAME\n")


def test_test_connection_to_the_http_fake() -> None:
    with FakeHttp(token=TOKEN) as fake:
        code, err = run("test-connection", "--destination", "http", "--set", f"url={fake.url}/in",
                        "--set", f"auth_token={TOKEN}")
        (event,) = fake.kept.values()
    assert code == 0, err
    assert err.splitlines()[0] == f"host: {fake.url}, {fake.url}/in"
    assert err.splitlines()[1].startswith("ok: the endpoint accepted the test event (insert_id transformer-test-")
    assert event["user_id"] == "transformer-test-connection"


def test_fake_serves_any_destination_and_refuses_an_unknown_one() -> None:
    assert run("fake", "amplitud") == (2, "error: unknown destination 'amplitud' (did you mean 'amplitude'?) "
                                          "(known: amplitude, http)\n")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "transformer", "fake", "http", "--port", str(port),
                                "--key", TOKEN], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stderr is not None
        assert process.stderr.readline() == (f"fake HTTP collector on http://127.0.0.1:{port} (POST any path: "
                                              "a JSON array or NDJSON, gzip or not; GET /stats); Ctrl-C to stop\n")
        url = f"http://127.0.0.1:{port}"
        assert httpx.post(f"{url}/x", json=[{"a": 1}], timeout=10).status_code == 401
        assert httpx.post(f"{url}/x", json=[{"a": 1}], headers={"Authorization": TOKEN}, timeout=10).json() \
            == {"accepted": 1}
        wait_for(lambda: json.loads(httpx.get(f"{url}/stats", timeout=10).text)["ingested"] == 1, 10, "the stats")
    finally:
        process.terminate()
        process.wait(30)
        if process.stderr is not None:  # else a ResourceWarning fails whichever test collects it
            process.stderr.close()
