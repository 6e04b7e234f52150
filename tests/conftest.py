"""Shared paths and fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from transformer import CompiledMapping, load_mapping
from transformer.expr.budget import DEFAULT_OUTPUT_BUDGET

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "amplitude.yaml"
SAMPLES = ROOT / "samples"

_COMPILED: dict[str, CompiledMapping] = {}


def compiled_mapping(path: Path = MAPPING, settings: Mapping[str, Any] | None = None, *,
                     output_budget: int = DEFAULT_OUTPUT_BUDGET) -> CompiledMapping:
    """`load_mapping(path, settings, environ={})`, compiled once per test session for each
    (mapping, settings, output budget): tests share it, and none changes it."""
    key = json.dumps([str(path), dict(settings or {}), output_budget], sort_keys=True)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = load_mapping(path, settings, environ={}, output_budget=output_budget)
    return found


@pytest.fixture(scope="session")
def compiled() -> Callable[..., CompiledMapping]:
    """`compiled(path=MAPPING, settings=None, *, output_budget=…)`: see `compiled_mapping`."""
    return compiled_mapping


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's AMPLITUDE_API_KEY or TRANSFORMER_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_")):
            monkeypatch.delenv(name)
