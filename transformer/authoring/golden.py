"""Golden cases: payload in, expected events (or skip rule, or error) out, as data files.

A mapping's cases live in the folder its `tests:` key names, as YAML files:

    cases:
      - name: sms_sent_seed_example
        description: The seed's SMS example.
        settings: {account_id: "1"}          # optional
        payload: {...}
        expect:
          events: [{...}]                    # or: skip: <rule id>
                                             # or: error: {rule: <rule path>, path: <JSON path>}
                                             # or: settings_error: [<message>, ...]
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from ..catalog import load_mapping
from ..errors import SettingsError, TransformerError
from ..runtime.mapping import CompiledMapping
from ..runtime.result import ResultKind
from .golden_update import update_expectations

__all__ = [
    "Case",
    "CaseFileError",
    "CaseResult",
    "Expect",
    "Loader",
    "load_cases",
    "outcome",
    "run_cases",
    "update_cases",
]


class Expect(StrEnum):
    """What a case's `expect:` may say (its one key): the events, the skip rule, the payload
    error (rule and JSON path), or the settings errors."""

    EVENTS = ResultKind.EVENTS.value
    SKIP = ResultKind.SKIP.value
    ERROR = ResultKind.ERROR.value
    SETTINGS_ERROR = "settings_error"


@dataclass(slots=True)
class Case:
    """One golden case, and the file it came from."""

    file: Path
    name: str
    description: str
    payload: Any
    expect: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CaseResult:
    """The outcome of one case: `diff` is empty when it passed."""

    case: Case
    actual: dict[str, Any]
    diff: str

    @property
    def passed(self) -> bool:
        return not self.diff


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: ten times faster on case files


class CaseFileError(TransformerError):
    """A golden-case file that is not in the expected shape."""


def load_cases(folder: Path) -> list[Case]:
    """Every case in every `*.yaml` file of a folder, in file and list order."""
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for file in sorted(folder.glob("*.yaml")):
        data = yaml.load(file.read_text(encoding="utf-8-sig"), Loader=_LOADER) or {}
        items = data.get("cases") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise CaseFileError(f"{file}: expected a top-level 'cases:' list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "payload" not in item or "name" not in item:
                raise CaseFileError(f"{file}: cases[{i}] needs at least name and payload")
            name = str(item["name"])
            if name in seen:
                raise CaseFileError(f"{file}: case name '{name}' is also used in {seen[name]}")
            seen[name] = file
            expect = item.get("expect") or {}
            if not isinstance(expect, dict):
                raise CaseFileError(f"{file}: case '{name}': expect must be a mapping")
            cases.append(Case(file, name, str(item.get("description", "")), item["payload"],
                              expect, dict(item.get("settings") or {})))
    return cases


def outcome(mapping: CompiledMapping, payload: Any) -> dict[str, Any]:
    """What a case's `expect` would say about this payload today."""
    result = mapping.result(payload)
    if result.error is not None:
        return {Expect.ERROR: {"rule": result.error.rule, "path": result.error.path}}
    if result.skip is not None:
        return {Expect.SKIP: result.skip.rule}
    return {Expect.EVENTS: result.events}


Loader = Callable[[Path, Mapping[str, Any]], CompiledMapping]


def _load(path: Path, settings: Mapping[str, Any]) -> CompiledMapping:
    return load_mapping(path, settings, environ={})


def run_cases(mapping_path: Path, cases: list[Case], *, load: Loader = _load) -> Iterator[CaseResult]:
    """Run each case against the mapping, loaded once per distinct set of settings (by `load`,
    default `load_mapping` ignoring the environment)."""
    loaded: dict[str, CompiledMapping] = {}
    for case in cases:
        key = json.dumps(case.settings, sort_keys=True)
        mapping = loaded.get(key)
        if mapping is None:
            try:
                mapping = loaded[key] = load(mapping_path, case.settings)
            except SettingsError as exc:
                actual: dict[str, Any] = {Expect.SETTINGS_ERROR: list(exc.messages)}
                yield CaseResult(case, actual, _diff(case.expect, actual))
                continue
        actual = outcome(mapping, case.payload)
        yield CaseResult(case, actual, _diff(case.expect, actual))


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    if _normal(expected) == _normal(actual):
        return ""
    want = _render(expected).splitlines(keepends=True)
    got = _render(actual).splitlines(keepends=True)
    return "".join(difflib.unified_diff(want, got, "expected", "actual"))


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def _render(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def update_cases(results: list[CaseResult]) -> list[Path]:
    """Rewrite the expected values that changed, in place (see `golden_update`); returns the
    files changed."""
    changed: dict[Path, dict[str, dict[str, Any]]] = {}
    for result in results:
        if not result.passed:
            changed.setdefault(result.case.file, {})[result.case.name] = result.actual
    for file, updates in changed.items():
        text = file.read_text(encoding="utf-8")
        file.write_text(update_expectations(text, updates), encoding="utf-8")
    return sorted(changed)
