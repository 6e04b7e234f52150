"""The package stays typed and lint-clean (mypy --strict, ruff), and its registries in step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from transformer.filters import FILTERS

from .conftest import ROOT


def test_every_registered_filter_is_in_the_spec_schema_and_back() -> None:
    schema = json.loads((ROOT / "schemas" / "mapping.schema.json").read_text())
    in_schema = set(schema["$defs"]["filter"]["properties"])
    assert in_schema == set(FILTERS)
    assert set(schema["$defs"]["filter"]["then"]["enum"]) == set(FILTERS)
    for name, fdef in FILTERS.items():
        takes = schema["$defs"]["filter"]["properties"][name].get("type") != "null"
        assert takes == fdef.takes_args, name


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean() -> None:
    run = subprocess.run(["ruff", "check", "transformer", "tests", "benchmarks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_is_clean() -> None:
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
