"""Standard input takes what a user pipes in: one pretty-printed JSON document (the bundled
samples), several one after another, a JSON array, or NDJSON, told apart by their first line;
a UTF-8 byte order mark is accepted wherever input is read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from transformer.authoring.golden import load_cases

from ..conftest import ROOT, SAMPLES
from .cli_process import cli, run

BOM = b"\xef\xbb\xbf"
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.glob("*.json"))


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def event_types(out: str) -> list[str]:
    return [json.loads(line)["event_type"] for line in out.splitlines()]


def test_cat_one_pretty_printed_sample_into_replay() -> None:
    # the README's first try: 26 "invalid JSON" errors before, one event now
    done = cli("replay", "-", stdin=sample_bytes("email_sent.json"))
    assert (done.code, event_types(done.out)) == (0, ["Email Sent"])
    assert done.err == "read 1 payload, wrote 1 event, skipped 0, 0 payload errors\n"


def test_cat_every_sample_into_replay_gives_what_the_files_give() -> None:
    piped = run("replay", "-", stdin=b"".join(sample_bytes(n) for n in SAMPLE_NAMES))
    direct = run("replay", *(str(SAMPLES / n) for n in SAMPLE_NAMES))
    assert piped.code == direct.code == 0
    assert piped.out == direct.out and len(piped.out.splitlines()) == len(SAMPLE_NAMES)


@pytest.mark.parametrize("shape", ["ndjson", "array", "pretty array", "documents"])
def test_stdin_shapes_are_told_apart(shape: str) -> None:
    payloads = [json.loads(sample_bytes(n)) for n in ("sms_sent.json", "push_opened.json")]
    body = {"ndjson": "\n".join(json.dumps(p) for p in payloads) + "\n",
            "array": json.dumps(payloads),
            "pretty array": json.dumps(payloads, indent=2),
            "documents": "\n\n".join(json.dumps(p, indent=4) for p in payloads)}[shape]
    done = run("replay", "-", stdin=body.encode())
    assert (done.code, event_types(done.out)) == (0, ["Sms Sent", "Push Opened"])


def test_ndjson_on_stdin_still_reports_a_bad_line_and_goes_on() -> None:
    lines = [sample_bytes("sms_sent.json").replace(b"\n", b""), b'{"broken": ', sample_bytes("push_opened.json").replace(b"\n", b"")]
    done = run("replay", "-", stdin=b"\n".join(lines) + b"\n")
    assert done.code == 1 and event_types(done.out) == ["Sms Sent", "Push Opened"]
    assert done.err.splitlines()[0] == "<stdin>:2: invalid JSON: unexpected end of data (column 12)"


@pytest.mark.parametrize("where", ["stdin", "json file", "ndjson file", "array file"])
def test_a_byte_order_mark_is_accepted_on_payload_input(where: str, tmp_path: Path) -> None:
    sms = sample_bytes("sms_sent.json")
    flat = json.dumps(json.loads(sms)).encode()
    content = {"stdin": BOM + sms, "json file": BOM + sms, "ndjson file": BOM + flat + b"\n" + flat + b"\n",
               "array file": BOM + b"[" + flat + b"]"}[where]
    if where == "stdin":
        done = run("replay", "-", stdin=content)
    else:
        source = tmp_path / ("in.ndjson" if where == "ndjson file" else "in.json")
        source.write_bytes(content)
        done = run("replay", str(source))
    assert done.code == 0, done.err
    assert set(event_types(done.out)) == {"Sms Sent"}


def test_a_byte_order_mark_is_accepted_in_settings_mapping_schemas_and_cases(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    marked = [tmp_path / "mappings" / "amplitude.yaml", *(tmp_path / "schemas").glob("*.json"),
              *(tmp_path / "mappings" / "amplitude.cases").glob("*.yaml")]
    for path in marked:
        path.write_bytes(BOM + path.read_bytes())
    settings = tmp_path / "settings.yaml"
    settings.write_bytes(BOM + b'account_id: "7"\n')
    mapping = str(tmp_path / "mappings" / "amplitude.yaml")
    done = run("replay", str(SAMPLES / "sms_sent.json"), "--mapping", mapping, "--settings", str(settings),
               "--check")
    assert done.code == 0, done.err
    assert done.events()[0]["groups"] == {"account_id": ["7"]}
    done = run("test", mapping)
    assert done.code == 0, done.out + done.err
    count = len(load_cases(ROOT / "mappings" / "amplitude.cases"))
    assert done.err.splitlines()[-1].endswith(f"{count} cases, {count} passed, 0 failed")
