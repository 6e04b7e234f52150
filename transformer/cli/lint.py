"""`transformer lint [FILES...]`: warnings that `validate` does not raise."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from ..authoring.lint import lint_mapping
from ..authoring.lint_codes import LintCode
from ..errors import SettingsError, Severity, SpecError
from ..spec.settings import parse_assignments
from .basics import DEFAULT_MAPPING, err, resolve_mapping_path
from .common import MappingOpt, SetOpt, SettingsOpt

__all__ = ["lint"]


def lint(
    files: Annotated[list[str] | None, typer.Argument(
        metavar="[FILES]...", help="Mapping specs (default: the --mapping).")] = None,
    mapping: MappingOpt = DEFAULT_MAPPING,
    strict: Annotated[bool, typer.Option("--strict", help="Treat every warning as an error.")] = False,
    fail_on_unmapped: Annotated[bool, typer.Option(
        "--fail-on-unmapped", help="Treat coverage gaps (unmapped input combinations) as errors.")] = False,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Typos in payload paths, output keys the output schema refuses, `||` over false/0,
    coverage of every input combination, unused settings. Exit 1 on errors."""
    errors = 0
    for name in files or [mapping]:
        path = resolve_mapping_path(name)
        try:
            problems = lint_mapping(path, parse_assignments(assignments or []), settings_file=settings_file)
        except SpecError as exc:
            for problem in exc.problems:
                err(str(problem))
            err(f"{path}: not valid; fix these first (transformer validate)")
            errors += 1
            continue
        except SettingsError as exc:
            for message in exc.messages:
                err(f"error: {message}")
            raise typer.Exit(2) from None
        counts = dict.fromkeys(Severity, 0)
        for problem in problems:
            if strict or (fail_on_unmapped and problem.code == LintCode.COVERAGE):
                problem = replace(problem, severity=Severity.ERROR)
            counts[problem.severity] += 1
            sys.stdout.write(problem.render(label=True) + "\n")
        warnings, found = counts[Severity.WARNING], counts[Severity.ERROR]
        errors += found
        err(f"{path}: {warnings} warning{'s' if warnings != 1 else ''}, "
            f"{found} error{'s' if found != 1 else ''}")
    raise typer.Exit(1 if errors else 0)
