"""A mapping names its destination and source; they declare their settings in code, resolved
with the mapping's own (same sources of values, one "did you mean" over all); expressions read
only the mapping's own; the environment is read only when the caller gives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer import SettingsError, SpecError, load_mapping
from transformer.runtime.mapping import load_mapping as load_without_components

from .conftest import MAPPING

SPEC = """\
version: 1
destination: {destination}
input: {{id: event_id}}
settings:
  region: {{type: string, default: eu}}
{extra}fields:
  where: $region
"""


def spec(tmp_path: Path, destination: str = "amplitude", extra: str = "", fields: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(destination=destination, extra=extra) + fields)
    return path


def test_the_destination_and_source_settings_are_resolved_with_the_mappings_own() -> None:
    mapping = load_mapping(MAPPING, {"api_key": "k-123", "eu_residency": "yes", "account_id": 7},
                           environ={"CIO_SIGNING_SECRET": "from-the-environment-1"})
    assert (mapping.plan.destination, mapping.plan.source) == ("amplitude", "customerio")
    settings = mapping.settings
    assert (settings["api_key"], settings["eu_residency"], settings["account_id"]) == ("k-123", True, "7")
    assert settings["min_id_length"] == 1 and settings.sources["min_id_length"] == "default"
    assert settings.sources["signing_secret"] == "environment variable CIO_SIGNING_SECRET"
    owners = {name: decl.owner for name, decl in settings.decls.items()}
    assert owners == {"events": None, "body_content": None, "account_id": None, "workspace_id": None,
                      "api_key": "destination amplitude", "eu_residency": "destination amplitude",
                      "api": "destination amplitude", "endpoint": "destination amplitude",
                      "min_id_length": "destination amplitude", "signing_secret": "source customerio"}
    assert "k-123" not in repr(mapping) and "from-the-environment-1" not in repr(mapping)


def test_the_environment_is_read_only_when_the_caller_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", "ambient-key-42")
    monkeypatch.setenv("TRANSFORMER_ACCOUNT_ID", "9")
    plain = load_mapping(MAPPING)
    assert plain.settings["api_key"] is None and plain.settings["account_id"] is None
    import os

    given = load_mapping(MAPPING, environ=os.environ)
    assert (given.settings["api_key"], given.settings["account_id"]) == ("ambient-key-42", "9")


def test_an_unknown_name_gets_did_you_mean_over_every_declared_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_mapping(spec(tmp_path), {"min_id_lenght": 3, "regoin": "us"})
    assert caught.value.messages == (
        "unknown setting 'min_id_lenght' (did you mean 'min_id_length'?) (known: api, api_key, endpoint, "
        "eu_residency, min_id_length, region)",
        "unknown setting 'regoin' (did you mean 'region'?) (known: api, api_key, endpoint, eu_residency, "
        "min_id_length, region)")


def test_another_destination_declares_other_settings(tmp_path: Path) -> None:
    mapping = load_mapping(spec(tmp_path, "http"), {"url": "http://127.0.0.1:9/in", "batch_size": "10"})
    assert (mapping.settings["url"], mapping.settings["batch_size"], mapping.settings["body_format"]) == (
        "http://127.0.0.1:9/in", 10, "json")
    with pytest.raises(SettingsError, match="unknown setting 'api_key'"):
        load_mapping(spec(tmp_path, "http"), {"api_key": "k"})
    switched = load_mapping(MAPPING, {"url": "http://127.0.0.1:9/in"}, destination="http")
    assert switched.plan.destination == "http" and "api_key" not in switched.settings.decls
    with pytest.raises(ValueError, match="unknown destination 'htp'"):
        load_mapping(MAPPING, destination="htp")


def test_an_unknown_destination_is_a_located_spec_error(tmp_path: Path) -> None:
    path = spec(tmp_path, "amplitud")
    with pytest.raises(SpecError) as caught:
        load_mapping(path)
    assert str(caught.value) == (f"{path}:2:14: destination: unknown destination 'amplitud' (did you mean "
                                 "'amplitude'?) (known: amplitude, http)")


def test_a_mapping_that_declares_a_destination_setting_is_told_to_remove_it(tmp_path: Path) -> None:
    path = spec(tmp_path, extra="  api_key: {type: string, secret: true, used_by: sender}\n")
    with pytest.raises(SpecError) as caught:
        load_mapping(path)
    assert str(caught.value) == (
        f"{path}:6:3: settings.api_key: setting 'api_key' is declared by destination amplitude, not by the "
        "mapping: remove it here (give its value as before, with --set, a settings file or the environment)")


def test_expressions_read_only_the_mappings_own_settings(tmp_path: Path) -> None:
    path = spec(tmp_path, fields="  url: $endpoint\n")
    with pytest.raises(SpecError) as caught:
        load_mapping(path)
    assert "unknown variable '$endpoint' (setting 'endpoint' is declared by destination amplitude: " \
           "expressions read only the mapping's own settings)" in str(caught.value)


def test_without_components_the_names_are_taken_as_they_are(tmp_path: Path) -> None:
    mapping = load_without_components(spec(tmp_path, "anything"))
    assert mapping.plan.destination == "anything" and list(mapping.settings) == ["region"]
    assert mapping.apply({"event_id": "1"}).events == [{"where": "eu"}]
