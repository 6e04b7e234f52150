"""The package stays typed, lint-clean and layered (mypy --strict, ruff, import contracts), and
its registries in step."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
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


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "schemas").glob("*.json")))
def test_every_shipped_schema_is_valid_against_its_metaschema(name: str) -> None:
    # loading a mapping does not check schemas/mapping.schema.json (it ships with the package)
    schema = json.loads((ROOT / "schemas" / name).read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_ruff_is_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "transformer", "tests", "benchmarks"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_stages_import_only_from_the_layers_below_them() -> None:
    # the contracts are in pyproject.toml ([tool.importlinter]): cli → server | authoring →
    # destinations | sources → runtime → spec → expr → io; import-linter also refuses cycles
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def test_mypy_strict_is_clean() -> None:
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
