"""`transformer test --update` changes only the expected values that changed."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from transformer.authoring.golden_update import update_expectations
from transformer.cli import app

BEFORE = """\
# A header comment that must stay.
cases:
  - name: first            # trailing comment
    description: One event.
    payload: {a: 1}
    expect:
      events:
        - user_id: "u-1"            # quoted on purpose
          event_type: Email Sent
          props: {keep: [1, 2], change: old}
          gone: 1
        # a comment between events

  - name: second
    payload: {a: 2}
    expect:
      skip: no_identity

  - name: third
    payload: {a: 3}
    expect: {error: {rule: fields.time, path: $.timestamp}}
"""


def test_only_changed_values_are_rewritten_and_comments_stay() -> None:
    after = update_expectations(BEFORE, {
        "first": {"events": [{"user_id": "u-1", "event_type": "Email Link Sent",
                              "props": {"keep": [1, 2], "change": "new: yes"}, "added": True}]},
        "third": {"error": {"rule": "let.object_type", "path": "$.object_type"}},
    })
    assert after == """\
# A header comment that must stay.
cases:
  - name: first            # trailing comment
    description: One event.
    payload: {a: 1}
    expect:
      events:
        - user_id: "u-1"            # quoted on purpose
          event_type: Email Link Sent
          props: {keep: [1, 2], change: "new: yes"}
          added: true
        # a comment between events

  - name: second
    payload: {a: 2}
    expect:
      skip: no_identity

  - name: third
    payload: {a: 3}
    expect: {error: {rule: let.object_type, path: $.object_type}}
"""


def test_a_change_of_outcome_rewrites_that_expectation_in_block_style() -> None:
    events = [{"user_id": "u-2", "time": 1000, "event_properties": {"a": [1, {"b": None}]}}]
    after = update_expectations(BEFORE, {"second": {"events": events}})
    assert "      skip: no_identity" not in after
    assert after.count("# a comment between events") == 1
    assert yaml.safe_load(after)["cases"][1]["expect"] == {"events": events}
    assert "      events:\n        - user_id: u-2\n          time: 1000\n" in after


def test_an_event_added_or_removed_rewrites_the_list_only() -> None:
    event = {"user_id": "u-1", "event_type": "Email Sent", "props": {"keep": [1, 2], "change": "old"},
             "gone": 1}
    after = update_expectations(BEFORE, {"first": {"events": [event, {"user_id": "u-3"}]}})
    assert yaml.safe_load(after)["cases"][0]["expect"] == {"events": [event, {"user_id": "u-3"}]}
    assert after.splitlines()[:6] == BEFORE.splitlines()[:6]
    assert after.split("  - name: second")[1] == BEFORE.split("  - name: second")[1]


def test_update_through_the_cli_leaves_passing_cases_and_comments_alone(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "m.yaml").write_text("version: 1\ntests: cases\nfields:\n  k: {from: kind, filters: [upper]}\n")
    case_file = tmp_path / "cases" / "c.yaml"
    case_file.write_text("# keep me\ncases:\n"
                         "  - name: ok   # fine\n    payload: {kind: a}\n    expect: {events: [{k: A}]}\n"
                         "  - name: stale\n    payload: {kind: b}\n    expect:\n      events:\n        - k: a  # was lower\n")
    result = CliRunner().invoke(app, ["test", str(tmp_path / "m.yaml"), "--update"])
    assert result.exit_code == 0, result.stderr
    assert case_file.read_text() == ("# keep me\ncases:\n"
                                     "  - name: ok   # fine\n    payload: {kind: a}\n    expect: {events: [{k: A}]}\n"
                                     "  - name: stale\n    payload: {kind: b}\n    expect:\n      events:\n        - k: B  # was lower\n")


def test_a_case_without_expect_gets_one() -> None:
    text = "cases:\n  - name: new\n    payload: {a: 1}\n"
    after = update_expectations(text, {"new": {"skip": "no_identity"}})
    assert after == "cases:\n  - name: new\n    payload: {a: 1}\n    expect:\n      skip: no_identity\n"
