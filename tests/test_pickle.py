"""A compiled mapping pickles as its recipe (YAML text, file name, the files it names, non-secret
settings, output budget) and applies identically once unpickled: in this process, and in a child
process started with `spawn` where the mapping's files are gone."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from transformer import CompiledMapping, PayloadError, ResultKind, SettingsError, SpecError, load_mapping
from transformer.authoring.golden import load_cases, outcome

from .conftest import MAPPING, ROOT, SAMPLES

CASES = [c for c in load_cases(ROOT / "mappings" / "amplitude.cases") if "settings_error" not in c.expect]
SETTINGS = sorted({json.dumps(c.settings, sort_keys=True) for c in CASES})


def _round_trip(mapping: CompiledMapping) -> CompiledMapping:
    copy = pickle.loads(pickle.dumps(mapping))
    assert isinstance(copy, CompiledMapping) and copy is not mapping
    return copy


def test_every_golden_case_applies_identically_after_a_round_trip(
        compiled: Callable[..., CompiledMapping]) -> None:
    for key in SETTINGS:
        mapping = compiled(MAPPING, json.loads(key))
        copy = _round_trip(mapping)
        assert copy.settings.resolved == mapping.settings.resolved
        for case in (c for c in CASES if json.dumps(c.settings, sort_keys=True) == key):
            assert outcome(copy, case.payload) == outcome(mapping, case.payload) == case.expect, case.name
            assert copy.result(case.payload) == mapping.result(case.payload)
    assert len(SETTINGS) > 10


def test_a_recipe_is_compiled_once_per_process(compiled: Callable[..., CompiledMapping]) -> None:
    data = pickle.dumps(compiled(MAPPING, {"account_id": "7"}))
    assert pickle.loads(data) is pickle.loads(data)


def test_secrets_stay_behind_and_the_environment_is_not_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = load_mapping(MAPPING, {"api_key": "key-that-must-not-travel", "account_id": "1"},
                           environ={})
    data = pickle.dumps(mapping)
    assert b"key-that-must-not-travel" not in data
    monkeypatch.setenv("AMPLITUDE_API_KEY", "from-the-environment")
    monkeypatch.setenv("TRANSFORMER_ACCOUNT_ID", "99")
    copy = pickle.loads(data)
    assert copy.settings["api_key"] is None
    assert copy.settings["account_id"] == "1"


def _apply_all(mapping: CompiledMapping, payloads: list[Any]) -> list[Any]:
    """Runs in the child: the mapping arrives pickled."""
    return [mapping.result(p) for p in payloads]


def test_a_spawned_process_applies_identically_without_the_mapping_files(tmp_path: Path) -> None:
    # a copy of the mapping and the schemas it names, deleted before the child unpickles it
    copy_root = tmp_path / "copy"
    shutil.copytree(ROOT / "mappings", copy_root / "mappings")
    shutil.copytree(ROOT / "schemas", copy_root / "schemas")
    mapping = load_mapping(copy_root / "mappings" / "amplitude.yaml", {"account_id": "1"}, environ={})
    payloads: list[Any] = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))]
    payloads += [c.payload for c in CASES]
    payloads.append(payloads[0] | {"timestamp": "soon"})  # a payload error
    shutil.rmtree(copy_root)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        in_child = pool.apply(_apply_all, (mapping, payloads))
    here = [mapping.result(p) for p in payloads]
    assert in_child == here
    assert {r.kind for r in here} == {ResultKind.EVENTS, ResultKind.SKIP, ResultKind.ERROR}
    assert in_child[-1].error == PayloadError("fields.time.filters[0]", "$.timestamp",
                                              'seconds_to_ms expects a number of seconds, got string "soon"')


def test_errors_pickle_with_their_parts() -> None:
    with pytest.raises(SpecError) as caught:
        load_mapping(ROOT / "tests" / "spec_errors" / "unknown_filter.yaml", environ={})
    spec_error = pickle.loads(pickle.dumps(caught.value))
    assert spec_error.problems == caught.value.problems and str(spec_error) == str(caught.value)
    payload_error = pickle.loads(pickle.dumps(PayloadError("fields.time", "$.timestamp", "bad")))
    assert (payload_error.rule, payload_error.path, str(payload_error)) == \
        ("fields.time", "$.timestamp", "fields.time: bad (at $.timestamp)")
    settings_error = pickle.loads(pickle.dumps(SettingsError(["a", "b"])))
    assert settings_error.messages == ("a", "b")
