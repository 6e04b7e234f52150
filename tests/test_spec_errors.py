"""Bad specs live beside the full text of the errors they must produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer import SpecError, load_mapping

HERE = Path(__file__).parent / "spec_errors"
CASES = sorted(HERE.glob("*.yaml"))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_bad_spec_reports_every_problem_with_its_location(spec: Path) -> None:
    expected = (spec.with_suffix(".expected").read_text(encoding="utf-8")
                .replace("{file}", str(spec)).replace("{dir}", str(spec.parent)))
    with pytest.raises(SpecError) as caught:
        load_mapping(spec, environ={})
    assert str(caught.value) + "\n" == expected


def test_every_bad_spec_has_its_expected_text() -> None:
    assert CASES, "no spec-error cases found"
    for spec in CASES:
        assert spec.with_suffix(".expected").exists(), spec


def test_problems_carry_line_column_and_rule() -> None:
    with pytest.raises(SpecError) as caught:
        load_mapping(HERE / "unknown_filter.yaml", environ={})
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.rule) == (5, 15, "fields.event_type.filters[0]")
