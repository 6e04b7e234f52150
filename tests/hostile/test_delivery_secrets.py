"""Item 10: a destination that echoes the API key back in pieces (truncated, upper-cased, URL- or
base64-encoded) cannot make it reach send's stderr, dead-letter reasons or serve's log; serve
refuses signing secrets too short to be scrubbed safely. Before: only the exact key was
scrubbed, and a short test secret blanked ordinary text in every log line."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from ..conftest import MAPPING, ROOT
from ..test_server_harness import KEY, SECRET, ServeProcess, encode, free_port, payload, wait_for
from .harness import post

pytestmark = pytest.mark.slow

ECHO = (f"key {KEY[:11]}... is not valid for this project (did you mean {KEY[6:26].upper()}?); "
        f"received auth {base64.b64encode(KEY[4:].encode()).decode()} from {quote(KEY[9:])}")


@contextmanager
def echoing_amplitude() -> Iterator[str]:
    """An 'Amplitude' that refuses every request with 403 and quotes the key back in pieces."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"code": 403, "error": ECHO}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def assert_no_piece_of_the_key(text: str) -> None:
    lowered = text.lower()
    forms = [KEY.lower()] + [base64.b64encode(KEY[start:].encode()).decode().lower() for start in range(3)]
    for form in forms:
        for i in range(len(form) - 7):
            assert form[i:i + 8] not in lowered, f"{form[i:i + 8]!r} leaked: {text}"


def environment(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))}
    return {**base, **extra}


def test_a_key_echoed_in_pieces_never_reaches_sends_stderr_or_its_dead_letters(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"".join(encode(payload(n)) + b"\n" for n in range(1, 4)))
    dead = tmp_path / "dead.ndjson"
    with echoing_amplitude() as url:
        result = subprocess.run(
            [sys.executable, "-m", "transformer", "send", str(source), "--mapping", str(MAPPING),
             "--set", f"endpoint={url}", "--dead-letters", str(dead)],
            cwd=ROOT, env=environment(AMPLITUDE_API_KEY=KEY), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Amplitude answered 403 key ***... is not valid for this project (did you mean ***?); " \
           "received auth ***== from ***" in result.stderr
    assert_no_piece_of_the_key(result.stderr + result.stdout)
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(letters) == 3
    for letter in letters:
        assert letter["dead_letter"]["reason"].startswith("not sent: Amplitude answered 403 key ***... is not")
    assert_no_piece_of_the_key(dead.read_text())


def test_a_key_echoed_in_pieces_never_reaches_serves_log(tmp_path: Path) -> None:
    with echoing_amplitude() as url:
        server = ServeProcess(tmp_path / "var", url, "--blocked-pause", "0.5").wait_ready()
        try:
            assert post(server.url, encode(payload(1))).json() == {"status": "stored"}
            wait_for(lambda: '"msg":"forwarding_blocked"' in server.stderr(), 30, "forwarding to be blocked")
        finally:
            server.stop()
    logs = server.stderr()
    assert '"reason":"Amplitude answered 403 key ***... is not valid for this project' in logs
    assert_no_piece_of_the_key(logs)


def test_serve_refuses_a_signing_secret_shorter_than_16_characters(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "transformer", "serve", "--data-dir", str(tmp_path / "var"), "--port",
         str(free_port()), "--mapping", str(MAPPING)],
        cwd=ROOT, env=environment(AMPLITUDE_API_KEY=KEY, CIO_SIGNING_SECRET="fifteen-chars-x"),
        capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (2, (
        "error: the signing secret has 15 characters; serve needs at least 16 (a short secret is easy "
        "to guess, and scrubbing it from logs would blank ordinary words). Use the whole signing key "
        "from Customer.io's webhook settings.\n"))
    assert not (tmp_path / "var").exists()
    assert len(SECRET) >= 16
