"""`transformer test [MAPPINGS...]`: run the golden cases that live beside each mapping."""

from __future__ import annotations

from typing import Annotated

import typer

from ..authoring.golden import CaseResult, load_cases, run_cases, update_cases
from ..errors import TransformerError
from .basics import DEFAULT_MAPPING, err, load_from_options, resolve_mapping_path
from .common import MappingOpt

__all__ = ["test"]


def test(
    mappings: Annotated[list[str] | None, typer.Argument(
        metavar="[MAPPINGS]...", help="Mapping specs whose cases to run (default: the --mapping).")] = None,
    mapping: MappingOpt = DEFAULT_MAPPING,
    update: Annotated[bool, typer.Option(
        "--update",
        help="Rewrite, in place, the expected values of failing cases that changed (review the diff).")
    ] = False,
    keyword: Annotated[str | None, typer.Option(
        "-k", metavar="TEXT", help="Only cases whose name or file name contains this text.")] = None,
) -> None:
    """Run golden cases: payload in, expected events / skip / error out. Exit 1 on any failure."""
    failed = 0
    for name in mappings or [mapping]:
        compiled = load_from_options(name, [], None)
        path = resolve_mapping_path(name)
        folder = compiled.plan.cases
        if folder is None:
            err(f"{path}: no golden cases (add `tests: <folder>` to the mapping)")
            failed += 1
            continue
        try:
            cases = [c for c in load_cases(folder)
                     if keyword is None or keyword in c.name or keyword in c.file.name]
            results = list(run_cases(path, cases))
        except TransformerError as exc:
            err(f"error: {exc}")
            failed += 1
            continue
        failures = [r for r in results if not r.passed]
        for result in failures:
            _show_failure(result)
        if update and failures:
            for file in update_cases(failures):
                err(f"updated {file}")
        passed = len(results) - len(failures)
        err(f"{path}: {len(results)} case{'s' if len(results) != 1 else ''}, {passed} passed, "
            f"{len(failures)} failed{' (expectations updated)' if update and failures else ''}")
        if not update:
            failed += len(failures)
    raise typer.Exit(1 if failed else 0)


def _show_failure(result: CaseResult) -> None:
    case = result.case
    err(f"FAIL {case.file.name}::{case.name}: {case.description}")
    for line in result.diff.splitlines():
        err(f"    {line}")
