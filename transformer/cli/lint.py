"""`transformer lint [FILES...]`: warnings that `validate` does not raise."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from ..authoring.lint import lint_mapping
from ..errors import SettingsError, SpecError
from ..spec.settings import parse_assignments
from .common import DEFAULT_MAPPING, MappingOpt, SetOpt, SettingsOpt, err, resolve_mapping_path


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
        counts = {"error": 0, "warning": 0}
        for problem in problems:
            if strict or (fail_on_unmapped and problem.message.endswith("[coverage]")):
                problem = replace(problem, severity="error")
            counts[problem.severity] += 1
            sys.stdout.write(problem.render(label=True) + "\n")
        errors += counts["error"]
        err(f"{path}: {counts['warning']} warning{'s' if counts['warning'] != 1 else ''}, "
            f"{counts['error']} error{'s' if counts['error'] != 1 else ''}")
    raise typer.Exit(1 if errors else 0)
