"""`transformer dead-letters list|show|resend` over the store of `transformer serve`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations import is_dead_letter
from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue
from transformer.server.queue.base import Intake, Reason

from .test_server_harness import KEY, encode, payload, receiver, signed, wait_for

runner = CliRunner()
EVENT = {"event_type": "Email Sent", "user_id": "42", "insert_id": "01JEVENT"}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["dead-letters", *args], env={})
    return result.exit_code, result.stdout, result.stderr


def letters(data_dir: Path) -> tuple[int, int]:
    """A store with a set-aside event (letter 1) and a payload error (letter 2)."""
    now = [1_800_000_000.0]
    store = SqliteQueue(data_dir, clock=lambda: now[0])
    store.intake([Intake("01JEVENT", [orjson.dumps(EVENT)])])
    claim = store.claim(1, 60)
    now[0] += 1
    store.set_aside([claim.events[0].handle], [Reason("id shorter than min_id_length: user_id '42' has fewer "
                                                      "than 5 characters", 1, None)])
    now[0] += 1
    bad = encode(payload(7, timestamp="2024-01-01"))
    store.intake([Intake("01JTEST0000000000000000007", error="payload error: fields.time…", payload=bad)])
    first, second = (letter.id for letter in store.letters())
    store.close()
    return first, second


def test_list_shows_one_line_per_letter_and_a_count(tmp_path: Path) -> None:
    letters(tmp_path)
    code, out, err = run("list", "--data-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        "     1  2027-01-15T08:00:01Z  set_aside      01JEVENT                    id shorter than "
        "min_id_length: user_id '42' has fewer than 5 characters",
        "     2  2027-01-15T08:00:02Z  payload_error  01JTEST0000000000000000007  payload error: fields.time…"]
    assert err == f"2 dead letters in {tmp_path}\n"
    code, out, err = run("list", "--data-dir", str(tmp_path), "--kind", "payload_error")
    assert [line.split()[0] for line in out.splitlines()] == ["2"]
    assert err == f"2 dead letters in {tmp_path} (showing 1)\n"


def test_list_json_writes_records_that_send_can_read(tmp_path: Path) -> None:
    letters(tmp_path)
    code, out, _ = run("list", "--data-dir", str(tmp_path), "--json")
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 0 and is_dead_letter(first) and is_dead_letter(second)
    assert first["event"] == EVENT and first["event_id"] == "01JEVENT"
    assert first["dead_letter"] == {"id": 1, "kind": "set_aside", "attempts": 1,
                                    "at": "2027-01-15T08:00:01+00:00",
                                    "reason": "id shorter than min_id_length: user_id '42' has fewer "
                                              "than 5 characters"}
    assert second["payload"] == payload(7, timestamp="2024-01-01")


def test_show_prints_the_whole_letter(tmp_path: Path) -> None:
    _, second = letters(tmp_path)
    code, out, _ = run("show", str(second), "--data-dir", str(tmp_path))
    assert code == 0
    shown = json.loads(out)
    assert shown["dead_letter"]["kind"] == "payload_error"
    assert shown["payload"]["timestamp"] == "2024-01-01"
    code, _, err = run("show", "99", "--data-dir", str(tmp_path))
    assert (code, err) == (1, f"error: no dead letter 99 in {tmp_path}\n")


def test_a_folder_without_a_store_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("list", "--data-dir", str(tmp_path / "nothing"))
    assert code == 2
    assert err == f"error: no store in {tmp_path / 'nothing'} (transformer serve --data-dir creates one)\n"


def test_resend_requeues_events_as_they_are_and_transforms_payloads_again(tmp_path: Path) -> None:
    first, second = letters(tmp_path)
    code, _, err = run("resend", str(first), "--data-dir", str(tmp_path))
    assert code == 0
    assert err.startswith("requeued 1 dead letter (1 event): a transformer serve on")
    store = SqliteQueue(tmp_path)
    (row,) = store.pending()
    assert orjson.loads(row.event) == EVENT and [letter.id for letter in store.letters()] == [second]
    store.close()
    # the payload still fails with the mapping as it is: kept, with the reason
    code, _, err = run("resend", str(second), "--data-dir", str(tmp_path))
    assert code == 1
    assert "dead letter 2: still failing, kept: payload error: fields.time.filters[0]: seconds_to_ms" in err
    store = SqliteQueue(tmp_path)
    assert store.stats().letters == 1 and store.letters()[0].attempts == 1
    store.close()


def test_resend_drops_a_payload_the_mapping_now_skips(tmp_path: Path) -> None:
    first, second = letters(tmp_path)
    code, _, err = run("resend", str(second), "--data-dir", str(tmp_path), "--set", "events=sms/*")
    assert code == 0
    assert "dead letter 2: the mapping now skips it (not_selected); removed" in err
    store = SqliteQueue(tmp_path)
    assert [letter.id for letter in store.letters()] == [first] and store.stats().depth == 0
    store.close()


def test_resend_refuses_a_setting_only_the_running_server_reads(tmp_path: Path) -> None:
    letters(tmp_path)
    code, _, err = run("resend", "--all", "--data-dir", str(tmp_path), "--set", "min_id_length=1")
    assert (code, err) == (2, "error: min_id_length is read by `transformer serve` when it sends, not by "
                              "resend: restart serve with --set min_id_length=…, then resend (or resend "
                              "first: serve picks the letters up when it starts)\n")
    store = SqliteQueue(tmp_path)
    assert store.stats().letters == 2 and store.stats().depth == 0      # nothing was touched
    store.close()


def test_resend_says_mapping_settings_reach_payloads_only(tmp_path: Path) -> None:
    first, _ = letters(tmp_path)
    code, _, err = run("resend", str(first), "--data-dir", str(tmp_path), "--set", "account_id=1")
    assert code == 0
    assert err.splitlines()[-1] == "note: account_id applied to payloads only; 1 set-aside event went back unchanged"


def test_resend_takes_ids_or_all_and_reports_unknown_ids(tmp_path: Path) -> None:
    letters(tmp_path)
    code, _, err = run("resend", "1", "--all", "--data-dir", str(tmp_path))
    assert (code, err) == (2, "error: give dead-letter ids or --all, not both\n")
    code, _, err = run("resend", "7", "--data-dir", str(tmp_path))
    assert code == 1 and "dead letter 7: not found in" in err


def test_resend_without_ids_resends_every_letter(tmp_path: Path) -> None:
    letters(tmp_path)
    code, _, err = run("resend", "--data-dir", str(tmp_path), "--set", "events=email/*")
    assert code == 1     # the payload error still fails; the event is requeued
    assert err.startswith("requeued 1 dead letter (1 event)")
    assert "dead letter 2: still failing, kept" in err
    store = SqliteQueue(tmp_path)
    assert store.stats().depth == 1 and [letter.id for letter in store.letters()] == [2]
    store.close()


@pytest.mark.slow
def test_an_event_set_aside_by_the_server_reaches_amplitude_after_a_fix_and_resend(tmp_path: Path) -> None:
    short = payload(1)
    short["data"]["identifiers"]["id"] = "42"
    body = encode(short)
    with FakeAmplitude(api_key=KEY) as amplitude:
        with receiver(tmp_path / "var", amplitude.url, min_id_length=5) as (url, store):
            assert httpx.post(url + "/webhooks/customerio", content=body, headers=signed(body)).status_code == 200
            wait_for(lambda: store.stats().letters == 1, what="the set-aside")
        code, _, _ = run("resend", "--all", "--data-dir", str(tmp_path / "var"))
        assert code == 0
        with receiver(tmp_path / "var", amplitude.url) as (url, store):
            wait_for(lambda: "01JTEST0000000000000000001" in amplitude.ingested, what="the resent event")
            wait_for(lambda: store.stats().depth == 0 and store.stats().letters == 0, what="the drain")
    assert amplitude.ingested["01JTEST0000000000000000001"]["user_id"] == "42"
