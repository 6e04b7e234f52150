"""The library API: load_mapping, apply, apply_many, Result, Skip, PayloadError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from transformer import PayloadError, Result, SettingsError, Skip, load_mapping
from transformer.authoring import explain

from .conftest import MAPPING, SAMPLES


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())  # type: ignore[no-any-return]


def test_seed_sms_example_becomes_the_documented_amplitude_event() -> None:
    mapping = load_mapping(MAPPING, settings={"account_id": "1", "workspace_id": "56354"}, environ={})
    result = mapping.apply(sample("sms_sent.json"))
    assert result.skip is None and result.error is None
    assert result.id == "01GJBCEYDJMH4VCDKXC98JNQ2D"
    assert result.events == [{
        "user_id": "313803",
        "event_type": "Sms Sent",
        "insert_id": "01GJBCEYDJMH4VCDKXC98JNQ2D",
        "time": 1669045350000,
        "groups": {"account_id": ["1"], "workspace": ["56354"]},
        "event_properties": {
            "trigger_id": 1, "customer_id": "313803",
            "delivery_id": "dgSiuAMBAMeAFMWAFAGEmtrrwMzFAHs6nMGmSG4=", "action_id": 1001266,
            "campaign_id": 1000223, "journey_id": "01GJDDNSY0X731SPYZEBKRNZZ1",
            "identifiers": {"email": "cool.person@example.com", "cio_id": "d9c106000001"},
            "recipient": "+15558675309",
        },
    }]


def test_output_keys_follow_the_spec_order() -> None:
    mapping = load_mapping(MAPPING, environ={})
    (event,) = mapping.apply(sample("push_opened.json")).events
    assert list(event) == ["user_id", "device_id", "platform", "event_type", "insert_id", "time",
                           "event_properties"]


def test_skip_is_a_result_with_rule_and_reason() -> None:
    mapping = load_mapping(MAPPING, settings={"events": ["push/*"]}, environ={})
    result = mapping.apply(sample("sms_sent.json"))
    assert result.events == []
    assert result.skip == Skip("not_selected", "the events setting does not select this object_type/metric")


def test_payload_error_names_rule_and_json_path() -> None:
    mapping = load_mapping(MAPPING, environ={})
    payload = sample("sms_sent.json") | {"timestamp": "2022-11-21T15:42:30Z"}
    with pytest.raises(PayloadError) as caught:
        mapping.apply(payload)
    assert caught.value.rule == "fields.time.filters[0]"
    assert caught.value.path == "$.timestamp"
    assert str(caught.value) == ("fields.time.filters[0]: seconds_to_ms expects a number of seconds, "
                                 "got string \"2022-11-21T15:42:30Z\" (at $.timestamp)")


def test_apply_many_is_lazy_and_keeps_going_after_an_error() -> None:
    mapping = load_mapping(MAPPING, environ={})
    seen: list[int] = []

    def payloads() -> Any:
        broken = {"timestamp": "x", "object_type": "sms", "metric": "sent",
                  "data": {"identifiers": {"id": "abcde"}}}
        for i, p in enumerate([sample("sms_sent.json"), broken, sample("email_sent.json")]):
            seen.append(i)
            yield p

    results = mapping.apply_many(payloads())
    first = next(results)
    assert seen == [0] and first.events
    rest = list(results)
    assert isinstance(rest[0], Result) and rest[0].error is not None and rest[0].events == []
    assert rest[0].error.rule == "fields.time.filters[0]"
    assert rest[1].events[0]["event_type"] == "Email Sent"


def test_events_do_not_share_objects_with_the_payload() -> None:
    mapping = load_mapping(MAPPING, environ={})
    payload = sample("push_opened.json")
    (event,) = mapping.apply(payload).events
    event["event_properties"]["recipients"][0]["device_id"] = "changed"
    assert payload["data"]["recipients"][0]["device_id"] != "changed"


def test_settings_are_typed_and_unknown_names_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        load_mapping(MAPPING, settings={"acount_id": "1", "body_content": "maybe"}, environ={})
    assert caught.value.messages == (
        "unknown setting 'acount_id' (did you mean 'account_id'?) (known: account_id, api, api_key, "
        "body_content, endpoint, eu_residency, events, min_id_length, signing_secret, workspace_id)",
        "setting 'body_content' (given): expected true or false, got \"maybe\"",
    )


def test_unknown_name_in_a_settings_file_reads_as_an_unknown_setting(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("acount_id: '1'\n")
    with pytest.raises(SettingsError) as caught:
        load_mapping(MAPPING, settings_file=settings_file, environ={})
    assert caught.value.messages[0].startswith(
        "settings file: unknown setting 'acount_id' (did you mean 'account_id'?) (known: ")


def test_a_string_setting_takes_an_integer_as_its_decimal_text(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("account_id: 1\nworkspace_id: 0056354\nmin_id_length: 3\n")
    from_file = load_mapping(MAPPING, settings_file=settings_file, environ={})
    assert (from_file.settings["account_id"], from_file.settings["workspace_id"]) == ("1", "0056354")
    assert from_file.settings["min_id_length"] == 3
    from_library = load_mapping(MAPPING, settings={"account_id": 1, "workspace_id": 56354}, environ={})
    (event,) = from_library.apply(sample("sms_sent.json")).events
    assert event["groups"] == {"account_id": ["1"], "workspace": ["56354"]}
    with pytest.raises(SettingsError, match="expected a string, got boolean true"):
        load_mapping(MAPPING, settings={"account_id": True}, environ={})


def test_settings_come_from_file_then_environment_then_default(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("account_id: '7'\nbody_content: true\n")
    mapping = load_mapping(MAPPING, settings={"account_id": "9"}, settings_file=settings_file,
                           environ={"TRANSFORMER_WORKSPACE_ID": "42", "TRANSFORMER_ACCOUNT_ID": "5",
                                    "AMPLITUDE_API_KEY": "secret-key-123"})
    assert mapping.settings["account_id"] == "9"
    assert mapping.settings["body_content"] is True
    assert mapping.settings["workspace_id"] == "42"
    assert mapping.settings["api_key"] == "secret-key-123"
    assert mapping.settings.sources["api_key"] == "environment variable AMPLITUDE_API_KEY"
    assert "secret-key-123" not in repr(mapping) and "secret-key-123" not in str(mapping.settings)


def test_every_sample_transforms_without_error() -> None:
    mapping = load_mapping(MAPPING, environ={})
    for path in sorted(SAMPLES.glob("*.json")):
        result = mapping.apply(json.loads(path.read_text()))
        assert result.events or result.skip, path
    lines = (SAMPLES / "events.ndjson").read_text().splitlines()
    results = list(mapping.apply_many(json.loads(line) for line in lines))
    assert len(results) == 40 and not [r for r in results if r.error]


def test_a_body_without_object_type_names_the_missing_field() -> None:
    mapping = load_mapping(MAPPING, environ={})
    payload = sample("email_sent.json")
    del payload["object_type"]
    with pytest.raises(PayloadError) as caught:
        mapping.apply(payload)
    assert str(caught.value) == "let.object_type: $.object_type is missing (at $.object_type)"
    assert explain(mapping, payload).error == PayloadError("let.object_type", "$.object_type",
                                                           "$.object_type is missing")


def test_a_body_without_timestamp_is_a_payload_error_not_an_untimed_event() -> None:
    mapping = load_mapping(MAPPING, environ={})
    payload = sample("email_sent.json")
    del payload["timestamp"]
    with pytest.raises(PayloadError) as caught:
        mapping.apply(payload)
    assert str(caught.value) == "fields.time: $.timestamp is missing (at $.timestamp)"


def test_min_id_length_defaults_to_1_so_short_customer_io_ids_are_sent() -> None:
    mapping = load_mapping(MAPPING, environ={})
    assert mapping.settings["min_id_length"] == 1
    assert mapping.settings.sources["min_id_length"] == "default"


def test_result_never_raises_and_carries_the_payload_error() -> None:
    mapping = load_mapping(MAPPING, environ={})
    bad = {"event_id": "01J0000000000000000000000A", "object_type": "email", "metric": "sent",
           "timestamp": "noon", "data": {"customer_id": "42"}}
    result = mapping.result(bad)
    assert result.events == [] and result.skip is None
    assert result.error is not None and result.error.path == "$.timestamp"
    assert result.id == "01J0000000000000000000000A"
    assert [r.error is None for r in mapping.apply_many([bad, bad | {"timestamp": 1}])] == [False, True]
