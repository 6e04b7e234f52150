"""The command line: exit codes, standard output, standard error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from transformer.cli import app

from .conftest import MAPPING, ROOT, SAMPLES

runner = CliRunner()


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_validate_default_mapping_exits_0() -> None:
    code, _, err = run("validate", str(MAPPING))
    assert code == 0 and err.strip().endswith(": ok")


def test_validate_reports_every_problem_and_exits_1() -> None:
    bad = ROOT / "tests" / "spec_errors" / "filter_arguments.yaml"
    code, _, err = run("validate", str(bad), str(MAPPING))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"{bad}:6:20: fields.a.filters[0].truncate: ")
    assert f"{bad}: 6 problems" in lines
    assert lines[-1].endswith("amplitude.yaml: ok")
    assert "Traceback" not in err


def test_replay_prints_ndjson_and_a_summary() -> None:
    code, out, err = run("replay", str(SAMPLES / "sms_sent.json"), "--mapping", str(MAPPING),
                         "--set", "account_id=1", "--set", "workspace_id=56354")
    assert code == 0
    (line,) = out.splitlines()
    event = json.loads(line)
    assert event["groups"] == {"account_id": ["1"], "workspace": ["56354"]}
    assert err.strip() == "read 1 payload, wrote 1 event, skipped 0, 0 payload errors"


def test_replay_reports_payload_errors_goes_on_and_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    good = (SAMPLES / "sms_sent.json").read_text().replace("\n", "")
    source.write_text("\n".join([good, '{"object_type":"sms","metric":"sent","event_id":"E1",'
                                       '"timestamp":"yesterday","data":{"identifiers":{"id":"abcde"}}}',
                                 "not json", good]) + "\n")
    code, out, err = run("replay", str(source), "--mapping", str(MAPPING))
    assert code == 1
    assert len(out.splitlines()) == 2
    assert f"{source}:2 (E1): fields.time.filters[0]: seconds_to_ms expects a number of seconds, got " \
           'string "yesterday", at $.timestamp' in err
    assert f"{source}:3: invalid JSON" in err
    assert err.strip().splitlines()[-1] == "read 4 payloads, wrote 2 events, skipped 0, 2 payload errors"


def test_replay_include_skips_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    code, out, err = run("replay", str(SAMPLES / "events.ndjson"), "--include-skips", "--output", str(target),
                         "--set", "events=email/*,push/*")
    assert code == 0 and out == ""
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    skips = [line["skip"] for line in lines if "skip" in line]
    events = [line for line in lines if "skip" not in line]
    assert all(e["event_type"].startswith(("Email ", "Push ")) for e in events)
    assert {s["rule"] for s in skips} == {"not_selected", "no_identity"}
    assert all(s["id"] and s["reason"] for s in skips)
    summary = err.strip().splitlines()[-1]
    assert summary == (f"read 40 payloads, wrote {len(events)} events, skipped {len(skips)} "
                       f"(no_identity: 1, not_selected: {len(skips) - 1}), 0 payload errors")


def test_replay_reads_a_json_array_from_stdin() -> None:
    payloads = [json.loads((SAMPLES / n).read_text()) for n in ("sms_sent.json", "push_opened.json")]
    code, out, _ = run("replay", "-", input=json.dumps(payloads))
    assert code == 0
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["Sms Sent", "Push Opened"]


def test_replay_check_flags_schema_violations_by_json_path(tmp_path: Path) -> None:
    source = tmp_path / "odd.json"
    payload = json.loads((SAMPLES / "push_opened.json").read_text())
    payload["metric"] = "replied"
    source.write_text(json.dumps(payload))
    code, out, err = run("replay", str(source), "--check")
    assert code == 1 and out == ""
    assert ": input: does not match customerio-webhook.schema.json: " in err
    assert ", at $.metric" in err


def test_unknown_setting_is_a_usage_error() -> None:
    code, _, err = run("replay", str(SAMPLES / "sms_sent.json"), "--set", "acount_id=1")
    assert code == 2
    assert "error: unknown setting 'acount_id' (did you mean 'account_id'?)" in err


def test_missing_input_file_is_reported_without_traceback() -> None:
    code, _, err = run("replay", "no-such-file.ndjson")
    assert code == 1
    assert "error: cannot read no-such-file.ndjson: No such file or directory" in err
    assert "Traceback" not in err


def test_replay_check_flags_output_keys_the_output_schema_refuses(tmp_path: Path) -> None:
    spec = tmp_path / "colourful.yaml"
    spec.write_text(MAPPING.read_text().replace("../schemas/", f"{ROOT}/schemas/")
                    .replace("tests: amplitude.cases\n", "")
                    .replace("fields:\n  user_id:", "fields:\n  colour: {const: red}\n  user_id:"))
    code, out, err = run("replay", str(SAMPLES / "sms_sent.json"), "--mapping", str(spec), "--check")
    assert code == 1 and out == ""
    assert ": output: does not match amplitude-event.schema.json: key not allowed: colour, at $" in err


def test_replay_reads_settings_from_a_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("account_id: '9'\nevents: [push/*]\n")
    code, out, err = run("replay", str(SAMPLES / "events.ndjson"), "--settings", str(settings))
    assert code == 0 and "not_selected: " in err
    events = [json.loads(line) for line in out.splitlines()]
    assert events and all(e["event_type"].startswith("Push ") and e["groups"] == {"account_id": ["9"]}
                          for e in events)
