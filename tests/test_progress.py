"""Progress lines: rate, ETA and the retry reason on a terminal; nothing off a terminal."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from transformer.cli import app
from transformer.cli.progress import RunProgress, count_payloads
from transformer.destinations import SendReport

from .conftest import SAMPLES


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def plain(text: str) -> str:
    """What the screen showed, without escape codes, whitespace (wrapped lines too) collapsed."""
    return " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).split())


def test_inputs_of_known_size_are_counted_and_others_are_not(tmp_path: Path) -> None:
    lines = tmp_path / "in.ndjson"
    lines.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}')
    assert count_payloads([str(lines), str(SAMPLES / "email_sent.json")]) == 4
    assert count_payloads(["-"]) is None
    array = tmp_path / "many.json"
    array.write_text("[{}, {}]")
    assert count_payloads([str(array)]) is None


def test_on_a_terminal_rate_eta_and_the_retry_reason_are_shown(tmp_path: Path) -> None:
    lines = tmp_path / "in.ndjson"
    lines.write_text("{}\n" * 1000)
    screen = Terminal()
    progress = RunProgress(screen, "sending", [str(lines)])
    for read in range(1, 513):
        progress.tick(read)
    progress.send_report(SendReport(accepted=500, set_aside=Counter(x=2), retries=3,
                                    retrying="503 Service Unavailable"))
    progress.stop(512)
    shown = plain(screen.getvalue())
    assert "sending" in shown and "512/1,000" in shown and "/s" in shown and "ETA" in shown
    assert "500 accepted, 2 set aside, 3 retries; retrying: 503 Service Unavailable" in shown


def test_without_a_known_size_there_is_a_count_and_a_rate_but_no_eta() -> None:
    screen = Terminal()
    progress = RunProgress(screen, "replay", ["-"])
    progress.tick(256)
    progress.stop(300)
    shown = plain(screen.getvalue())
    assert "300 payloads" in shown and "/s" in shown and "ETA" not in shown


def test_off_a_terminal_nothing_is_shown_and_nothing_counted() -> None:
    stream = io.StringIO()
    progress = RunProgress(stream, "replay", ["/nonexistent/never-opened.ndjson"])
    progress.tick(256)
    progress.status("x")
    progress.stop(1)
    assert stream.getvalue() == ""


def test_replay_to_a_file_off_a_terminal_prints_only_the_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(SAMPLES / "events.ndjson"), "-o", str(tmp_path / "o.ndjson")])
    assert result.exit_code == 0
    assert result.stderr == "read 40 payloads, wrote 39 events, skipped 1 (no_identity: 1), 0 payload errors\n"
