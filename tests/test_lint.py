"""`lint`: crafted mappings beside the exact warnings they must draw (text, line, column)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer.authoring.lint import lint_mapping
from transformer.cli import app

HERE = Path(__file__).parent / "lint"
CASES = sorted(HERE.glob("*.yaml"))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_lint_warnings_name_file_line_column_and_rule(spec: Path) -> None:
    expected = spec.with_suffix(".expected").read_text().replace("{file}", str(spec))
    assert "".join(f"{p}\n" for p in lint_mapping(spec)) == expected


def test_cli_lint_exits_0_on_warnings_and_1_when_strict() -> None:
    runner = CliRunner()
    spec = str(HERE / "unused.yaml")
    result = runner.invoke(app, ["lint", spec])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{spec}:3:3: warning: settings.region:")
    assert result.stderr.strip() == f"{spec}: 1 warning, 0 errors"
    strict = runner.invoke(app, ["lint", spec, "--strict"])
    assert strict.exit_code == 1 and f"{spec}:3:3: error: settings.region:" in strict.stdout


def test_fail_on_unmapped_turns_only_coverage_gaps_into_errors() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["lint", str(HERE / "coverage.yaml"), "--fail-on-unmapped"])
    assert result.exit_code == 1
    assert result.stdout.count(": error: ") == 2
    assert runner.invoke(app, ["lint", str(HERE / "paths.yaml"), "--fail-on-unmapped"]).exit_code == 0


def test_an_invalid_mapping_is_reported_as_such() -> None:
    result = CliRunner().invoke(app, ["lint", str(Path(__file__).parent / "spec_errors" / "unknown_filter.yaml")])
    assert result.exit_code == 1 and "not valid; fix these first" in result.stderr


def test_the_shipped_mapping_lints_clean_with_full_coverage() -> None:
    from .conftest import MAPPING

    assert lint_mapping(MAPPING) == []
    data = MAPPING.read_text()
    assert "coverage: {over: [object_type, metric], names: event_type}" in data


def test_lint_walks_the_compiled_plan_not_the_file(tmp_path: Path) -> None:
    import pickle

    from transformer import load_mapping
    from transformer.authoring.lint import lint_compiled
    from transformer.authoring.lint_codes import LintCode

    spec = tmp_path / "paths.yaml"
    spec.write_text((HERE / "paths.yaml").read_text().replace("../../schemas/", f"{HERE.parent.parent}/schemas/"))
    mapping = load_mapping(spec, environ={})
    spec.unlink()
    expected = (HERE / "paths.expected").read_text().replace("{file}", str(spec))
    assert "".join(f"{p}\n" for p in lint_compiled(mapping)) == expected
    # the same from a copy made in another process's way: the plan carries the index
    problems = lint_compiled(pickle.loads(pickle.dumps(mapping)))
    assert "".join(f"{p}\n" for p in problems) == expected
    assert {p.code for p in problems} == {LintCode.UNKNOWN_PATH, LintCode.BARE_LITERAL}
    assert all(not p.message.endswith("]") for p in problems)  # the code is not in the message


def test_lint_sees_conditions_decided_at_load(tmp_path: Path) -> None:
    spec = tmp_path / "folded.yaml"
    spec.write_text(
        "version: 1\n"
        f"input: {{schema: {HERE.parent.parent}/schemas/customerio-webhook.schema.json}}\n"
        "settings:\n  strict: {type: boolean, default: false}\n  loose: {type: boolean, default: true}\n"
        "fields:\n  rest_of_data:\n    rest:\n      from: data\n"
        "      except: [{path: identifers, when: $strict || $loose}]\n")
    found = [f"{p.line}:{p.column}: {p.code}" for p in lint_mapping(spec)]
    assert found == ["10:23: unknown-path", "10:49: or-fallback"]
