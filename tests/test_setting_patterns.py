"""`patterns:` settings: globs over combinations the input schema allows, in any spelling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer import SettingsError, SpecError, load_mapping
from transformer.cli import app
from transformer.io.schema_check import read_schema_file
from transformer.spec.patterns import PatternSpec, allowed_value_combinations, resolve_patterns

from .conftest import MAPPING, SAMPLES

SPEC = PatternSpec(("object_type", "metric"), "/", ("_", " "))
PAIRS = [("email", "sent"), ("email", "clicked"), ("in_app", "clicked"),
         ("email", "cio_subscription_preferences_changed")]


@pytest.mark.parametrize(("given", "resolved"), [
    (["email/*", "*/clicked", "*"], ["email/*", "*/clicked", "*"]),
    (["email_sent"], ["email/sent"]),
    (["Email Sent", "In App Clicked"], ["email/sent", "in_app/clicked"]),
    (["in_app_clicked", "EMAIL_SENT"], ["in_app/clicked", "email/sent"]),
    (["email_*"], ["email/sent", "email/clicked", "email/cio_subscription_preferences_changed"]),
    (["* Clicked", "*_changed"], ["email/clicked", "in_app/clicked",
                                  "email/cio_subscription_preferences_changed"]),
])
def test_every_spelling_resolves_to_the_canonical_one(given: list[str], resolved: list[str]) -> None:
    assert resolve_patterns(given, SPEC, PAIRS) == resolved


@pytest.mark.parametrize(("given", "message"), [
    (["email_snt"], "\"email_snt\" matches no object_type/metric pair the input schema allows "
                    "(did you mean 'email_sent'?)"),
    (["Email Snt"], "\"Email Snt\" matches no object_type/metric pair the input schema allows "
                    "(did you mean 'Email Sent'?)"),
    (["Email/Sent"], "\"Email/Sent\" matches no object_type/metric pair the input schema allows "
                     "(did you mean 'email/sent'?)"),
    (["emial/*"], "\"emial/*\" matches no object_type/metric pair the input schema allows "
                  "(did you mean 'email/*'?)"),
    (["sms/*"], "\"sms/*\" matches no object_type/metric pair the input schema allows"),
])
def test_a_pattern_matching_nothing_is_refused_with_a_suggestion(given: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        resolve_patterns(given, SPEC, PAIRS)
    assert str(caught.value) == message


def test_the_customer_io_schema_allows_the_89_pairs() -> None:
    schema = read_schema_file(MAPPING.parent.parent / "schemas" / "customerio-webhook.schema.json")
    pairs = allowed_value_combinations(schema, ["object_type", "metric"])
    assert len(pairs) == 89 and ("email", "sent") in pairs and ("customer", "sent") not in pairs


@pytest.mark.parametrize("spelling", ["email/sent", "email_sent", "Email Sent"])
def test_the_amplitude_mapping_selects_email_sent_in_each_spelling(spelling: str) -> None:
    mapping = load_mapping(MAPPING, {"events": spelling}, environ={})
    assert mapping.settings["events"] == ["email/sent"]
    sent = json.loads((SAMPLES / "email_sent.json").read_text())
    assert mapping.apply(sent).events[0]["event_type"] == "Email Sent"
    assert mapping.apply(sent | {"metric": "delivered"}).skip is not None


def test_an_events_setting_matching_nothing_is_a_settings_error_exit_2() -> None:
    with pytest.raises(SettingsError) as caught:
        load_mapping(MAPPING, {"events": "email/snet"}, environ={})
    assert caught.value.messages == (
        "setting 'events' (given): \"email/snet\" matches no object_type/metric pair the input "
        "schema allows (did you mean 'email/sent'?)",)
    for command in (["validate"], ["replay", str(SAMPLES / "email_sent.json")]):
        result = CliRunner().invoke(app, [*command, "--set", "events=email/snet"])
        assert result.exit_code == 2, result.stderr
        assert "did you mean 'email/sent'?" in result.stderr


def test_patterns_need_a_list_setting_and_an_input_schema(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text("version: 1\nsettings:\n  pick:\n    type: string\n"
                    "    patterns: {over: [kind]}\nfields:\n  k: kind\n")
    with pytest.raises(SpecError) as caught:
        load_mapping(spec, environ={})
    assert [p.message for p in caught.value.problems] == ["patterns are for list settings"]
    spec.write_text("version: 1\nsettings:\n  pick:\n    type: list\n"
                    "    patterns: {over: [kind]}\nfields:\n  k: kind\n")
    with pytest.raises(SpecError) as caught:
        load_mapping(spec, environ={})
    assert [p.message for p in caught.value.problems] == [
        "patterns are checked against the input schema: give input.schema"]
