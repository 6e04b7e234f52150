"""`transformer test` (golden cases) and `transformer diff`, on crafted mappings."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from transformer.cli import app

from .conftest import MAPPING, SAMPLES

runner = CliRunner()

MINI = """version: 1
tests: cases
fields:
  name:
    from: kind
    filters: [title]
  size: "length(items)"
"""


def write_mapping(folder: Path, cases: list[dict[str, object]]) -> Path:
    (folder / "cases").mkdir()
    (folder / "cases" / "basic.yaml").write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    spec = folder / "mini.yaml"
    spec.write_text(MINI)
    return spec


def test_test_command_passes_fails_with_a_diff_and_updates(tmp_path: Path) -> None:
    spec = write_mapping(tmp_path, [
        {"name": "ok", "description": "kind is title-cased", "payload": {"kind": "email_sent", "items": [1]},
         "expect": {"events": [{"name": "Email Sent", "size": 1}]}},
        {"name": "stale", "description": "an expectation from before a change",
         "payload": {"kind": "push_opened", "items": [1, 2]},
         "expect": {"events": [{"name": "Push Opened", "size": 1}]}},
        {"name": "bad_items", "description": "items must be a list or string",
         "payload": {"kind": "x", "items": 5}, "expect": {"error": {"rule": "fields.size.from", "path": "`length(items)`"}}},
    ])
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 1
    err = result.stderr
    assert "FAIL basic.yaml::stale: an expectation from before a change" in err
    assert '    -      "size": 1\n    +      "size": 2' in err
    assert err.strip().splitlines()[-1] == f"{spec}: 3 cases, 2 passed, 1 failed"
    updated = runner.invoke(app, ["test", str(spec), "--update"])
    assert updated.exit_code == 0 and f"updated {tmp_path / 'cases' / 'basic.yaml'}" in updated.stderr
    cases = yaml.safe_load((tmp_path / "cases" / "basic.yaml").read_text())["cases"]
    assert cases[1]["expect"] == {"events": [{"name": "Push Opened", "size": 2}]}
    assert cases[1]["description"] == "an expectation from before a change"
    assert runner.invoke(app, ["test", str(spec)]).exit_code == 0


def test_test_command_runs_the_shipped_amplitude_cases() -> None:
    result = runner.invoke(app, ["test", str(MAPPING), "-k", "m6_"])
    assert result.exit_code == 0
    assert result.stderr.strip().endswith("11 cases, 11 passed, 0 failed")


def test_diff_counts_changes_per_field_and_skip_rule_with_examples(tmp_path: Path) -> None:
    edited = tmp_path / "amplitude.yaml"
    shutil.copytree(MAPPING.parent.parent / "schemas", tmp_path.parent / "schemas", dirs_exist_ok=True)
    text = MAPPING.read_text().replace("filters: [title]", "filters: [title, upper]")
    text = text.replace("tests: amplitude.cases\n", "")
    text = text.replace('default: ["*"]', 'default: ["email/*", "push/*", "sms/*"]')
    edited.write_text(text)
    result = runner.invoke(app, ["diff", str(edited), str(MAPPING), "--input", str(SAMPLES / "events.ndjson")])
    assert result.exit_code == 0
    out = result.stdout
    assert out.splitlines()[2] == "40 payloads; outputs differ for 39"
    assert "  event_type: changed in 23 events" in out
    assert "  skip: not_selected → events: 16" in out
    assert '"EMAIL SENT" → "Email Sent"' in out
    assert runner.invoke(app, ["diff", str(MAPPING), str(MAPPING), "--input", str(SAMPLES / "events.ndjson"),
                               "--exit-code"]).exit_code == 0
    assert runner.invoke(app, ["diff", str(edited), str(MAPPING), "--input", str(SAMPLES / "events.ndjson"),
                               "--exit-code"]).exit_code == 1
