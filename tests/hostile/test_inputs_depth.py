"""One nesting limit (128 levels, `--max-depth N`) on every input path: an NDJSON line, an
array element, a `.json` document, standard input. A deeper payload is a payload error for that
payload, with its place, and the stream goes on; `send` keeps it as a dead letter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude
from transformer.server import SqliteQueue
from transformer.server.queue.base import Intake

from ..conftest import SAMPLES
from .cli_process import cli, cli_peak, run

GOOD = json.loads((SAMPLES / "email_sent.json").read_text())
DEEP_TEXT = '{"a":' * 200 + "1" + "}" * 200            # 200 levels: valid JSON, too deep
TOO_DEEP = "JSON nested deeper than 128 levels"


def good(n: int) -> dict[str, Any]:
    return {**GOOD, "event_id": f"01JGOOD{n:019d}"}


def deep(n: int) -> str:
    """A webhook that is fine but for one field nested 200 levels."""
    return json.dumps(good(n))[:-1] + ', "extra": ' + DEEP_TEXT + "}"


def ndjson() -> bytes:
    return "\n".join([json.dumps(good(1)), deep(2), json.dumps(good(3))]).encode() + b"\n"


def array(pretty: bool = False) -> bytes:
    sep = ",\n  " if pretty else ","
    return ("[" + sep.join([json.dumps(good(1), indent=2 if pretty else None), deep(2),
                            json.dumps(good(3), indent=2 if pretty else None)]) + "]").encode()


def documents() -> bytes:
    """Pretty-printed documents one after another, as `cat samples/*.json` gives."""
    return "\n".join([json.dumps(good(1), indent=2), deep(2), json.dumps(good(3), indent=2)]).encode()


CASES = {
    # name: (file name or "-", content, where the deep payload is reported)
    "ndjson line": ("in.ndjson", ndjson, "{dir}/in.ndjson:2"),
    "json array element": ("in.json", array, "{dir}/in.json[1]"),
    "pretty json array element": ("in.json", lambda: array(pretty=True), "{dir}/in.json[1]"),
    "json documents": ("in.json", documents, "{dir}/in.json:{line}"),
    "stdin ndjson": ("-", ndjson, "<stdin>:2"),
    "stdin array": ("-", array, "<stdin>[1]"),
    "stdin documents": ("-", documents, "<stdin>:{line}"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_deep_payload_is_an_error_for_it_alone_and_replay_goes_on(case: str, tmp_path: Path) -> None:
    name, content, where = CASES[case]
    data = content()
    line = data.decode()[:data.decode().index(deep(2))].count("\n") + 1   # where it starts
    if name == "-":
        done = run("replay", "-", stdin=data)
    else:
        (tmp_path / name).write_bytes(data)
        done = run("replay", str(tmp_path / name))
    place = where.format(dir=tmp_path, line=line)
    assert done.code == 1
    assert done.err == (f"{place}: {TOO_DEEP}\n"
                        "read 3 payloads, wrote 2 events, skipped 0, 1 payload error\n")
    assert [e["insert_id"] for e in done.events()] == ["01JGOOD0000000000000000001",
                                                        "01JGOOD0000000000000000003"]


def test_max_depth_sets_the_limit(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson())
    done = run("replay", str(source), "--max-depth", "300")
    assert done.code == 0 and len(done.events()) == 3
    done = run("replay", str(source), "--max-depth", "3")   # a webhook itself nests 4 levels
    assert done.code == 1
    assert done.err.splitlines()[0] == f"{source}:1: JSON nested deeper than 3 levels"
    assert done.err.splitlines()[-1] == "read 3 payloads, wrote 0 events, skipped 0, 3 payload errors"


def test_explain_and_diff_report_the_deep_payload_and_go_on(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_bytes(ndjson())
    done = run("explain", str(source), "--json")
    assert done.code == 1
    assert done.err == f"{source}:2: {TOO_DEEP}\n"
    assert [json.loads(line)["where"] for line in done.out.splitlines()] == [f"{source}:1", f"{source}:3"]
    done = run("diff", "mappings/amplitude.yaml", "mappings/amplitude.yaml", "--input", str(source))
    assert done.code == 0
    assert done.err == f"skipped {source}:2: {TOO_DEEP}\n"
    assert "\n2 payloads; outputs differ for 0\n" in done.out


def test_send_dead_letters_the_deep_payload_as_text_and_resends_it_after_a_fix(tmp_path: Path) -> None:
    source, letters = tmp_path / "in.ndjson", tmp_path / "dead.ndjson"
    source.write_bytes(ndjson())
    with FakeAmplitude(api_key="hostile-key-0001") as amplitude:
        options = ("--set", f"endpoint={amplitude.url}", "--dead-letters", str(letters))
        done = cli("send", str(source), *options, AMPLITUDE_API_KEY="hostile-key-0001")
        assert done.code == 1
        assert done.err.splitlines()[:2] == [f"{source}:2: {TOO_DEEP}",
                                             "read 3 payloads: 2 events, 0 skipped, 1 payload error"]
        assert set(amplitude.ingested) == {"01JGOOD0000000000000000001", "01JGOOD0000000000000000003"}
        (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
        assert letter["dead_letter"]["reason"] == f"payload error: {TOO_DEEP}"
        assert letter["dead_letter"]["kind"] == "payload_error"
        assert letter["payload_text"] == deep(2)                 # the text, as it came
        # after the fix (a higher limit), resending the dead-letter file delivers it
        done = cli("send", str(letters), *options, "--max-depth", "300",
                   AMPLITUDE_API_KEY="hostile-key-0001")
        assert done.code == 0, done.err
        assert "01JGOOD0000000000000000002" in amplitude.ingested
    assert not letters.exists() and not list(tmp_path.glob("dead.ndjson.resending-*"))


def test_dead_letters_resend_keeps_a_payload_deeper_than_the_limit(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path)
    store.intake([Intake("01JGOOD0000000000000000002", error="payload error: earlier",
                         payload=deep(2).encode())])
    store.close()
    done = run("dead-letters", "resend", "--all", "--data-dir", str(tmp_path))
    assert done.code == 1
    assert f"dead letter 1: still failing, kept: payload error: {TOO_DEEP}" in done.err
    done = run("dead-letters", "resend", "--all", "--data-dir", str(tmp_path), "--max-depth", "300")
    assert done.code == 0, done.err
    store = SqliteQueue(tmp_path)
    (row,) = store.pending()
    assert orjson.loads(row.event)["insert_id"] == "01JGOOD0000000000000000002"
    store.close()


# Memory: ijson's per-event prefixes made memory grow with the square of the depth (an 80 KB
# file nested 40,000 deep took 4 GB). A whole `transformer replay` process, imports included,
# peaks near 55 MB on this machine; the bound leaves room and is far below the old growth.
PEAK_BOUND = 150 * 1024 * 1024
NESTED_40K = b"[" * 40_000 + b"]" * 40_000


@pytest.mark.parametrize("shape", ["json array", "json document", "stdin array", "ndjson"])
def test_memory_stays_bounded_whatever_the_nesting(shape: str, tmp_path: Path) -> None:
    after = json.dumps(good(1)).encode()
    body = {"json array": b"[" + NESTED_40K + b"," + after + b"]",
            "json document": b'{"a":' + NESTED_40K + b"}\n" + after,
            "stdin array": b"[" + NESTED_40K + b"," + after + b"]",
            "ndjson": b'{"a":' + NESTED_40K + b"}\n" + after + b"\n"}[shape]
    source = tmp_path / ("in.ndjson" if shape == "ndjson" else "in.json")
    source.write_bytes(body)
    assert 80_000 <= len(body) <= 83_000
    if shape.startswith("stdin"):
        done, peak = cli_peak("replay", "-", stdin=source)
        place = "<stdin>[0]"
    else:
        done, peak = cli_peak("replay", str(source))
        place = f"{source}[0]" if shape == "json array" else f"{source}:1"
    assert done.code == 1
    assert done.err.splitlines()[0] == f"{place}: {TOO_DEEP}"
    assert done.err.splitlines()[-1] == "read 2 payloads, wrote 1 event, skipped 0, 1 payload error"
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.0f} MiB"


def test_memory_stays_flat_on_a_large_array_with_deep_elements(tmp_path: Path) -> None:
    source = tmp_path / "big.json"
    element = json.dumps({**good(0), "data": {**GOOD["data"], "content": "x" * 2000}}).encode()
    with source.open("wb") as out:
        out.write(b"[")
        for i in range(10_000):
            out.write((NESTED_40K if i % 1000 == 500 else element) + b",")
        out.write(element + b"]")
    assert source.stat().st_size > 20_000_000
    done, peak = cli_peak("replay", str(source))
    assert done.code == 1
    assert done.err.splitlines()[-1] == "read 10001 payloads, wrote 9991 events, skipped 0, 10 payload errors"
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.0f} MiB"
