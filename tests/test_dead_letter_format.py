"""The one dead-letter record format (transformer.destinations.dead_letters): written by `send`,
read back by `send` (files earlier versions wrote included), and the same for letters `serve`
keeps in its store (`dead-letters list --json`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer.cli import app
from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.destinations.dead_letters import DeadLetter, DeadLetterKind, DeadLetterWriter, Holds
from transformer.server import SqliteQueue
from transformer.server.queue.base import Intake, Reason

from .conftest import MAPPING
from .test_server_harness import payload

KEY = "format-key-00042"

# Lines as earlier versions of `transformer send` wrote them (cc164be and before): an event set
# aside, an undelivered event with attempts and status, a payload error with the payload, and
# one with the text of a payload that could not be parsed.
EARLIER = [
    '{"dead_letter":{"reason":"id shorter than min_id_length: user_id \\"42\\" has fewer than 5 '
    'characters","kind":"set_aside","at":"2026-11-29T07:03:35+00:00"},"event_id":"01JOLD1",'
    '"event":{"user_id":"42","event_type":"Email Sent","insert_id":"01JOLD1","time":1700000001000}}',
    '{"dead_letter":{"reason":"deadline passed: not accepted within 600 s; last error: 503 Service '
    'Unavailable","kind":"undelivered","at":"2026-11-29T07:03:36+00:00","attempts":7,"status":503},'
    '"event_id":"01JOLD2","event":{"user_id":"user-00002","event_type":"Email Sent",'
    '"insert_id":"01JOLD2","time":1700000002000}}',
    '{"dead_letter":{"reason":"payload error: fields.time…","kind":"payload_error",'
    '"at":"2026-11-29T07:03:37+00:00"},"event_id":"01JTEST0000000000000000003","payload":' +
    json.dumps(payload(3)) + "}",
    '{"dead_letter":{"reason":"payload error: JSON nested deeper than 128 levels","kind":"payload_error",'
    '"at":"2026-11-29T07:03:38+00:00"},"event_id":null,"payload_text":' + json.dumps(json.dumps(payload(4))) + "}",
]


@pytest.fixture
def amplitude() -> Iterator[FakeAmplitude]:
    with FakeAmplitude(api_key=KEY) as server:
        yield server


def test_a_file_written_by_an_earlier_version_is_resent_by_send(amplitude: FakeAmplitude, tmp_path: Path) -> None:
    dead = tmp_path / "dead-letters.ndjson"
    dead.write_text("\n".join(EARLIER) + "\n")
    result = CliRunner().invoke(app, ["send", str(dead), "--mapping", str(MAPPING), "--set",
                                      f"endpoint={amplitude.url}", "--dead-letters", str(dead)],
                                env={"AMPLITUDE_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    assert "4 accepted" in result.stderr
    assert set(amplitude.ingested) == {"01JOLD1", "01JOLD2", "01JTEST0000000000000000003",
                                       "01JTEST0000000000000000004"}
    assert not dead.exists()


def test_earlier_records_are_read_with_every_field() -> None:
    letters = [DeadLetter.from_json(json.loads(line)) for line in EARLIER]
    assert [(x.kind, x.holds) for x in letters if x] == [
        ("set_aside", Holds.EVENT), ("undelivered", Holds.EVENT), ("payload_error", Holds.PAYLOAD),
        ("payload_error", Holds.PAYLOAD_TEXT)]
    second = letters[1]
    assert second is not None
    assert (second.event_id, second.attempts, second.status, second.id) == ("01JOLD2", 7, 503, None)
    assert second.at == 1_795_935_816.0        # 2026-11-29T07:03:36Z
    assert second.value["insert_id"] == "01JOLD2"


def test_what_the_writer_writes_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "dead.ndjson"
    with DeadLetterWriter(path) as writer:
        writer.write(reason="set aside: why", kind=DeadLetterKind.SET_ASIDE, event_id="e1", event={"a": 1},
                     attempts=2, status=400)
        writer.write(reason="payload error: x", kind="payload_error", event_id="p1", payload={"b": [1]})
        writer.write(reason="payload error: deep", kind="payload_error", event_id=None, payload_text="[[[")
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first) == ["dead_letter", "event_id", "event"]
    assert list(first["dead_letter"]) == ["reason", "kind", "at", "attempts", "status"]
    read = [DeadLetter.from_json(json.loads(line)) for line in lines]
    assert [(x.kind, x.reason, x.event_id, x.holds, x.value, x.attempts, x.status) for x in read if x] == [
        ("set_aside", "set aside: why", "e1", Holds.EVENT, {"a": 1}, 2, 400),
        ("payload_error", "payload error: x", "p1", Holds.PAYLOAD, {"b": [1]}, 0, None),
        ("payload_error", "payload error: deep", None, Holds.PAYLOAD_TEXT, "[[[", 0, None)]
    assert all(x is not None and json.dumps(x.to_json()) == json.dumps(json.loads(line))
               for x, line in zip(read, lines, strict=True))


def test_the_writer_refuses_a_kind_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="'lost'"):
        DeadLetterWriter("/nonexistent/never-written").write(reason="r", kind="lost", event_id=None)


@pytest.mark.parametrize("item", [
    {"event_type": "Email Sent"}, [1], "text", None, {"dead_letter": "x", "event": {}},
    {"dead_letter": {"reason": "r"}}])
def test_anything_else_is_not_a_dead_letter(item: object) -> None:
    assert DeadLetter.from_json(item) is None


def test_reading_is_lenient_with_what_resending_does_not_need() -> None:
    letter = DeadLetter.from_json({"dead_letter": {"kind": "someday", "at": "yesterday", "attempts": "2"},
                                   "event_id": 5, "event": {"a": 1}})
    assert letter is not None
    assert (letter.kind, letter.reason, letter.at, letter.attempts, letter.event_id) == ("someday", "", None, 0,
                                                                                        None)


def test_a_letter_kept_by_serve_is_shown_as_send_writes_it(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = SqliteQueue(tmp_path / "var", clock=lambda: now[0])
    store.intake([Intake("e1", [b'{"a":1}'])])
    store.set_aside([store.claim(1, 60).events[0].handle], [Reason("set aside: why", 2, 400)])
    (kept,) = store.letters()
    store.close()
    written = tmp_path / "dead.ndjson"
    with DeadLetterWriter(written) as writer:
        writer.write(reason="set aside: why", kind=DeadLetterKind.SET_ASIDE, event_id="e1", event={"a": 1},
                     attempts=2, status=400)
    from_file = json.loads(written.read_text())
    shown = DeadLetter.from_stored(kept).to_json()
    assert shown["dead_letter"].pop("id") == kept.id
    assert shown["dead_letter"].pop("at") == "2027-01-15T08:00:00+00:00"
    del from_file["dead_letter"]["at"]
    assert shown == from_file and list(shown["dead_letter"]) == list(from_file["dead_letter"])


def test_a_payload_too_deep_to_parse_is_shown_as_its_text_and_send_parses_it_again(
        amplitude: FakeAmplitude, tmp_path: Path) -> None:
    body = json.dumps(payload(9))[:-1] + ', "extra": ' + "[" * 200 + "]" * 200 + "}"
    store = SqliteQueue(tmp_path / "var")
    store.intake([Intake("01JTEST0000000000000000009", error="payload error: JSON nested deeper than 128 levels",
                         payload=body.encode())])
    store.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["dead-letters", "list", "--json", "--data-dir", str(tmp_path / "var")], env={})
    (record,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["payload_text"] == body and "payload" not in record
    letters = tmp_path / "letters.ndjson"
    letters.write_text(listed.stdout)
    result = runner.invoke(app, ["send", str(letters), "--mapping", str(MAPPING), "--max-depth", "300", "--set",
                                 f"endpoint={amplitude.url}", "--dead-letters", str(tmp_path / "dead.ndjson")],
                           env={"AMPLITUDE_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    assert set(amplitude.ingested) == {"01JTEST0000000000000000009"}
