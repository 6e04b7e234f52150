"""`transformer validate [FILES...]`: check mapping specs, report every problem."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..catalog import load_mapping
from ..errors import SettingsError, SpecError
from ..spec.settings import parse_assignments
from .basics import DEFAULT_MAPPING, err, resolve_mapping_path
from .common import MappingOpt, SetOpt, SettingsOpt

__all__ = ["validate"]


def validate(
    files: Annotated[list[str] | None, typer.Argument(
        metavar="[FILES]...", help="Mapping specs to check (default: the --mapping).")] = None,
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Check mapping specs: schema, expressions, filters, settings. Exit 0 when all are valid,
    1 when a spec has problems, 2 when a setting given is unknown or wrong."""
    paths = files or [mapping]
    failed = 0
    usage = False
    for name in paths:
        path = resolve_mapping_path(name)
        try:
            given = parse_assignments(assignments or [])
            load_mapping(path, given, settings_file=settings_file, environ=os.environ)
        except SpecError as exc:
            failed += 1
            for problem in exc.problems:
                err(str(problem))
            count = len(exc.problems)
            err(f"{path}: {count} problem{'s' if count != 1 else ''}")
            continue
        except SettingsError as exc:
            usage = True
            for message in exc.messages:
                err(f"{path}: error: {message}")
            continue
        err(f"{path}: ok")
    raise typer.Exit(2 if usage else 1 if failed else 0)
